"""Alert rules as YAML, read with the flows' size- and depth-limited loader.

```yaml
alert_rules:
  - name: Exceptions up
    severity: warning
    source: {flow: retail-orders, kpi: exceptions}
    analyzer: {type: static, condition: above, threshold: 10}
    samples: {violating: 3, of: 5, dealerting: 5}
    interval_seconds: 60
    enabled: true
```

Import matches rules by name: a rule whose name exists replaces that rule's definition, any
other is created. All or nothing: one invalid rule (its problem names `alert_rules[i].field`)
imports none.
"""

from __future__ import annotations

from collections.abc import Sequence

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from flowscope.alerts import service
from flowscope.alerts.models import AlertRule
from flowscope.alerts.schemas import RuleIn
from flowscope.alerts.service import InvalidRule
from flowscope.flows.definitions.yaml_io import load_yaml

MAX_RULES = 5_000


def export_rules(rows: Sequence[AlertRule]) -> str:
    rules = [RuleIn.model_validate(r.spec).model_dump(mode="json") for r in rows]
    return yaml.safe_dump(
        {"alert_rules": rules}, sort_keys=False, allow_unicode=True, default_flow_style=False
    )


def parse_rules(text: str | bytes) -> list[RuleIn]:
    data = load_yaml(text)
    if not isinstance(data, dict) or not isinstance(data.get("alert_rules"), list):
        raise InvalidRule("alert_rules", "the YAML must be a mapping with a list alert_rules")
    items = data["alert_rules"]
    if len(items) > MAX_RULES:
        raise InvalidRule("alert_rules", f"at most {MAX_RULES} rules per import")
    rules = []
    for n, item in enumerate(items):
        try:
            rules.append(service.parse_rule(item))
        except InvalidRule as exc:
            problems = exc.details or []
            prefixed = [
                {"field": f"alert_rules[{n}].{p['field']}", "message": p["message"]}
                for p in problems
            ]
            raise InvalidRule(prefixed[0]["field"], prefixed[0]["message"], prefixed[1:]) from None
    return rules


def import_rules(
    session: Session, text: str | bytes, by: str, min_interval_s: int
) -> tuple[int, int]:
    """(created, updated)."""
    rules = parse_rules(text)
    names = [r.name for r in rules]
    existing = {
        r.name: r.id for r in session.scalars(select(AlertRule).where(AlertRule.name.in_(names)))
    }
    created = updated = 0
    for n, rule in enumerate(rules):
        try:
            if rule.name in existing:
                service.update_rule(session, existing[rule.name], rule, by, min_interval_s)
                updated += 1
            else:
                existing[rule.name] = service.create_rule(session, rule, by, min_interval_s).id
                created += 1
        except InvalidRule as exc:
            problems = exc.details or []
            raise InvalidRule(
                f"alert_rules[{n}].{problems[0]['field']}", problems[0]["message"]
            ) from None
    return created, updated
