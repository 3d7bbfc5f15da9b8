// The translation workbench: selecting words of a saved translation fills that segment's mark
// form (words and offsets), as in the review editor; Alt+M marks them. Every action works
// without this script. Events are taken once, on the document, for every segment of the page.
(function () {
  "use strict";

  function field(form, name) { return form && form.querySelector("[name=" + name + "]"); }

  function isBox(node) { return node && node.matches && node.matches("li.pair form.save textarea"); }

  function remember(area) {
    var pair = area.closest("li.pair");
    var mark = pair.querySelector("details.tools form.mark");
    var from = area.selectionStart, to = area.selectionEnd;
    if (!mark || to <= from) { return mark; }
    // Offsets of unsaved text would point at other words of the saved one: send words only.
    var unsaved = area.value !== area.defaultValue;
    field(mark, "words").value = area.value.slice(from, to).trim();
    field(mark, "start").value = unsaved ? "" : from;
    field(mark, "end").value = unsaved ? "" : to;
    pair.querySelector("details.tools").open = true;
    return mark;
  }

  ["select", "mouseup", "keyup"].forEach(function (name) {
    document.addEventListener(name, function (ev) { if (isBox(ev.target)) { remember(ev.target); } });
  });

  // Typing words by hand drops the offsets of an earlier selection.
  document.addEventListener("input", function (ev) {
    var words = ev.target;
    if (words.matches && words.matches("form.mark input.words")) {
      field(words.form, "start").value = "";
      field(words.form, "end").value = "";
    }
  });

  document.addEventListener("keydown", function (ev) {
    if (!ev.altKey || (ev.key !== "m" && ev.key !== "M") || !isBox(ev.target)) { return; }
    var mark = remember(ev.target);
    if (mark && field(mark, "words").value) { mark.requestSubmit(); }
    ev.preventDefault();
  });
})();
