// Wide content on a narrow screen: a table or diagram wider than its box scrolls inside that
// box (see flowscope.css), never the page. A phone shows no scroll bar until the box is
// touched, so every box that can scroll sideways gets a visible hint above it, and loses it
// again when the window grows wide enough. Boxes are found by their computed overflow, so a
// table in a dashboard tile, a query result or the flow diagram are all covered.
(function () {
  "use strict";
  if (window.flowscopeScrollHints) return;
  window.flowscopeScrollHints = true;

  function scrollsSideways(box) {
    var overflow = getComputedStyle(box).overflowX;
    return (overflow === "auto" || overflow === "scroll") && box.clientWidth > 0 &&
      box.scrollWidth > box.clientWidth + 1;
  }

  function hintOf(box) {
    var before = box.previousElementSibling;
    return before && before.classList.contains("scroll-hint") ? before : null;
  }

  function update() {
    var main = document.getElementById("main");
    if (!main) return;
    main.querySelectorAll("*").forEach(function (box) {
      if (box.classList.contains("scroll-hint") || box.closest("svg, .CodeMirror")) return;
      var hint = hintOf(box);
      if (scrollsSideways(box)) {
        box.dataset.scrolls = "x";
        if (!hint) {
          hint = document.createElement("p");
          hint.className = "scroll-hint";
          hint.textContent = "Scroll sideways for more";
          box.parentNode.insertBefore(hint, box);
        }
      } else if (box.dataset.scrolls) {
        delete box.dataset.scrolls;
        if (hint) hint.remove();
      }
    });
  }

  var pending = false;
  function soon() {
    if (pending) return;
    pending = true;
    window.requestAnimationFrame(function () {
      pending = false;
      update();
    });
  }
  document.addEventListener("DOMContentLoaded", soon);
  document.addEventListener("htmx:afterSettle", soon);
  window.addEventListener("resize", soon);
  if (document.readyState !== "loading") soon();
})();
