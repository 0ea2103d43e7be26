// Completion for the FQL editor (CodeMirror 5): after `|` the commands, elsewhere the
// functions (with their signatures) and the field names seen in recent events. The lists come
// once from the completions API; names are shown as text, never as HTML.
(function () {
  "use strict";
  var MAX = 12;

  function attach(cm, url) {
    var lists = null, box = null, items = [], active = 0, from = null;
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { lists = data; });

    function close() {
      if (box) { box.remove(); box = null; }
      cm.removeKeyMap(keys);
    }

    function choose(i) {
      var item = items[i];
      if (!item) return;
      var cursor = cm.getCursor();
      cm.replaceRange(item.name + (item.kind === "function" ? "(" : ""), from, cursor);
      close();
      cm.focus();
    }

    function move(step) {
      if (!items.length) return;
      active = (active + step + items.length) % items.length;
      paint();
    }

    var keys = {
      Up: function () { move(-1); },
      Down: function () { move(1); },
      Enter: function () { choose(active); },
      Tab: function () { choose(active); },
      Esc: close
    };

    function paint() {
      Array.prototype.forEach.call(box.children, function (li, i) {
        li.classList.toggle("active", i === active);
        li.setAttribute("aria-selected", i === active ? "true" : "false");
        if (i === active) li.scrollIntoView({block: "nearest"});
      });
    }

    function candidates(prefix, commandPosition) {
      var lower = prefix.toLowerCase(), out = [];
      function add(name, kind, hint) {
        if (out.length < MAX && name.toLowerCase().indexOf(lower) === 0 && name !== prefix) {
          out.push({name: name, kind: kind, hint: hint || ""});
        }
      }
      if (commandPosition) {
        lists.commands.forEach(function (c) { add(c, "command"); });
        return out;
      }
      lists.functions.forEach(function (f) { add(f.name, "function", f.signature); });
      lists.fields.forEach(function (f) { add(f, "field"); });
      return out;
    }

    function open(force) {
      if (!lists) return;
      var cursor = cm.getCursor(), line = cm.getLine(cursor.line), start = cursor.ch;
      while (start > 0 && /[\w.]/.test(line.charAt(start - 1))) start--;
      var prefix = line.slice(start, cursor.ch);
      if (!prefix && !force) { close(); return; }
      var before = cm.getRange({line: 0, ch: 0}, {line: cursor.line, ch: start}).replace(/\s+$/, "");
      var commandPosition = before === "" || /\|$/.test(before) || /\[$/.test(before);
      items = candidates(prefix, commandPosition);
      if (!items.length) { close(); return; }
      from = {line: cursor.line, ch: start};
      if (!box) {
        box = document.createElement("ul");
        box.className = "fql-hints";
        box.setAttribute("role", "listbox");
        box.addEventListener("mousedown", function (e) {
          var li = e.target.closest("li");
          if (li) { e.preventDefault(); choose(parseInt(li.dataset.i, 10)); }
        });
        document.body.appendChild(box);
        cm.addKeyMap(keys);
      }
      box.textContent = "";
      items.forEach(function (item, i) {
        var li = document.createElement("li");
        li.setAttribute("role", "option");
        li.dataset.i = String(i);
        li.className = item.kind;
        var name = document.createElement("span");
        name.className = "name";
        name.textContent = item.name;
        li.appendChild(name);
        if (item.hint || item.kind !== "function") {
          var hint = document.createElement("span");
          hint.className = "hint";
          hint.textContent = item.hint || item.kind;
          li.appendChild(hint);
        }
        box.appendChild(li);
      });
      active = 0;
      var at = cm.cursorCoords(from, "page");
      box.style.left = Math.max(0, Math.min(at.left, window.innerWidth - 280)) + "px";
      box.style.top = at.bottom + 2 + "px";
      paint();
    }

    cm.on("inputRead", function (_cm, change) {
      if (/[\w.]$/.test(change.text.join(""))) open(false); else close();
    });
    cm.on("blur", close);
    cm.addKeyMap({"Ctrl-Space": function () { open(true); }});
  }

  window.fqlComplete = attach;
})();
