// Voice notes in a conversation (templates/messages/_voice.html): hold the button to record with
// MediaRecorder (or press it once to start and once to stop, as a keyboard does), listen to the
// recording, then send it or discard it. Sending uploads it as an attachment (static/upload.js,
// the voice presign and the attachments' confirm), waits while the worker makes it playable
// everywhere (the attachment box polls), and then sends the message, as the Send button would
// (a message to a creator costs what a text message does).
(function () {
  "use strict";
  var box, button, status, preview, player;
  var recorder = null, stream = null, chunks = [], recording = null, startedAt = 0;
  var clock = null, held = false, autoSend = false;
  // The microphone opens a moment after the press (the first time, after the browser asks):
  // a release or a second press meanwhile must not leave a recorder running.
  var starting = false, released = false;

  function say(text) { status.textContent = text; }
  function seconds() { return Math.floor((Date.now() - startedAt) / 1000); }  // as players count
  function length(total) { return Math.floor(total / 60) + ":" + ("0" + (total % 60)).slice(-2); }
  function mimeType() {
    var types = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/mp4"];
    for (var i = 0; i < types.length; i += 1) {
      if (window.MediaRecorder.isTypeSupported && window.MediaRecorder.isTypeSupported(types[i])) { return types[i]; }
    }
    return "";
  }
  function release() {
    if (stream) { stream.getTracks().forEach(function (track) { track.stop(); }); }
    stream = null;
  }
  function start() {
    if (recorder || starting) { return; }
    discard();
    starting = true;
    released = false;
    navigator.mediaDevices.getUserMedia({ audio: true }).then(function (media) {
      starting = false;
      stream = media;
      if (released) {  // let go before the microphone opened (or to answer the browser)
        release();
        say("The microphone is ready: hold the button while you speak.");
        return;
      }
      var type = mimeType();
      recorder = new window.MediaRecorder(stream, type ? { mimeType: type } : undefined);
      chunks = [];
      recorder.ondataavailable = function (event) { if (event.data && event.data.size) { chunks.push(event.data); } };
      recorder.onstop = function () {
        clearInterval(clock);
        release();
        var kind = (recorder.mimeType || type || "audio/webm").split(";")[0];
        recording = new Blob(chunks, { type: kind });
        recorder = null;
        button.setAttribute("aria-pressed", "false");
        button.textContent = "Hold to record a voice note";
        if (!recording.size || seconds() < 1) { recording = null; say("Too short: record at least a second."); return; }
        player.src = URL.createObjectURL(recording);
        preview.hidden = false;
        say("Recorded " + length(seconds()) + ". Listen, then send or discard it.");
      };
      recorder.start(250);
      startedAt = Date.now();
      button.setAttribute("aria-pressed", "true");
      button.textContent = held ? "Recording… release to stop" : "Recording… press again to stop";
      say("Recording 0:00");
      var limit = parseInt(box.dataset.maxSeconds || "300", 10);
      clock = setInterval(function () {
        say("Recording " + length(seconds()));
        if (Date.now() - startedAt >= limit * 1000 - 500) { stop(); }  // just inside it
      }, 250);
    }).catch(function () {
      starting = false;
      say("The microphone is not available: allow it in the browser to record.");
    });
  }
  function stop() {
    if (recorder && recorder.state !== "inactive") { recorder.stop(); }
  }
  function discard() {
    if (player && player.src) { URL.revokeObjectURL(player.src); player.removeAttribute("src"); }
    recording = null;
    if (preview) { preview.hidden = true; }
  }
  function submitWhenReady() {
    var attached = document.getElementById("chat-attachment");
    if (!attached) { return; }
    var state = attached.dataset.status;
    if (state === "ready") {
      autoSend = false;
      say("");
      document.getElementById("compose").requestSubmit();
    } else if (state === "rejected" || state === "") {
      autoSend = false;
      say("The voice note could not be sent.");
    }  // "uploaded": the box polls, and this runs again after each swap
  }
  function send() {
    if (!recording || !window.AmoraUpload) { return; }
    var extension = { "audio/webm": "webm", "audio/ogg": "ogg", "audio/mp4": "m4a" }[recording.type] || "webm";
    var file = new File([recording], "voice-note." + extension, { type: recording.type });
    say("Sending the voice note…");
    document.getElementById("voice-send").disabled = true;
    window.AmoraUpload.one(box, file).then(function (html) {
      var attached = document.getElementById("chat-attachment");
      attached.outerHTML = html;
      var fresh = document.getElementById("chat-attachment");
      if (window.htmx && fresh) { window.htmx.process(fresh); }
      discard();
      autoSend = true;
      submitWhenReady();
    }).catch(function (error) {
      say(error.message);
    }).then(function () {
      document.getElementById("voice-send").disabled = false;
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    box = document.getElementById("voice");
    if (!box || !window.MediaRecorder || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) { return; }
    button = document.getElementById("voice-record");
    status = document.getElementById("voice-status");
    preview = document.getElementById("voice-preview");
    player = preview.querySelector("audio");
    box.hidden = false;
    // Held with a pointer: recording lasts while it is down. A click without a pointer (Enter
    // or Space) starts and stops it instead.
    button.addEventListener("pointerdown", function (event) {
      if (event.button !== 0) { return; }
      held = true;
      button.setPointerCapture(event.pointerId);
      start();
    });
    ["pointerup", "pointercancel"].forEach(function (name) {
      button.addEventListener(name, function () {
        if (!held) { return; }
        held = false;
        if (starting) { released = true; } else { stop(); }
      });
    });
    button.addEventListener("click", function (event) {
      if (event.detail !== 0) { return; }  // a pointer's click: handled by down and up
      if (recorder) { stop(); } else { start(); }
    });
    document.getElementById("voice-send").addEventListener("click", send);
    document.getElementById("voice-discard").addEventListener("click", function () { discard(); say("Discarded."); });
    document.body.addEventListener("htmx:afterSwap", function (event) {
      if (autoSend && event.detail.target && event.detail.target.id === "chat-attachment") { submitWhenReady(); }
    });
    document.body.addEventListener("htmx:afterSettle", function () {
      if (autoSend) { submitWhenReady(); }
    });
  });
})();
