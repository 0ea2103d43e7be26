// The query notebook: CodeMirror editor with FQL highlighting, Ctrl+Enter runs, the error
// marked in the text, and the result's chart (ECharts, loaded on demand).
(function () {
  "use strict";
  // where the vendored editor and chart libraries are (a page script, not inline: see the CSP)
  var base = document.querySelector("script[data-fql-vendor]").dataset.fqlVendor;
  function load(src) {
    return new Promise(function (resolve, reject) {
      var found = document.querySelector('script[data-src="' + src + '"]');
      if (found && found.dataset.ready) { resolve(); return; }
      var s = document.createElement("script");
      s.src = base + src; s.dataset.src = src;
      s.onload = function () { s.dataset.ready = "1"; resolve(); };
      s.onerror = reject;
      document.head.appendChild(s);
    });
  }
  var form = document.getElementById("query-form");
  var area = document.getElementById("query-text");
  var editor = null;
  function run() { if (editor) editor.save(); form.requestSubmit(); }

  area.addEventListener("keydown", function (e) {
    if ((e.ctrlKey || e.metaKey) && e.key === "Enter") { e.preventDefault(); run(); }
  });

  function defineMode() {
    var words = function (list) { return new RegExp("(?:" + list.split(" ").join("|") + ")\\b"); };
    CodeMirror.defineSimpleMode("fql", {
      start: [
        {regex: /\/\/.*/, token: "comment"},
        {regex: /"(?:[^\\"]|\\.)*"?/, token: "string"},
        {regex: /`[^`]*`?/, token: "variable-2"},
        {regex: /\d+(?:\.\d+)?(?:ns|us|ms|s|m|h|d|w)\b/, token: "number"},
        {regex: /\d+(?:\.\d+)?(?:[eE][-+]?\d+)?/, token: "number"},
        {regex: words(area.dataset.commands), token: "keyword"},
        {regex: /(?:and|or|not|asc|desc|true|false|null)\b/, token: "atom"},
        {regex: words(area.dataset.functions), token: "builtin"},
        {regex: /[A-Za-z_][\w.]*(?=\s*:)/, token: "attribute"},
        {regex: /[A-Za-z_][\w.]*/, token: "variable"},
        {regex: /[-+*\/=<>!|]+/, token: "operator"}
      ],
      meta: {lineComment: "//"}
    });
  }

  load("codemirror/codemirror.js").then(function () { return load("codemirror/simple.js"); }).then(function () {
    if (!document.body.contains(area)) return;
    defineMode();
    editor = CodeMirror.fromTextArea(area, {
      mode: "fql", lineNumbers: true, viewportMargin: Infinity, indentUnit: 2,
      extraKeys: {"Ctrl-Enter": run, "Cmd-Enter": run}
    });
    window.fqlEditor = editor;
    if (window.fqlComplete && area.dataset.completions) window.fqlComplete(editor, area.dataset.completions);
    // the textarea always holds the editor's text: Run, Save and plain form posts read it
    editor.on("change", function () { editor.save(); });
    markError();
  });

  var marked = null;
  function markError() {
    var box = document.getElementById("query-error");
    if (marked) { marked.clear(); marked = null; }
    if (!editor || !box || !box.dataset.line) return;
    var line = parseInt(box.dataset.line, 10) - 1, ch = Math.max(0, parseInt(box.dataset.column, 10) - 1);
    marked = editor.markText({line: line, ch: ch}, {line: line, ch: ch + 1}, {className: "cm-fql-error", clearWhenEmpty: false});
    editor.setCursor({line: line, ch: ch});
  }

  function drawChart() {
    var box = document.getElementById("chart"), data = document.getElementById("chart-data");
    if (!box || !data) return;
    var spec = JSON.parse(data.textContent);
    load("echarts/echarts.min.js").then(function () {
      if (!document.body.contains(box) || echarts.getInstanceByDom(box)) return;
      var chart = echarts.init(box);
      var option;
      if (spec.kind === "timeseries") {
        option = {
          animation: false,
          tooltip: {trigger: "axis", renderMode: "richText"},
          legend: {type: "scroll", top: 0},
          grid: {left: 50, right: 20, top: 40, bottom: 40},
          xAxis: {type: "time"},
          yAxis: {type: "value"},
          series: spec.series.map(function (s) {
            return {name: s.name, type: "line", showSymbol: false,
                    data: s.values.map(function (v, i) { return [spec.times[i], v]; })};
          })
        };
      } else {
        option = {
          animation: false,
          tooltip: {trigger: "axis", renderMode: "richText"},
          grid: {left: 50, right: 20, top: 20, bottom: 80},
          xAxis: {type: "category", data: spec.categories, axisLabel: {rotate: 30, interval: 0}},
          yAxis: {type: "value", name: spec.value},
          series: [{type: "bar", name: spec.value, data: spec.values}]
        };
      }
      chart.setOption(option);
    });
  }

  // The body survives boosted navigation: bind once, call whatever page is current.
  window.fqlNotebook = {markError: markError, drawChart: drawChart};
  if (!window.fqlNotebookBound) {
    window.fqlNotebookBound = true;
    document.body.addEventListener("htmx:afterSettle", function () {
      if (window.fqlNotebook && document.getElementById("result")) {
        window.fqlNotebook.markError(); window.fqlNotebook.drawChart();
      }
    });
  }
  drawChart();
})();
