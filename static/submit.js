// Sending the intake form in the background, for browsers with JavaScript. Without it the form
// is a plain POST and works the same (the server keeps the files when the form has an error).
//
// Why: a form error must never cost the visitor their recording. The form is checked here
// first, then sent with XMLHttpRequest (which reports upload progress), so the page, and an
// in-page recording with it, stays put whatever the answer. The server keeps every file it
// accepted for this form; after an error they are not sent again. Nothing is stored on the
// visitor's device.
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
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) {
        bar.value = Math.round(100 * e.loaded / e.total);
        status.textContent = msg("sending") + " " + bar.value + "%";
      }
    });
    xhr.upload.addEventListener("load", function () { bar.value = 100; });
    xhr.addEventListener("load", function () {
      if (xhr.status === 200 && xhr.responseURL) {
        // The server redirected to the receipt page (303): go there.
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
    send.disabled = true;
    bar.value = 0;
    status.textContent = msg("sending");
    upload.hidden = false;
    // The proof of work (proof_of_work.js) is usually found while the form is filled in; if
    // not yet, the form goes as soon as it is, with its nonce.
    var proof = window.testimonyProofOfWork;
    if (proof) {
      proof.ready(function () { xhr.send(new FormData(form)); });
    } else {
      xhr.send(new FormData(form));
    }
  });
}());
