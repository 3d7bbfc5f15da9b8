// The segment editor, enhanced: click a segment to play it, the current segment follows
// playback, keyboard shortcuts, and saving or approving without a reload. Without this file
// every action still works through the page's plain forms.
(function () {
  "use strict";
  var segments = Array.prototype.slice.call(document.querySelectorAll("li.segment"));
  if (!segments.length) { return; }
  var live = document.getElementById("live");
  var current = null;

  function player(seg) { return document.getElementById(seg.dataset.player); }
  function say(text) { if (live) { live.textContent = text; } }

  function setCurrent(seg) {
    if (current === seg) { return; }
    if (current) { current.classList.remove("current"); }
    current = seg;
    if (seg) { seg.classList.add("current"); }
  }

  function play(seg) {
    var audio = player(seg);
    setCurrent(seg);
    audio.currentTime = parseFloat(seg.dataset.start);
    audio.play().catch(function () { /* the browser may refuse autoplay; the time is set */ });
  }

  segments.forEach(function (seg) {
    seg.querySelector("a.time").addEventListener("click", function (ev) {
      ev.preventDefault();
      play(seg);
    });
    seg.addEventListener("focusin", function () { setCurrent(seg); });
  });

  Array.prototype.forEach.call(document.querySelectorAll("audio.player"), function (audio) {
    var own = segments.filter(function (s) { return s.dataset.player === audio.id; });
    audio.addEventListener("timeupdate", function () {
      var t = audio.currentTime;
      for (var i = 0; i < own.length; i++) {
        if (t >= parseFloat(own[i].dataset.start) && t < parseFloat(own[i].dataset.end)) {
          setCurrent(own[i]);
          return;
        }
      }
    });
  });

  function send(form) {
    var body = new FormData(form);
    return fetch(form.action, {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "Accept": "application/json" }
    }).then(function (res) {
      if (res.status === 409 || res.status >= 500) { form.submit(); return null; }
      return res.json().then(function (data) { return { ok: res.ok, data: data }; });
    });
  }

  function update(seg, state, version, label) {
    seg.className = seg.className.replace(/state-\w+/, "state-" + state);
    var shown = seg.querySelector(".meta .state");
    if (shown && label) { shown.textContent = label; }
    Array.prototype.forEach.call(seg.querySelectorAll("input[name=version]"), function (input) {
      input.value = version;
    });
  }

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    var seg = form.closest("li.segment");
    // Marks, splits and merges change the page's structure: they reload as plain forms.
    if (!seg || !window.fetch || !form.matches("form.save, form.approve")) { return; }
    ev.preventDefault();
    send(form).then(function (result) {
      if (!result) { return; }
      say(result.data.message || result.data.error || "");
      if (result.ok) {
        update(seg, result.data.state, result.data.version, result.data.label);
        if (form.classList.contains("save")) {
          var approve = seg.querySelector("form.approve");
          if (approve) { approve.remove(); }
        } else {
          form.remove();
        }
      }
    });
  });

  // Selecting words in a segment's text fills its mark form; the cursor fills its split form.
  function field(form, name) { return form && form.querySelector("[name=" + name + "]"); }

  function remember(seg) {
    var area = seg.querySelector("textarea");
    var mark = seg.querySelector("details.tools form.mark");
    var split = seg.querySelector("form.split");
    if (!area || !mark) { return; }
    var unsaved = area.value !== area.defaultValue;
    var from = area.selectionStart, to = area.selectionEnd;
    if (to > from) {
      field(mark, "words").value = area.value.slice(from, to).trim();
      field(mark, "start").value = unsaved ? "" : from;
      field(mark, "end").value = unsaved ? "" : to;
      seg.querySelector("details.tools").open = true;
    }
    if (split) {
      field(split, "at").value = unsaved ? "" : from;
      field(split, "before").value = unsaved ? area.value.slice(from).trim().split(/\s+/).slice(0, 3).join(" ") : "";
    }
  }

  segments.forEach(function (seg) {
    var area = seg.querySelector("textarea");
    if (!area) { return; }
    ["select", "mouseup", "keyup"].forEach(function (name) {
      area.addEventListener(name, function () { remember(seg); });
    });
    var words = seg.querySelector("form.mark input.words");
    if (words) {
      // Typing words by hand drops the offsets of an earlier selection.
      words.addEventListener("input", function () {
        var form = words.form;
        field(form, "start").value = ""; field(form, "end").value = "";
      });
    }
  });

  function move(step) {
    var index = current ? segments.indexOf(current) : -1;
    var next = segments[Math.min(segments.length - 1, Math.max(0, index + step))];
    setCurrent(next);
    var area = next.querySelector("textarea");
    if (area) { area.focus(); }
    next.scrollIntoView({ block: "center" });
  }

  // Playback speed and rewind-on-resume: the reviewer's choice, kept in this browser only.
  var SPEEDS = [0.75, 0.85, 1, 1.25, 1.5];
  var panel = document.getElementById("playback");
  var speedBox = document.getElementById("playback-speed");
  var rewindBox = document.getElementById("playback-rewind");
  function stored(name, fallback) {
    try { var v = window.localStorage.getItem(name); return v === null ? fallback : parseFloat(v); }
    catch (e) { return fallback; }
  }
  function store(name, value) { try { window.localStorage.setItem(name, String(value)); } catch (e) { /* private mode */ } }
  var speed = stored("review.speed", 1);
  var rewind = stored("review.rewind", 2);
  if (SPEEDS.indexOf(speed) < 0) { speed = 1; }
  if (!(rewind >= 0 && rewind <= 10)) { rewind = 2; }
  function players() { return Array.prototype.slice.call(document.querySelectorAll("audio.player")); }
  function setSpeed(value, announce) {
    speed = value;
    players().forEach(function (a) { a.playbackRate = value; a.defaultPlaybackRate = value; });
    if (speedBox) { speedBox.value = String(value); }
    store("review.speed", value);
    if (announce && speedBox) { say(speedBox.options[speedBox.selectedIndex].text); }
  }
  function stepSpeed(step) {
    var at = SPEEDS.indexOf(speed);
    setSpeed(SPEEDS[Math.min(SPEEDS.length - 1, Math.max(0, at + step))], true);
  }
  if (panel) { panel.hidden = false; }
  if (speedBox) { speedBox.addEventListener("change", function () { setSpeed(parseFloat(speedBox.value), false); }); }
  if (rewindBox) {
    rewindBox.value = String(rewind);
    rewindBox.addEventListener("change", function () {
      var v = parseFloat(rewindBox.value);
      if (v >= 0 && v <= 10) { rewind = v; store("review.rewind", v); }
    });
  }
  setSpeed(speed, false);

  function back(audio, seconds) { audio.currentTime = Math.max(0, audio.currentTime - seconds); }

  function toggle(audio) {
    if (audio.paused) {
      // Resuming steps back a little, so the last words before the pause are heard again.
      if (audio.currentTime > 0) { back(audio, rewind); }
      audio.play().catch(function () {});
    } else {
      audio.pause();
    }
  }

  // Shortcuts read the physical key (KeyboardEvent.code), never the letter it types, so they
  // work with a Persian (or any) keyboard layout: Alt+R is Alt+ق for a Persian typist.
  document.addEventListener("keydown", function (ev) {
    var seg = current || segments[0];
    var code = ev.code;
    if (code === "Escape" || ev.key === "Escape") {
      toggle(player(seg));
      ev.preventDefault();
    } else if (ev.altKey && code === "KeyR") {
      play(seg); ev.preventDefault();
    } else if (ev.altKey && code === "ArrowDown") {
      move(1); ev.preventDefault();
    } else if (ev.altKey && code === "ArrowUp") {
      move(-1); ev.preventDefault();
    } else if (ev.altKey && code === "Period") {
      stepSpeed(1); ev.preventDefault();
    } else if (ev.altKey && code === "Comma") {
      stepSpeed(-1); ev.preventDefault();
    } else if (ev.altKey && code === "KeyB") {
      back(player(seg), rewind || 2); ev.preventDefault();
    } else if (ev.ctrlKey && (code === "Enter" || code === "NumpadEnter")) {
      var save = seg.querySelector("form.save");
      if (save) { save.requestSubmit(); } ev.preventDefault();
    } else if (ev.altKey && code === "KeyM") {
      remember(seg);
      var mark = seg.querySelector("details.tools form.mark");
      if (mark && field(mark, "words").value) { mark.requestSubmit(); } ev.preventDefault();
    } else if (ev.altKey && code === "KeyS") {
      remember(seg);
      var split = seg.querySelector("form.split");
      if (split) { split.requestSubmit(); } ev.preventDefault();
    } else if (ev.altKey && code === "KeyA") {
      var approve = seg.querySelector("form.approve");
      if (approve) { approve.requestSubmit(); } ev.preventDefault();
    }
  });
  // An aligned word plays from where it starts, so a reviewer hears where a mark falls.
  segments.forEach(function (seg) {
    Array.prototype.forEach.call(seg.querySelectorAll(".aligned-word"), function (word) {
      word.addEventListener("click", function () {
        var audio = player(seg);
        setCurrent(seg);
        audio.currentTime = Math.max(0, parseFloat(word.dataset.start) - 0.3);
        audio.play().catch(function () { /* autoplay refused; the time is set */ });
      });
    });
  });
})();
