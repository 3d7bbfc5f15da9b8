// In-page recording, for browsers that have MediaRecorder and allow JavaScript. Without it the
// plain file input does the same job: this script only adds a way to fill that input.
(function () {
  "use strict";
  var box = document.getElementById("recorder");
  var input = document.getElementById("audio");
  if (!box || !input || !window.MediaRecorder || !navigator.mediaDevices ||
      typeof DataTransfer === "undefined") {
    return;
  }
  var start = document.getElementById("record-start");
  var stop = document.getElementById("record-stop");
  var status = document.getElementById("record-status");
  var preview = document.getElementById("record-preview");
  var recorder = null;
  var chunks = [];
  box.hidden = false;

  function pickType() {
    var types = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/mp4", "audio/webm"];
    for (var i = 0; i < types.length; i++) {
      if (MediaRecorder.isTypeSupported(types[i])) { return types[i]; }
    }
    return "";
  }

  function addRecording(blob) {
    var ext = blob.type.indexOf("ogg") >= 0 ? "ogg" : blob.type.indexOf("mp4") >= 0 ? "m4a" : "webm";
    var file = new File([blob], "recording." + ext, { type: blob.type || "audio/webm" });
    var dt = new DataTransfer();
    for (var i = 0; i < input.files.length; i++) { dt.items.add(input.files[i]); }
    dt.items.add(file);
    input.files = dt.files;
    preview.src = URL.createObjectURL(blob);
    preview.hidden = false;
  }

  start.addEventListener("click", function () {
    navigator.mediaDevices.getUserMedia({ audio: true }).then(function (stream) {
      var type = pickType();
      recorder = type ? new MediaRecorder(stream, { mimeType: type }) : new MediaRecorder(stream);
      chunks = [];
      recorder.ondataavailable = function (e) { if (e.data && e.data.size) { chunks.push(e.data); } };
      recorder.onstop = function () {
        stream.getTracks().forEach(function (t) { t.stop(); });
        addRecording(new Blob(chunks, { type: recorder.mimeType }));
        status.textContent = box.getAttribute("data-done") || "✓";
        start.disabled = false;
        stop.disabled = true;
      };
      recorder.start(1000);
      status.textContent = box.getAttribute("data-recording") || "●";
      start.disabled = true;
      stop.disabled = false;
    }).catch(function () {
      status.textContent = box.getAttribute("data-denied") || "✗";
    });
  });
  stop.addEventListener("click", function () {
    if (recorder && recorder.state !== "inactive") { recorder.stop(); }
  });
}());
