// The indexing page: a time link seeks the player instead of reloading the page, "use the
// player's time" copies the player's position into a point's form, and a suggestion fills the
// add form's time. Every action works without this script (links carry ?t= and ?at=).
(function () {
  "use strict";
  var player = document.getElementById("player");
  if (!player) { return; }

  function clock(seconds) {
    var s = Math.floor(seconds);
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return Math.floor(s / 3600) + ":" + pad(Math.floor((s % 3600) / 60)) + ":" + pad(s % 60);
  }

  function seek(seconds) {
    player.currentTime = seconds;
    player.play().catch(function () { /* the browser may refuse to play unasked */ });
  }

  document.addEventListener("click", function (ev) {
    var link = ev.target.closest && ev.target.closest("a.seek, a.suggestion");
    if (!link) { return; }
    ev.preventDefault();
    var t = parseFloat(link.getAttribute("data-t"));
    if (link.classList.contains("suggestion")) {
      var start = document.getElementById("add-point-start");
      start.value = clock(t);
      document.getElementById("add-point-title").focus();
    }
    seek(t);
  });

  Array.prototype.forEach.call(document.querySelectorAll("button.use-player-time"), function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      button.closest("form").querySelector("[name=start]").value = clock(player.currentTime);
    });
  });

  var start = parseFloat(player.getAttribute("data-start"));
  if (start > 0) {
    player.addEventListener("loadedmetadata", function () { player.currentTime = start; }, { once: true });
  }
}());
