// Random chat: the queue, text and WebRTC video over the shared socket (/ws).
// WebRTC follows the "perfect negotiation" pattern: either side may start video at any time; on
// an offer collision the impolite side (the one told `initiator`) wins.
(function () {
  "use strict";
  var socket = null, session = null, initiator = false, tags = [], waiting = false;
  var wanted = false, tickTimer = null, typingTimer = null, lastTyping = 0;
  var pc = null, localStream = null, makingOffer = false, ignoreOffer = false, ice = [];
  var reportForm = "";

  function $(id) { return document.getElementById(id); }
  function status(text) { $("rc-status").textContent = text; }
  function send(frame) {
    if (socket && socket.readyState === WebSocket.OPEN) { socket.send(JSON.stringify(frame)); }
  }
  function log(text, who) {
    var li = document.createElement("li"), p = document.createElement("p");
    li.className = "message " + who;
    p.className = "bubble";
    p.textContent = text;
    li.appendChild(p);
    $("rc-log").appendChild(li);
    li.scrollIntoView({ block: "end" });
  }

  function connect(then) {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/ws");
    socket.onopen = function () { if (then) { then(); } };
    socket.onmessage = function (e) { onEvent(JSON.parse(e.data)); };
    socket.onclose = function () {
      if (!wanted) { return; }
      status("Connection lost. Reconnecting…");
      session = null;
      resetPeer();
      setTimeout(function () { connect(join); }, 1500);
    };
  }

  function join() {
    wanted = true;
    session = null;
    waiting = true;
    resetPeer();
    $("rc-start").hidden = true;
    $("rc-room").hidden = false;
    $("rc-log").innerHTML = "";
    var box = $("rc-report-box");
    box.open = false;
    if (reportForm) {  // a fresh form for the new chat (the last report may have replaced it)
      Array.prototype.slice.call(box.children, 1).forEach(function (el) { box.removeChild(el); });
      box.insertAdjacentHTML("beforeend", reportForm);
    }
    status("Looking for someone…");
    send({ type: "rc_join", tags: tags });
    clearInterval(tickTimer);
    tickTimer = setInterval(function () { if (waiting) { send({ type: "rc_tick" }); } }, 2000);
  }

  function onEvent(event) {
    switch (event.type) {
      case "rc_waiting":
        status(tags.length ? "Looking for someone who likes " + tags.join(", ") + "…" : "Looking for someone…");
        break;
      case "rc_matched":
        waiting = false;
        session = event.session;
        initiator = event.initiator;
        status(event.shared.length ? "You both like " + event.shared.join(", ") + ". Say hi!"
          : "You are chatting with a stranger. Say hi!");
        log("Connected to a stranger.", "system");
        setupPeer();
        prepareReport();
        $("rc-text").focus();
        break;
      case "rc_text":
        if (event.session === session) { $("rc-typing").textContent = ""; log(event.text, "theirs"); }
        break;
      case "rc_typing":
        if (event.session === session) {
          $("rc-typing").textContent = "Stranger is typing…";
          clearTimeout(typingTimer);
          typingTimer = setTimeout(function () { $("rc-typing").textContent = ""; }, 3000);
        }
        break;
      case "rc_ended":
        if (event.session === session) {
          session = null;
          resetPeer();
          log("The stranger left.", "system");
          status("The stranger left. Press Next to meet someone new.");
        }
        break;
      case "rc_signal":
        if (event.session === session) { onSignal(event.data); }
        break;
      case "error":
        if (event.frame && event.frame.indexOf("rc_") === 0) { status(event.error); }
        break;
      case "closed":
        location.reload();
        break;
    }
  }

  // --- video -----------------------------------------------------------------------------
  function signal(data) { send({ type: "rc_signal", session: session, data: data }); }

  function setupPeer() {
    if (!window.RTCPeerConnection) { $("rc-video").hidden = true; return; }
    pc = new RTCPeerConnection({ iceServers: ice });
    pc.ontrack = function (e) {
      var video = $("rc-remote");
      if (video.srcObject !== e.streams[0]) { video.srcObject = e.streams[0]; }
      $("rc-videos").hidden = false;
    };
    pc.onicecandidate = function (e) { signal({ candidate: e.candidate ? e.candidate.toJSON() : null }); };
    pc.onnegotiationneeded = function () {
      makingOffer = true;
      pc.setLocalDescription().then(function () {
        signal({ sdp: { type: pc.localDescription.type, sdp: pc.localDescription.sdp } });
      }).catch(function (err) { console.warn("offer failed", err); })
        .then(function () { makingOffer = false; });
    };
  }

  function onSignal(data) {
    if (!pc) { return; }
    if (data.sdp) {
      var collision = data.sdp.type === "offer" && (makingOffer || pc.signalingState !== "stable");
      ignoreOffer = initiator && collision;
      if (ignoreOffer) { return; }
      pc.setRemoteDescription(data.sdp).then(function () {
        if (data.sdp.type !== "offer") { return; }
        return pc.setLocalDescription().then(function () {
          signal({ sdp: { type: pc.localDescription.type, sdp: pc.localDescription.sdp } });
        });
      }).catch(function (err) { console.warn("could not apply the description", err); });
    } else if ("candidate" in data) {
      pc.addIceCandidate(data.candidate || undefined).catch(function (err) {
        if (!ignoreOffer) { console.warn("bad candidate", err); }
      });
    } else if (data.media && data.media.on === false) {
      $("rc-remote").srcObject = null;
      log("The stranger turned video off.", "system");
      var wasOn = !!localStream;
      resetPeer();
      setupPeer();
      if (wasOn) { startVideo(); }
    }
  }

  function startVideo() {
    if (!session || !pc) { return; }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      status("This browser cannot share a camera: keep chatting by text.");
      return;
    }
    navigator.mediaDevices.getUserMedia({ video: true, audio: true }).then(function (stream) {
      localStream = stream;
      $("rc-local").srcObject = stream;
      $("rc-videos").hidden = false;
      stream.getTracks().forEach(function (track) { pc.addTrack(track, stream); });
      $("rc-video").hidden = true;
      $("rc-mute").hidden = $("rc-camera").hidden = $("rc-hangup").hidden = false;
    }).catch(function () {
      status("Camera or microphone not allowed: you can keep chatting by text.");
    });
  }

  function toggle(kind, button, onLabel, offLabel) {
    if (!localStream) { return; }
    var pressed = button.getAttribute("aria-pressed") !== "true";
    localStream.getTracks().forEach(function (track) { if (track.kind === kind) { track.enabled = !pressed; } });
    button.setAttribute("aria-pressed", String(pressed));
    button.textContent = pressed ? offLabel : onLabel;
  }

  function resetPeer() {
    if (pc) { pc.close(); pc = null; }
    if (localStream) { localStream.getTracks().forEach(function (t) { t.stop(); }); localStream = null; }
    $("rc-local").srcObject = null;
    $("rc-remote").srcObject = null;
    $("rc-videos").hidden = true;
    $("rc-video").hidden = false;
    $("rc-mute").hidden = $("rc-camera").hidden = $("rc-hangup").hidden = true;
    $("rc-mute").textContent = "Mute";
    $("rc-camera").textContent = "Camera off";
    $("rc-mute").setAttribute("aria-pressed", "false");
    $("rc-camera").setAttribute("aria-pressed", "false");
    makingOffer = ignoreOffer = false;
  }

  function hangUp() {
    if (!session) { return; }
    signal({ media: { on: false } });
    resetPeer();
    setupPeer();
  }

  function prepareReport() {
    var form = $("rc-report");
    if (!form || !session) { return; }
    var url = $("random").dataset.report.replace("/0/", "/" + session + "/");
    form.setAttribute("action", url);
    form.setAttribute("hx-post", url);
    if (window.htmx) { window.htmx.process(form); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var root = $("random");
    if (!root) { return; }
    try { ice = JSON.parse(root.dataset.ice || "[]"); } catch (e) { ice = []; }
    reportForm = $("rc-report").outerHTML;
    $("rc-go").addEventListener("click", function () {
      tags = $("rc-tags").value.split(",").map(function (t) { return t.trim(); }).filter(Boolean);
      if (socket && socket.readyState === WebSocket.OPEN) { join(); } else { connect(join); }
    });
    $("rc-form").addEventListener("submit", function (e) {
      e.preventDefault();
      var text = $("rc-text").value.trim();
      if (!text || !session) { return; }
      send({ type: "rc_text", session: session, text: text });
      log(text, "mine");
      $("rc-text").value = "";
    });
    $("rc-text").addEventListener("input", function () {
      var now = Date.now();
      if (session && now - lastTyping > 2000) { lastTyping = now; send({ type: "rc_typing", session: session }); }
    });
    $("rc-next").addEventListener("click", function () { send({ type: "rc_next" }); join(); });
    $("rc-stop").addEventListener("click", function () {
      wanted = false;
      waiting = false;
      clearInterval(tickTimer);
      send({ type: "rc_leave" });
      session = null;
      resetPeer();
      $("rc-room").hidden = true;
      $("rc-start").hidden = false;
      status("");
    });
    $("rc-video").addEventListener("click", startVideo);
    $("rc-mute").addEventListener("click", function () { toggle("audio", $("rc-mute"), "Mute", "Unmute"); });
    $("rc-camera").addEventListener("click", function () { toggle("video", $("rc-camera"), "Camera off", "Camera on"); });
    $("rc-hangup").addEventListener("click", hangUp);
    document.body.addEventListener("htmx:afterSwap", function (e) {
      if (!e.target || !e.target.closest || !e.target.closest("#rc-report-box")) { return; }
      if ($("rc-report")) { return; }  // the form again, with its fields' errors: not reported yet
      if (e.detail.xhr && e.detail.xhr.status < 300) { session = null; resetPeer(); status("Reported. Press Next to meet someone new."); }
    });
  });
})();
