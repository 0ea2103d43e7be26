// Dashboard tiles: draws the chart of every tile HTMX has loaded (echarts is loaded once, on
// demand), and keeps charts sized to their tile.
(function () {
  "use strict";
  if (window.flowscopeDashboards) { window.flowscopeDashboards.drawAll(); return; }
  var loading = null;
  function echartsReady() {
    if (window.echarts) return Promise.resolve();
    if (loading) return loading;
    var tag = document.querySelector("script[data-echarts]");
    loading = new Promise(function (resolve, reject) {
      var s = document.createElement("script");
      s.src = tag.dataset.echarts;
      s.onload = resolve;
      s.onerror = reject;
      document.head.appendChild(s);
    });
    return loading;
  }
  function option(spec) {
    var base = {animation: false, tooltip: {trigger: spec.type === "donut" ? "item" : "axis", renderMode: "richText"}};
    if (spec.type === "donut") {
      base.legend = {type: "scroll", orient: "vertical", right: 0, top: "middle"};
      base.series = [{type: "pie", radius: ["45%", "72%"], center: ["38%", "50%"], label: {show: false},
        data: spec.categories.map(function (c, i) { return {name: c, value: spec.values[i]}; })}];
      return base;
    }
    base.grid = {left: 48, right: 12, top: spec.series && spec.series.length > 1 ? 28 : 10, bottom: 28, containLabel: true};
    base.yAxis = {type: "value"};
    if (spec.times) {
      base.legend = spec.series.length > 1 ? {type: "scroll", top: 0} : undefined;
      base.xAxis = {type: "time"};
      base.series = spec.series.map(function (s) {
        return {name: s.name, type: spec.type === "bar" ? "bar" : "line", showSymbol: false,
          data: s.values.map(function (v, i) { return [spec.times[i], v]; })};
      });
    } else {
      base.xAxis = {type: "category", data: spec.categories, axisLabel: {interval: 0, hideOverlap: true}};
      base.series = [{type: spec.type === "line" ? "line" : "bar", name: spec.name, data: spec.values}];
    }
    return base;
  }
  function drawAll() {
    var boxes = document.querySelectorAll(".tile-chart:not([data-drawn])");
    if (!boxes.length) return;
    echartsReady().then(function () {
      boxes.forEach(function (box) {
        if (!document.body.contains(box) || box.dataset.drawn) return;
        box.dataset.drawn = "1";
        var chart = echarts.init(box);
        chart.setOption(option(JSON.parse(box.dataset.spec)));
      });
    });
  }
  window.flowscopeDashboards = {drawAll: drawAll};
  document.addEventListener("htmx:afterSettle", drawAll);
  window.addEventListener("resize", function () {
    if (!window.echarts) return;
    document.querySelectorAll(".tile-chart[data-drawn]").forEach(function (box) {
      var chart = echarts.getInstanceByDom(box);
      if (chart) chart.resize();
    });
  });
  drawAll();
})();
