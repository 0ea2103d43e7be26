// The flow form (templates/flows/editor/form.html): focus after a step operation, a question
// before Cancel drops unsaved changes, the live diagram kept in step with the steps, and
// dragging a step to reorder it (the arrow buttons stay for the keyboard).
(function () {
  "use strict";
  if (window.flowscopeEditorBound) return;
  window.flowscopeEditorBound = true;

  function form() {
    return document.getElementById("flow-form");
  }
  // What the form would submit, to tell whether anything changed since the page was shown.
  function snapshot(f) {
    var parts = [];
    new FormData(f).forEach(function (value, name) {
      if (name !== "csrf_token" && typeof value === "string") parts.push(name + "=" + value);
    });
    return parts.join("&");
  }
  function remember() {
    var f = form();
    if (f && f.dataset.clean === undefined) f.dataset.clean = snapshot(f);
  }
  // The page may arrive by hx-boost (the body stays, this script does not run again).
  document.addEventListener("DOMContentLoaded", remember);
  document.addEventListener("htmx:load", remember);
  if (document.readyState !== "loading") remember();

  function unsaved(f) {
    return f.dataset.unsaved === "true" || snapshot(f) !== f.dataset.clean;
  }
  document.addEventListener("click", function (e) {
    var cancel = e.target.closest ? e.target.closest("#flow-cancel") : null;
    var f = form();
    if (!cancel || !f || !unsaved(f)) return;
    if (!window.confirm("Leave without saving? Your changes to this flow will be lost.")) {
      e.preventDefault();
      e.stopPropagation(); // before hx-boost turns the link into a request
    }
  }, true);

  // After a step operation the whole step list is new: focus what the server names (the new
  // step's key, the moved step's button), and redraw the diagram.
  document.addEventListener("htmx:afterSettle", function (e) {
    if (!e.target || e.target.id !== "steps") return;
    var id = e.target.dataset.focus;
    var target = id ? document.getElementById(id) : null;
    if (target) {
      target.focus({ preventScroll: true });
      if (target.scrollIntoView) target.scrollIntoView({ block: "nearest" });
    }
    document.body.dispatchEvent(new CustomEvent("stepsChanged"));
  });

  // Drag a step by its handle onto another step: the same server operation as the buttons.
  var dragged = null;
  function stepOf(node) {
    return node && node.closest ? node.closest("#step-list fieldset.step") : null;
  }
  document.addEventListener("dragstart", function (e) {
    if (!e.target.classList || !e.target.classList.contains("drag-handle")) return;
    dragged = stepOf(e.target);
    if (!dragged) return;
    dragged.classList.add("dragging");
    e.dataTransfer.effectAllowed = "move";
    e.dataTransfer.setData("text/plain", dragged.dataset.index);
  });
  document.addEventListener("dragover", function (e) {
    var over = dragged ? stepOf(e.target) : null;
    if (!over) return;
    e.preventDefault(); // allow the drop
    document.querySelectorAll("fieldset.step.drop-target").forEach(function (s) {
      if (s !== over) s.classList.remove("drop-target");
    });
    if (over !== dragged) over.classList.add("drop-target");
  });
  document.addEventListener("dragend", function () {
    document.querySelectorAll("fieldset.step.dragging, fieldset.step.drop-target").forEach(
      function (s) { s.classList.remove("dragging", "drop-target"); }
    );
    dragged = null;
  });
  document.addEventListener("drop", function (e) {
    var over = dragged ? stepOf(e.target) : null;
    if (!over) return;
    e.preventDefault();
    var from = dragged.dataset.index, to = over.dataset.index;
    var steps = document.getElementById("steps");
    if (from === to || !steps) return;
    var f = form();
    htmx.ajax("POST", steps.dataset.draftUrl, {
      source: f, target: "#steps", swap: "outerHTML", values: { op: "move:" + from + ":" + to }
    });
  });
})();
