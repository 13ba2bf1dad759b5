// The selfie of an identity or photo check (templates/settings/verification_check.html): the
// camera is turned on in the page, the member takes the picture while making the gesture shown,
// and the picture is attached to the form's hidden file input as a JPEG made from the video
// frame. The form then posts as any form does. There is no way to pick a file from the disk:
// the server refuses a photo carrying a camera's metadata too (services/identity.py).
(function () {
  "use strict";
  var box, video, preview, fileInput, status, startButton, takeButton, retakeButton, submit;
  var stream = null;

  function say(text) { status.textContent = text; }
  function show(element, shown) { element.hidden = !shown; }
  function stop() {
    if (stream) { stream.getTracks().forEach(function (track) { track.stop(); }); }
    stream = null;
  }

  function turnOn() {
    say("Asking for the camera…");
    navigator.mediaDevices.getUserMedia({
      video: { facingMode: "user", width: { ideal: 1280 }, height: { ideal: 960 } },
      audio: false
    }).then(function (media) {
      stream = media;
      video.srcObject = media;
      show(box.querySelector("[data-selfie-stage]"), true);
      show(video, true);
      show(preview, false);
      show(startButton, false);
      show(takeButton, true);
      show(retakeButton, false);
      say("Make the gesture, then take the selfie.");
      takeButton.focus();
    }).catch(function () {
      say("The camera did not turn on. Allow this site to use it (in the address bar), or use a device with a camera.");
    });
  }

  function take() {
    if (!stream || !video.videoWidth) { say("The camera is still starting: try again in a moment."); return; }
    var canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
    canvas.toBlob(function (blob) {
      if (!blob) { say("The picture could not be made: try again."); return; }
      var transfer = new DataTransfer();
      transfer.items.add(new File([blob], "selfie.jpg", { type: "image/jpeg" }));
      fileInput.files = transfer.files;
      preview.src = URL.createObjectURL(blob);
      show(preview, true);
      show(video, false);
      show(takeButton, false);
      show(retakeButton, true);
      submit.disabled = false;
      stop();
      say("Selfie taken. Send it, or take it again.");
      submit.focus();
    }, "image/jpeg", 0.92);
  }

  function retake() {
    fileInput.value = "";
    submit.disabled = true;
    turnOn();
  }

  function init() {
    box = document.querySelector("[data-selfie]");
    if (!box) { return; }
    video = box.querySelector("[data-selfie-video]");
    preview = box.querySelector("[data-selfie-preview]");
    fileInput = box.querySelector("[data-selfie-file]");
    status = box.querySelector("[data-selfie-status]");
    startButton = box.querySelector("[data-selfie-start]");
    takeButton = box.querySelector("[data-selfie-take]");
    retakeButton = box.querySelector("[data-selfie-retake]");
    submit = document.querySelector("[data-selfie-submit]");
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !window.DataTransfer) {
      submit.disabled = true;
      return;  // the hint that a camera is needed stays
    }
    show(box.querySelector("[data-selfie-needs]"), false);
    show(startButton, true);
    submit.disabled = true;
    startButton.addEventListener("click", turnOn);
    takeButton.addEventListener("click", take);
    retakeButton.addEventListener("click", retake);
    window.addEventListener("pagehide", stop);
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); }
  else { init(); }
}());
