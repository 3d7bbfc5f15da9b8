// Sending the intake form in the background, for browsers with JavaScript. Without it the form
// is a plain POST and works the same (the server keeps the files when the form has an error).
//
// Why: a form error must never cost the visitor their recording. The form is checked here
// first, then sent with XMLHttpRequest (which reports upload progress), so the page, and an
// in-page recording with it, stays put whatever the answer. The server keeps every file it
// accepted for this form; after an error they are not sent again. Nothing is stored on the
// visitor's device, except, while a resumable upload is under way, its address and this form's
// token (below), removed when the form is sent.
//
// Resumable uploads (tus, static/vendor/tus.min.js): where the browser supports them, each file
// is sent ahead in pieces to /uploads, which keeps it encrypted in this form's spool. A dropped
// connection resumes where it broke off; after a page reload, choosing the same file again
// resumes it too (the form token and the upload's address are kept in localStorage for this
// form only). The form itself then names the finished uploads instead of carrying the files.
// Files under RESUMABLE_FROM in all go with the form as before.
(function () {
  "use strict";
  var form = document.getElementById("submission");
  if (!form || typeof FormData === "undefined" || typeof XMLHttpRequest === "undefined" ||
      typeof DOMParser === "undefined") {
    return;
  }
  var messages = document.getElementById("form-messages");
  var input = document.getElementById("audio");
  var send = document.getElementById("send");
  var upload = document.getElementById("upload");
  var bar = document.getElementById("upload-progress");
  var status = document.getElementById("upload-status");
  var USES = ["archive", "transcribe", "translate", "publish_anonymised", "publish_named"];
  var STORED = "testimony-form-token";
  // Smaller files go with the form in one request, as before: a break costs seconds there.
  var RESUMABLE_FROM = 1024 * 1024;
  var tokenField = form.querySelector("input[name=form_token]");
  var csrfField = form.querySelector("input[name=csrf_token]");
  var resumable = typeof window.tus !== "undefined" && window.tus.isSupported &&
    typeof window.localStorage !== "undefined";

  // A form whose upload was under way when the page closed goes on under its own token, so
  // that the server's kept bytes are found again.
  if (resumable) {
    try {
      var kept = window.localStorage.getItem(STORED);
      if (kept && /^[A-Za-z0-9_-]{43}$/.test(kept)) { tokenField.value = kept; }
    } catch (e) { resumable = false; }
  }

  function forgetForm() {
    try {
      var prefix = "tus::testimony-" + tokenField.value;
      for (var i = window.localStorage.length - 1; i >= 0; i--) {
        var key = window.localStorage.key(i);
        if (key && key.indexOf(prefix) === 0) { window.localStorage.removeItem(key); }
      }
      window.localStorage.removeItem(STORED);
    } catch (e) { /* nothing kept */ }
  }

  function clock(seconds) {
    var s = Math.max(0, Math.round(seconds));
    var m = Math.floor(s / 60);
    var h = Math.floor(m / 60);
    var text = (h ? h + ":" + String(m % 60).padStart(2, "0") : String(m)) + ":" +
      String(s % 60).padStart(2, "0");
    return text;
  }

  function sendFile(file, done, failed) {
    var started = Date.now();
    var startOffset = null;
    var upload = new window.tus.Upload(file, {
      endpoint: form.getAttribute("data-uploads"),
      headers: { "Form-Token": tokenField.value, "X-CSRFToken": csrfField.value },
      metadata: { filetype: file.type || "" },
      chunkSize: 8 * 1024 * 1024,
      retryDelays: [0, 1000, 3000, 5000, 10000, 20000, 30000, 60000, 60000, 60000],
      storeFingerprintForResuming: true,
      removeFingerprintOnSuccess: false,
      fingerprint: function (f) {
        return Promise.resolve(["testimony", tokenField.value, f.name, f.size,
          f.lastModified].join("-"));
      },
      onProgress: function (sent, total) {
        if (startOffset === null) { startOffset = sent; started = Date.now(); }
        var percent = total ? Math.floor(100 * sent / total) : 0;
        bar.value = percent;
        var text = msg("sending") + " " + percent + "%";
        var elapsed = (Date.now() - started) / 1000;
        if (elapsed > 2 && sent > startOffset) {
          var rate = (sent - startOffset) / elapsed;
          text += " " + msg("left").replace("{time}", clock((total - sent) / rate));
        }
        status.textContent = text;
      },
      onSuccess: function () { done(upload.url); },
      onError: function (error) {
        var answer = error && error.originalResponse;
        var text = answer && answer.getBody && answer.getBody();
        failed(text && text.length < 400 ? text : msg("failed"));
      }
    });
    upload.findPreviousUploads().then(function (previous) {
      if (previous.length) { upload.resumeFromPreviousUpload(previous[0]); }
      upload.start();
    });
  }

  function sendFiles(files, done, failed) {
    var urls = [];
    function next(i) {
      if (i === files.length) { done(urls); return; }
      sendFile(files[i], function (url) { urls.push(url); next(i + 1); }, failed);
    }
    window.localStorage.setItem(STORED, tokenField.value);
    next(0);
  }

  function msg(name) { return form.getAttribute("data-msg-" + name) || ""; }

  function ticked(name) {
    var box = form.querySelector("input[type=checkbox][name=" + name + "]");
    return !!(box && box.checked);
  }

  function keptCount() {
    var notice = document.getElementById("kept-files");
    return notice ? parseInt(notice.getAttribute("data-kept"), 10) || 0 : 0;
  }

  function showErrors(list) {
    var old = document.getElementById("field-errors");
    if (old) { old.parentNode.removeChild(old); }
    var box = document.createElement("div");
    box.className = "error";
    box.id = "field-errors";
    box.setAttribute("role", "alert");
    var heading = document.createElement("p");
    heading.textContent = msg("heading");
    var ul = document.createElement("ul");
    list.forEach(function (text) {
      var li = document.createElement("li");
      li.textContent = text;
      ul.appendChild(li);
    });
    box.appendChild(heading);
    box.appendChild(ul);
    messages.insertBefore(box, messages.firstChild);
    messages.scrollIntoView();
  }

  function problems() {
    var list = [];
    if (!form.querySelector("input[name=language]:checked")) { list.push(msg("language")); }
    if (!USES.some(ticked)) { list.push(msg("consent")); }
    if (ticked("translate") && !ticked("transcribe")) { list.push(msg("translate")); }
    if (input.files.length === 0 && keptCount() === 0) { list.push(msg("audio")); }
    return list;
  }

  function finished() {
    send.disabled = false;
    upload.hidden = true;
  }

  form.addEventListener("submit", function (event) {
    // The language switch posts the form as it is (files included) and is never judged.
    if (event.submitter && event.submitter.name === "switch_language") {
      return;
    }
    event.preventDefault();
    var list = problems();
    if (list.length) {
      showErrors(list);
      return;
    }
    send.disabled = true;
    bar.value = 0;
    status.textContent = msg("sending");
    upload.hidden = false;
    var files = Array.prototype.slice.call(input.files);
    var total = files.reduce(function (sum, f) { return sum + f.size; }, 0);
    if (resumable && total >= RESUMABLE_FROM) {
      sendFiles(files, function (urls) {
        var data = new FormData(form);
        data.delete(input.name);
        data.append("uploads", urls.join(" "));
        post(data, true);
      }, function (text) {
        showErrors([text]);
        finished();
      });
      return;
    }
    post(new FormData(form), false);
  });

  function post(data, named) {
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.upload.addEventListener("progress", function (e) {
      if (named) { return; }
      if (e.lengthComputable) {
        bar.value = Math.round(100 * e.loaded / e.total);
        status.textContent = msg("sending") + " " + bar.value + "%";
      }
    });
    xhr.upload.addEventListener("load", function () { bar.value = 100; });
    xhr.addEventListener("load", function () {
      if (xhr.status === 200 && xhr.responseURL) {
        // The server redirected to the receipt page (303): go there. The form is sent:
        // nothing of it stays on this device.
        if (resumable) { forgetForm(); }
        window.location.assign(xhr.responseURL);
        return;
      }
      var doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
      var fresh = doc.getElementById("form-messages");
      if (xhr.status === 400 && fresh) {
        // Every file sent was kept by the server or refused with its own message: none is
        // sent again. The in-page recording stays playable above.
        messages.textContent = "";
        Array.prototype.forEach.call(fresh.childNodes, function (node) {
          messages.appendChild(document.importNode(node, true));
        });
        input.value = "";
        messages.scrollIntoView();
      } else {
        var main = doc.querySelector("main p");
        showErrors([main ? main.textContent : msg("failed")]);
      }
      finished();
    });
    xhr.addEventListener("error", function () {
      showErrors([msg("failed")]);
      finished();
    });
    // The proof of work (proof_of_work.js) is usually found while the form is filled in; if
    // not yet, the form goes as soon as it is, with its nonce.
    var proof = window.testimonyProofOfWork;
    if (proof) {
      proof.ready(function () {
        var nonce = form.elements.namedItem("proof_nonce");
        if (nonce) { data.set("proof_nonce", nonce.value); }
        xhr.send(data);
      });
    } else {
      xhr.send(data);
    }
  }
}());
