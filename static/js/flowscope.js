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

  // One source of truth for the URL: of the requests that change it (a boosted link or form,
  // an element with hx-push-url or hx-replace-url), only the latest may swap. Without this,
  // two quick clicks ("last 7 d" then "last 1 h", step 3 then step 2, "Flows" then a flow
  // card) race: the late answer of the first click is swapped into an element the second
  // already replaced and still pushes its URL, so page and URL disagree.
  // hx-sync cannot span the header's links and every page, and its "replace" aborts with a
  // console error; instead a superseded answer is dropped at htmx:beforeOnLoad, before
  // anything is swapped or pushed into history.
  var latestNavigation = null;
  function changesUrl(detail) {
    var config = detail.requestConfig;
    if (!config) return false;
    if (config.boosted) return true;
    var elt = config.elt; // the element that made the request (detail.elt may be the target)
    var holder = elt && elt.closest ? elt.closest("[hx-push-url],[hx-replace-url]") : null;
    if (!holder) return false;
    var value = holder.getAttribute("hx-push-url") || holder.getAttribute("hx-replace-url");
    return value !== "false";
  }
  function dropSuperseded(e) {
    if (changesUrl(e.detail) && e.detail.xhr !== latestNavigation) e.preventDefault();
  }
  document.addEventListener("htmx:beforeRequest", function (e) {
    if (!changesUrl(e.detail)) return;
    latestNavigation = e.detail.xhr;
    // htmx fires beforeOnLoad on the element that asked, which a later swap may have taken
    // out of the page by then; events on a detached element never reach the document, so
    // listen on the element itself (the same function is added to an element only once).
    e.detail.requestConfig.elt.addEventListener("htmx:beforeOnLoad", dropSuperseded);
  });
  // Back and Forward restore a page: an answer still on its way belongs to the page left.
  document.addEventListener("htmx:historyRestore", function () {
    latestNavigation = null;
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
