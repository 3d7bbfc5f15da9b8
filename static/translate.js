// The translation workbench: selecting words of a saved translation fills that segment's mark
// form (words and offsets), as in the review editor. Every action works without this script.
(function () {
  "use strict";

  function field(form, name) { return form && form.querySelector("[name=" + name + "]"); }

  function remember(pair) {
    var area = pair.querySelector("form.save textarea");
    var mark = pair.querySelector("details.tools form.mark");
    if (!area || !mark) { return; }
    var from = area.selectionStart, to = area.selectionEnd;
    if (to <= from) { return; }
    // Offsets of unsaved text would point at other words of the saved one: send words only.
    var unsaved = area.value !== area.defaultValue;
    field(mark, "words").value = area.value.slice(from, to).trim();
    field(mark, "start").value = unsaved ? "" : from;
    field(mark, "end").value = unsaved ? "" : to;
    pair.querySelector("details.tools").open = true;
  }

  Array.prototype.forEach.call(document.querySelectorAll("li.pair"), function (pair) {
    var area = pair.querySelector("form.save textarea");
    if (!area) { return; }
    ["select", "mouseup", "keyup"].forEach(function (name) {
      area.addEventListener(name, function () { remember(pair); });
    });
    var words = pair.querySelector("form.mark input.words");
    if (words) {
      // Typing words by hand drops the offsets of an earlier selection.
      words.addEventListener("input", function () {
        field(words.form, "start").value = ""; field(words.form, "end").value = "";
      });
    }
    area.addEventListener("keydown", function (ev) {
      if (ev.altKey && (ev.key === "m" || ev.key === "M")) {
        remember(pair);
        var mark = pair.querySelector("details.tools form.mark");
        if (mark && field(mark, "words").value) { mark.requestSubmit(); }
        ev.preventDefault();
      }
    });
  });
})();
