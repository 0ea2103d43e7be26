"""Published DQL queries about business events, each with the page it was taken from.

Field names and event types are adapted to the demo shop's events (`tests/query/data.py`):
`amount`/`price` → `revenue`, EasyTrade's `com.easytrade.*` types → the shop's order types,
`accountId`/`userId` → `orderId`. Everything else (commands, functions, parameters, spelling
of operators) is as published. `test_dql_corpus.py` runs every query on the demo data.
"""

from __future__ import annotations

BA_EXAMPLES = (
    "https://www.dynatrace.com/support/help/platform-modules/business-analytics/ba-examples"
)
BA_ANALYSIS = "https://docs.dynatrace.com/docs/platform-modules/business-analytics/ba-analysis"
SEMANTIC = "https://docs.dynatrace.com/docs/platform/semantic-dictionary/model/business-analytics"
SYSTEM_EVENTS = (
    "https://docs.dynatrace.com/docs/discover-dynatrace/references/semantic-dictionary/model/"
    "dt-system-events"
)
AGGREGATIONS = (
    "https://docs.dynatrace.com/docs/platform/grail/dynatrace-query-language/functions/"
    "aggregation-functions"
)
MATCHER = (
    "https://docs.dynatrace.com/docs/platform-modules/business-analytics/ba-events-processing/"
    "ba-events-processing-matcher"
)
TIME_FUNCTIONS = (
    "https://docs.dynatrace.com/docs/platform/grail/dynatrace-query-language/functions/"
    "time-functions"
)
DATA_TYPES = (
    "https://docs.dynatrace.com/docs/discover-dynatrace/references/dynatrace-query-language/"
    "data-types"
)
OPERATORS = (
    "https://docs.dynatrace.com/docs/discover-dynatrace/references/dynatrace-query-language/"
    "operators"
)
JOIN_COMMANDS = (
    "https://docs.dynatrace.com/docs/platform/grail/dynatrace-query-language/commands/"
    "correlation-and-join-commands"
)
PARSING = (
    "https://docs.dynatrace.com/docs/platform/grail/dynatrace-query-language/commands/"
    "extraction-and-parsing-commands"
)
STRING_FUNCTIONS = (
    "https://docs.dynatrace.com/docs/platform/grail/dynatrace-query-language/functions/"
    "string-functions"
)
STRUCTURING = (
    "https://docs.dynatrace.com/docs/platform/grail/dynatrace-query-language/commands/"
    "structuring-commands"
)
DQL_SKILL = "https://tessl.io/registry/skills/github/Dynatrace/dynatrace-for-ai/dt-dql-essentials"

