// "Copy" buttons: <button data-copy="ID"> copies the text of the element with that id (a new
// API token is shown once, so copying it by hand on a phone is error-prone). The clipboard API
// needs a secure context; elsewhere the text is selected and copied the old way, and if even
// that is refused the text stays selected so the user can copy it.
(function () {
  "use strict";
  if (window.flowscopeCopyBound) return;
  window.flowscopeCopyBound = true;

  function selectText(source) {
    var range = document.createRange();
    range.selectNodeContents(source);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function legacyCopy(source) {
    selectText(source);
    try {
      return document.execCommand("copy");
    } catch (err) {
      return false;
    }
  }

  function report(button, copied) {
    var status = document.getElementById(button.dataset.copy + "-copied");
    var text = copied ? "Copied to the clipboard." : "Copying was refused: the token is selected, copy it by hand.";
    if (status) status.textContent = text;
    button.textContent = copied ? "Copied" : "Copy token";
  }

  document.addEventListener("click", function (e) {
    var button = e.target.closest ? e.target.closest("button[data-copy]") : null;
    if (!button) return;
    var source = document.getElementById(button.dataset.copy);
    if (!source) return;
    var text = source.textContent.trim();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(
        function () { report(button, true); },
        function () { report(button, legacyCopy(source)); }
      );
    } else {
      report(button, legacyCopy(source));
    }
  });
})();
