// Behaviour every page may need, bound once on the document (the body survives hx-boost).
// Scripts come from /static only (see security_headers.py): no inline script, no hx-on.
(function () {
  "use strict";
  if (window.flowscopeBound) return;
  window.flowscopeBound = true;

  // Flow diagram: a step is an SVG <a> that htmx loads into #drilldown. htmx cancels the
  // browser's own navigation only for HTML anchors, so cancel it here for SVG ones.
  function diagramStep(target) {
    return target && target.closest ? target.closest("svg a.step[hx-get]") : null;
  }
  document.addEventListener("click", function (e) {
    if (diagramStep(e.target)) e.preventDefault();
  });
  // Mark the step whose flows are being loaded as the selected one.
  document.addEventListener("htmx:beforeRequest", function (e) {
    var step = diagramStep(e.target);
    if (!step) return;
    step.closest("svg").querySelectorAll(".step.selected").forEach(function (other) {
      other.classList.remove("selected");
    });
    step.classList.add("selected");
  });

  // The drill-down sits below the diagram (far below on a phone): after it is swapped in,
  // bring its heading into view and move focus there, so a click on a step visibly answers
  // and a screen reader reads what the list now shows. A control inside the list (a state
  // pill, the pager) is replaced by the swap, so focus would otherwise fall back to <body>.
  document.addEventListener("htmx:afterSettle", function (e) {
    var drill = document.getElementById("drilldown");
    if (!drill || e.target !== drill) return;
    var title = document.getElementById("drill-title");
    if (!title) return;
    var box = drill.getBoundingClientRect();
    if (box.top < 0 || box.top > window.innerHeight * 0.5) {
      drill.scrollIntoView({ block: "start" });
    }
    title.focus({ preventScroll: true });
  });
})();
