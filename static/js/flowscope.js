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

  // Flow diagram: fit, zoom and pan. The server lays the diagram out at its natural size
  // (data-width/height); here it is only scaled. "Fit" shows the whole diagram in its box
  // (the box is at most 85 % of the window high) unless that would shrink the text below
  // half size; then the box scrolls, and dragging the background pans it.
  var MIN_FIT = 0.5, MIN_ZOOM = 0.25, MAX_ZOOM = 2.5, ZOOM_STEP = 1.25;
  function diagramParts(tools) {
    var wrap = tools.closest(".diagram-wrap") || tools.parentElement;
    return { wrap: wrap, svg: wrap.querySelector("svg.flow-diagram"), tools: tools };
  }
  function setScale(parts, scale) {
    var svg = parts.svg;
    var w = Number(svg.dataset.width), h = Number(svg.dataset.height);
    var wrap = parts.wrap;
    // Keep the point at the middle of the box where it is.
    var cx = (wrap.scrollLeft + wrap.clientWidth / 2) / (svg.getBoundingClientRect().width || w);
    var cy = (wrap.scrollTop + wrap.clientHeight / 2) / (svg.getBoundingClientRect().height || h);
    svg.dataset.scale = String(scale);
    svg.style.width = Math.round(w * scale) + "px";
    svg.style.height = Math.round(h * scale) + "px";
    wrap.scrollLeft = cx * w * scale - wrap.clientWidth / 2;
    wrap.scrollTop = cy * h * scale - wrap.clientHeight / 2;
    wrap.classList.toggle("pannable", wrap.scrollWidth > wrap.clientWidth + 1 ||
      wrap.scrollHeight > wrap.clientHeight + 1);
    var label = parts.tools.querySelector(".diagram-scale");
    if (label) label.textContent = Math.round(scale * 100) + " %";
  }
  function fitScale(parts) {
    var svg = parts.svg, wrap = parts.wrap;
    // Measure the box with the diagram at its natural size: a fitted (smaller) diagram
    // would make a max-content column, and so the box, no wider than itself.
    svg.style.width = svg.dataset.width + "px";
    svg.style.height = svg.dataset.height + "px";
    var maxHeight = parseFloat(getComputedStyle(wrap).maxHeight);
    if (!(maxHeight > 0)) maxHeight = window.innerHeight * 0.85;
    var availW = wrap.clientWidth - 2;
    var availH = maxHeight - parts.tools.offsetHeight - 4;
    var scale = Math.min(1, availW / Number(svg.dataset.width), availH / Number(svg.dataset.height));
    return Math.max(MIN_FIT, scale);
  }
  function fit(parts) {
    parts.svg.dataset.mode = "fit";
    setScale(parts, fitScale(parts));
    parts.wrap.scrollLeft = 0;
    parts.wrap.scrollTop = 0;
  }
  function setUpDiagrams(root) {
    var scope = root && root.querySelectorAll ? root : document;
    scope.querySelectorAll(".diagram-tools[hidden]").forEach(function (tools) {
      var parts = diagramParts(tools);
      if (!parts.svg) return;
      tools.hidden = false;
      fit(parts);
    });
  }
  document.addEventListener("DOMContentLoaded", function () { setUpDiagrams(document); });
  document.addEventListener("htmx:load", function (e) { setUpDiagrams(e.target); });
  window.addEventListener("resize", function () {
    document.querySelectorAll(".diagram-tools:not([hidden])").forEach(function (tools) {
      var parts = diagramParts(tools);
      if (parts.svg && parts.svg.dataset.mode === "fit") fit(parts);
    });
  });
  document.addEventListener("click", function (e) {
    var button = e.target.closest ? e.target.closest(".diagram-tools button[data-zoom]") : null;
    if (!button) return;
    var parts = diagramParts(button.closest(".diagram-tools"));
    if (!parts.svg) return;
    var action = button.dataset.zoom;
    if (action === "fit") return fit(parts);
    var scale = Number(parts.svg.dataset.scale) || 1;
    if (action === "in") scale = Math.min(MAX_ZOOM, scale * ZOOM_STEP);
    if (action === "out") scale = Math.max(MIN_ZOOM, scale / ZOOM_STEP);
    if (action === "actual") scale = 1;
    parts.svg.dataset.mode = "zoom";
    setScale(parts, scale);
  });
  // Pan by dragging the diagram's background (a step stays a link, a button a button).
  var pan = null;
  document.addEventListener("pointerdown", function (e) {
    var wrap = e.target.closest ? e.target.closest(".diagram-wrap.pannable") : null;
    if (!wrap || e.button !== 0 || e.target.closest("a, button")) return;
    pan = { wrap: wrap, x: e.clientX, y: e.clientY, left: wrap.scrollLeft, top: wrap.scrollTop };
    wrap.classList.add("panning");
  });
  document.addEventListener("pointermove", function (e) {
    if (!pan) return;
    pan.wrap.scrollLeft = pan.left - (e.clientX - pan.x);
    pan.wrap.scrollTop = pan.top - (e.clientY - pan.y);
  });
  function endPan() {
    if (pan) pan.wrap.classList.remove("panning");
    pan = null;
  }
  document.addEventListener("pointerup", endPan);
  document.addEventListener("pointercancel", endPan);

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