CORPUS: list[tuple[str, str]] = [
    # --- Business Analytics examples (EasyTrade), types adapted ---------------------------
    (
        BA_EXAMPLES,
        'fetch bizevents, from:now()-24h, to:now() | filter event.type == "order.placed"'
        " | summarize dollar_volume = sum(toDouble(revenue)*toDouble(quantity))",
    ),
    (
        BA_EXAMPLES,
        'fetch bizevents, from:now()-24h, to:now() | filter event.type == "order.placed"'
        " | makeTimeseries dollar_volume = sum(toDouble(revenue)), interval:5m",
    ),
    (
        BA_EXAMPLES,
        'fetch bizevents | filter event.type == "order.placed"'
        " | summarize avg_price = avg(toDouble(revenue))",
    ),
    (
        BA_EXAMPLES,
        "fetch bizevents, from:now()-30d"
        ' | filter event.type == "payment.succeeded"'
        " | summarize deposits = sum(toDouble(revenue)), by:{bin(timestamp, 1d)}",
    ),
    (
        BA_EXAMPLES,
        'fetch bizevents | filter in(event.type, {"order.placed", "payment.succeeded"})'
        " | summarize trades = count(), by:{day = bin(timestamp, 1d)}",
    ),
    (
        BA_EXAMPLES,
        'fetch bizevents | filter event.type == "order.placed"'
        " | summarize trades = count(), by:{orderId} | sort trades desc | limit 10",
    ),
    (
        BA_ANALYSIS,
        "fetch bizevents, from:now()-24h, to:now()\n"
        '| filter event.type == "order.placed" or event.type == "order.shipped"\n'
        "| summarize dollar_volume = avg(revenue*quantity)",
    ),
    (
        BA_ANALYSIS,
        "fetch bizevents, from:now()-24h, to:now()\n"
        '| filter event.type == "order.placed"\n'
        "| makeTimeseries dollar_volume = sum(revenue), interval: 5m",
    ),
    (
        BA_ANALYSIS,
        "fetch bizevents, from:now()-24h\n"
        '| filter event.type == "order.placed"\n'
        "| summarize count(), by:{loyalty.tier}",
    ),
    (
        BA_ANALYSIS,
        "fetch bizevents\n"
        '| filter event.provider == "shop.checkout.v001"\n'
        "| summarize total = sum(revenue), orders = countDistinct(orderId), by:{event.type}\n"
        "| sort total desc",
    ),
    # --- semantic dictionary: the standard fields ---------------------------------------
    (SEMANTIC, "fetch bizevents"),
    (SEMANTIC, 'fetch bizevents | filter event.kind == "BIZ_EVENT" | limit 100'),
    (
        SEMANTIC,
        "fetch bizevents | fields timestamp, event.id, event.kind, event.provider, event.type",
    ),
    (
        SEMANTIC,
        "fetch bizevents | summarize count(), by:{event.provider, event.type}"
        " | sort `count()` desc",
    ),
    (SEMANTIC, 'fetch bizevents | filter event.category == "checkout" | summarize count()'),
    (
        SEMANTIC,
        'fetch bizevents | filter isNotNull(event.id) and event.kind == "BIZ_EVENT"'
        " | dedup event.id | summarize unique = count()",
    ),
    # --- system-events page: commands shapes ---------------------------------------------
    (
        SYSTEM_EVENTS,
        'fetch bizevents | filter event.kind == "BIZ_EVENT"'
        " | fieldsRename order = orderId"
        " | makeTimeseries revenue = sum(revenue), by:{order, event.type}",
    ),
    (
        SYSTEM_EVENTS,
        'fetch bizevents, from:now()-24h | filter event.kind == "BIZ_EVENT"'
        ' | filter event.type == "payment.failed"',
    ),
    (
        SYSTEM_EVENTS,
        'fetch bizevents | filter event.kind == "BIZ_EVENT" and event.type == "order.placed"',
    ),
    # --- aggregation functions ----------------------------------------------------------
    (
        AGGREGATIONS,
        "fetch bizevents | summarize n = count(), placed = countIf(event.type == "
        '"order.placed"), by:{loyalty.tier}',
    ),
    (AGGREGATIONS, "fetch bizevents | summarize total = sum(revenue), average = avg(revenue)"),
    (AGGREGATIONS, "fetch bizevents | summarize min(revenue), max(revenue), median(revenue)"),
    (AGGREGATIONS, "fetch bizevents | summarize p90 = percentile(revenue, 90), by:{event.type}"),
    (AGGREGATIONS, "fetch bizevents | summarize types = collectDistinct(event.type)"),
    (
        AGGREGATIONS,
        "fetch bizevents | summarize orders = collectDistinct(orderId), by:{loyalty.tier}",
    ),
    (AGGREGATIONS, "fetch bizevents | summarize ids = collectArray(orderId)"),
    (AGGREGATIONS, "fetch bizevents | summarize first = takeFirst(event.type), by:{orderId}"),
    (AGGREGATIONS, "fetch bizevents | summarize last = takeLast(revenue), by:{orderId}"),
    (AGGREGATIONS, "fetch bizevents | summarize tier = takeAny(loyalty.tier), by:{orderId}"),
    (AGGREGATIONS, "fetch bizevents | summarize top = takeMax(revenue), low = takeMin(revenue)"),
    (AGGREGATIONS, "fetch bizevents | summarize sd = stddev(revenue), v = variance(revenue)"),
    (AGGREGATIONS, "fetch bizevents | summarize countDistinctExact(orderId)"),
    (AGGREGATIONS, "fetch bizevents | summarize countDistinctApprox(orderId)"),
    (
        AGGREGATIONS,
        "fetch bizevents | summarize {orders = countDistinct(orderId), revenue = sum(revenue)},"
        " by:{event.type}",
    ),
    (
        AGGREGATIONS,
        "fetch bizevents | summarize percentiles(revenue, 50, 90, 99)",
    ),
    # --- the DQL matcher functions ------------------------------------------------------
    (MATCHER, 'fetch bizevents | filter matchesPhrase(event.type, "placed")'),
    (MATCHER, 'fetch bizevents | filter matchesValue(event.type, "order.placed")'),
    (MATCHER, 'fetch bizevents | filter matchesValue(loyalty.tier, "GOLD")'),
    (MATCHER, 'fetch bizevents | filter matchesValue(event.type, "order.*")'),
    (MATCHER, "fetch bizevents | filter isNotNull(`orderId`)"),
    (MATCHER, "fetch bizevents | filter isNull(`coupon`)"),
    (
        MATCHER,
        'fetch bizevents | filter matchesPhrase(event.type, "shipped") or '
        'matchesValue(event.type, "payment.failed")',
    ),
    (
        MATCHER,
        'fetch bizevents | filter not matchesValue(event.provider, "crm.sync") | summarize count()',
    ),
    # --- time functions -----------------------------------------------------------------
    (
        TIME_FUNCTIONS,
        "fetch bizevents | fieldsAdd hour = getHour(timestamp)"
        " | summarize orders = count(), by:{hour} | sort hour",
    ),
    (
        TIME_FUNCTIONS,
        "fetch bizevents | fieldsAdd weekday = getDayOfWeek(timestamp)"
        " | summarize count(), by:{weekday}",
    ),
    (
        TIME_FUNCTIONS,
        "fetch bizevents | fields year = getYear(timestamp), month = getMonth(timestamp),"
        " day = getDayOfMonth(timestamp), minute = getMinute(timestamp),"
        " second = getSecond(timestamp)",
    ),
    (
        TIME_FUNCTIONS,
        "fetch bizevents | fields getDayOfYear(timestamp), getWeekOfYear(timestamp)",
    ),
    (
        TIME_FUNCTIONS,
        'fetch bizevents | fieldsAdd day = formatTimestamp(timestamp, format: "yyyy-MM-dd")'
        " | summarize count(), by:{day}",
    ),
    (TIME_FUNCTIONS, 'fetch bizevents | fieldsAdd waited = duration(revenue, unit: "s")'),
    (TIME_FUNCTIONS, "fetch bizevents | filter timestamp > now() - 1h"),
    (TIME_FUNCTIONS, "fetch bizevents | filter timestamp >= now()@d"),
    (TIME_FUNCTIONS, "fetch bizevents, from: now()@d | summarize today = count()"),
    (TIME_FUNCTIONS, "fetch bizevents, from: now()-1d@d, to: now()@d | summarize count()"),
    (TIME_FUNCTIONS, "fetch bizevents, from: -1M | summarize count()"),
    (TIME_FUNCTIONS, "fetch bizevents, from: -1y | summarize count()"),
    (
        TIME_FUNCTIONS,
        "fetch bizevents | fieldsAdd ms = unixMillisFromTimestamp(timestamp) | limit 5",
    ),
    (TIME_FUNCTIONS, "fetch bizevents | fieldsAdd tf = timeframe(from: now()-1h, to: now())"),
    # --- data types and operators -------------------------------------------------------
    (DATA_TYPES, "fetch bizevents | fields toDouble(revenue), toLong(revenue), toString(revenue)"),
    (DATA_TYPES, 'fetch bizevents | fieldsAdd t = toTimestamp("2022-08-01T12:00:00+01:00")'),
    (DATA_TYPES, "fetch bizevents, from:-2h, to:-20m | limit 1"),
    (DATA_TYPES, "fetch bizevents, from:-2h, to:-20m | summarize count()"),
    (DATA_TYPES, 'fetch bizevents | fieldsAdd b = toBoolean("true")'),
    (DATA_TYPES, "fetch bizevents | filter revenue > 100 AND NOT isNull(orderId)"),
    (OPERATORS, 'fetch bizevents | filter revenue > 100 OR loyalty.tier == "gold"'),
    (OPERATORS, "fetch bizevents | fieldsAdd half = revenue / 2, twice = revenue * 2"),
    (OPERATORS, "fetch bizevents | fieldsAdd rest = toLong(revenue) % 10"),
    (OPERATORS, 'fetch bizevents | filter event.type ~ "placed"'),
    (
        OPERATORS,
        "fetch bizevents | filter orderId in [fetch bizevents"
        ' | filter event.type == "payment.failed" | fields orderId]',
    ),
    # --- DQL essentials (Dynatrace's published skill for writing DQL) -------------------
    (DQL_SKILL, "fetch bizevents | sort timestamp desc | limit 20"),
    (DQL_SKILL, 'fetch bizevents | sort timestamp, direction: "descending" | limit 20'),
    (
        DQL_SKILL,
        "fetch bizevents | summarize count(), by:{event.type}"
        ' | sort `count()`, direction: "descending"',
    ),
    (
        DQL_SKILL,
        'fetch bizevents | fieldsAdd band = if(revenue > 300, "high", else: if(revenue > 100,'
        ' "mid", else: "low")) | summarize count(), by:{band}',
    ),
    (
        DQL_SKILL,
        'fetch bizevents | fieldsAdd tier = coalesce(loyalty.tier, "none")'
        " | summarize count(), by:{tier}",
    ),
    (DQL_SKILL, 'fetch bizevents | filter contains(event.type, "ORDER", caseSensitive: false)'),
    (DQL_SKILL, 'fetch bizevents | filter startsWith(event.type, "order.")'),
    (DQL_SKILL, 'fetch bizevents | filter endsWith(event.type, ".failed")'),
    (DQL_SKILL, "fetch bizevents | fieldsAdd prefix = substring(orderId, from: 0, to: 2)"),
    (DQL_SKILL, 'fetch bizevents | fieldsAdd at = indexOf(event.type, ".")'),
    (DQL_SKILL, 'fetch bizevents | filter like(orderId, "O-00%")'),
    (DQL_SKILL, "fetch bizevents | fieldsAdd n = stringLength(orderId)"),
    (DQL_SKILL, 'fetch bizevents | fieldsAdd parts = splitString(event.type, ".")'),
    (DQL_SKILL, "fetch bizevents | filter isTrueOrNull(revenue > 10)"),
    (DQL_SKILL, 'fetch bizevents | filter in(loyalty.tier, {"gold", "silver"})'),
    (DQL_SKILL, 'fetch bizevents | filter in(loyalty.tier, "gold", "silver")'),
    (
        DQL_SKILL,
        'fetch bizevents | fieldsAdd note = """order "placed" in the shop"""'
        " | fields note | limit 1",
    ),
    (DQL_SKILL, "fetch bizevents | fieldsAdd r = round(revenue, decimals: 1)"),
    (DQL_SKILL, "fetch bizevents | fieldsAdd r = round(revenue, decimals: 1) | fieldsRemove r"),
    (DQL_SKILL, "fetch bizevents | fields type = event.type, orderId | dedup orderId"),
    (
        DQL_SKILL,
        "fetch bizevents | makeTimeseries {orders = count(), revenue = sum(revenue)},"
        " by:{event.type}, interval: 1h",
    ),
    (DQL_SKILL, "fetch bizevents | makeTimeseries count(), bins: 24"),
    (
        DQL_SKILL,
        "fetch bizevents | makeTimeseries c = count(), interval: 1h"
        " | fieldsAdd total = arraySum(c)",
    ),
    (
        DQL_SKILL,
        'fetch bizevents | summarize placed = takeFirst(if(event.type == "order.placed",'
        ' timestamp)), paid = takeFirst(if(event.type == "payment.succeeded", timestamp)),'
        " by:{orderId} | fieldsAdd wait = paid - placed"
        " | summarize p50 = percentile(wait, 50), p95 = percentile(wait, 95)",
    ),
    (
        DQL_SKILL,
        "fetch bizevents | lookup [fetch bizevents"
        ' | filter event.type == "payment.succeeded" | fields orderId, paidAt = timestamp],'
        ' sourceField: orderId, lookupField: orderId, prefix: "pay."',
    ),
    (DQL_SKILL, "fetch bizevents | fieldsKeep timestamp, event.type, orderId"),
    (DQL_SKILL, 'fetch bizevents | filterOut event.type == "payment.failed"'),
    (DQL_SKILL, 'fetch bizevents | fieldsAdd tier = toString(loyalty.tier) | filter tier != ""'),
    (DQL_SKILL, 'fetch bizevents | fieldsAdd c = concat(orderId, "/", event.type)'),
    (DQL_SKILL, "fetch bizevents | fieldsAdd l = lower(event.type), u = upper(event.type)"),
    (DQL_SKILL, "fetch bizevents, scanLimitGBytes: 100 | summarize count()"),
    (DQL_SKILL, "fetch bizevents, samplingRatio: 10 | summarize count()"),
    (DQL_SKILL, 'fetch bizevents, bucket: {"default_bizevents"} | summarize count()'),
    (
        DQL_SKILL,
        "fetch bizevents | summarize count(), by:{event.type}"
        ' | append [fetch bizevents | summarize count() | fieldsAdd event.type = "all"]',
    ),
    (DQL_SKILL, "fetch bizevents | summarize types = collectDistinct(event.type) | expand types"),
    (DQL_SKILL, 'data record(a = 1, b = "x"), record(a = 2, b = "y")'),
    (
        DQL_SKILL,
        "fetch bizevents | join [fetch bizevents | fields orderId, t = event.type],"
        " on: {orderId}, fields: {t}",
    ),
    (DQL_SKILL, "fetch bizevents | parse content, \"LD 'order ' INT:id\""),
    (DQL_SKILL, "fetch bizevents | fieldsSummary event.type"),
    (DQL_SKILL, "fetch bizevents | fieldsAdd a = array(1, 2, 3) | fields a | limit 1"),
    # --- join, append, parse, arrays (DQL command and function reference pages) ---------
    (
        JOIN_COMMANDS,
        'fetch bizevents | filter event.type == "order.placed"'
        ' | join [fetch bizevents | filter event.type == "payment.succeeded"],'
        " on: {left[orderId] == right[orderId]}, fields: {timestamp}"
        " | fieldsAdd wait = right.timestamp - timestamp"
        " | summarize avg(wait)",
    ),
    (
        JOIN_COMMANDS,
        'fetch bizevents | filter event.type == "order.placed"'
        " | join [fetch bizevents | summarize events = count(), by: {orderId}],"
        ' kind: leftOuter, on: {orderId}, prefix: "all."',
    ),
    (
        JOIN_COMMANDS,
        'fetch bizevents | filter event.type == "order.placed" | summarize placed = count()'
        ' | append [fetch bizevents | filter event.type == "order.shipped"'
        " | summarize shipped = count()]",
    ),
    (
        JOIN_COMMANDS,
        "fetch bizevents | filter orderId in [fetch bizevents"
        ' | filter event.type == "order.shipped.error" | fields orderId]'
        " | summarize count(), by: {event.type}",
    ),
    (PARSING, "fetch bizevents | parse event.id, \"'O-' INT:order '-' LD:step\""),
    (
        PARSING,
        "fetch bizevents | parse event.type, \"WORD:domain '.' LD:action\""
        " | summarize count(), by: {domain, action}",
    ),
    (
        STRING_FUNCTIONS,
        'fetch bizevents | fieldsAdd parts = splitString(event.type, ".")'
        " | fieldsAdd domain = parts[0]",
    ),
    (
        STRING_FUNCTIONS,
        'fetch bizevents | filter in("failed", splitString(event.type, "."))',
    ),
    (STRUCTURING, "fetch bizevents | fieldsSummary event.type, loyalty.tier, topValues: 5"),
    (
        STRUCTURING,
        "fetch bizevents | fieldsAdd r = record(type = event.type, id = orderId)"
        " | fields r | limit 5",
    ),
    (
        DQL_SKILL,
        "fetch bizevents | makeTimeseries {failed = countIf(event.type =="
        ' "payment.failed"), total = count()}, interval: 1h'
        " | fieldsAdd rate = failed[] / total[] * 100",
    ),
]
