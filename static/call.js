// A paid call: waits for the creator, then video both ways over WebRTC (signalling through
// /ws), a running timer and cost, and a heartbeat every 10 s that keeps the call (and its
// credit hold) alive.
(function () {
  "use strict";
  var root, socket, callId, isFan, price, startedAt = null, status;
  var pc = null, stream = null, ice = [], timer = null, ping = null, outbox = [], offers = 0;

  function $(id) { return document.getElementById(id); }
  function say(text) { $("call-status").textContent = text; }
  // Frames sent before the socket is open (the page starts the call while it connects) wait
  // for it: a dropped "media on" would leave both sides waiting for the other to start.
  function send(frame) {
    if (socket && socket.readyState === WebSocket.OPEN) { socket.send(JSON.stringify(frame)); }
    else if (frame.type !== "call_ping") { outbox.push(frame); }  // a new ping follows the reconnect
  }
  function signal(data) { send({ type: "call_signal", call: callId, data: data }); }

  function tick() {
    if (!startedAt) { return; }
    var seconds = Math.max(0, Math.floor((Date.now() - startedAt) / 1000));
    var minutes = Math.max(1, Math.ceil(seconds / 60));
    $("call-timer").textContent = Math.floor(seconds / 60) + ":" + String(seconds % 60).padStart(2, "0");
    $("call-cost").textContent = String(minutes * price);
  }

  function begin(startedIso) {
    status = "active";
    startedAt = startedIso ? Date.parse(startedIso + (startedIso.endsWith("Z") ? "" : "Z")) : Date.now();
    say("On the call.");
    var hangup = $("call-hangup");
    if (hangup) { hangup.textContent = "Hang up"; }
    clearInterval(timer);
    timer = setInterval(tick, 1000);
    tick();
    clearInterval(ping);
    ping = setInterval(function () { send({ type: "call_ping", call: callId }); }, 10000);
    send({ type: "call_ping", call: callId });
    startPeer();
  }

  // Only the fan makes offers; the creator answers. Each side says "media on" when its page is
  // live; a fan told so starts a fresh connection, so a reload on either side reconnects. Both
  // sides may say it at once, so the fan can make two offers in a row: every offer is numbered,
  // and the answer and ICE candidates carry its number, so each lands on its own connection.
  function local() {
    if (stream) { return Promise.resolve(stream); }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) { return Promise.resolve(null); }
    return navigator.mediaDevices.getUserMedia({ video: true, audio: true }).then(function (s) {
      stream = s;
      $("call-local").srcObject = s;
      return s;
    }).catch(function () { say("On the call (your camera is off: not allowed)."); return null; });
  }

  function newPeer(number) {
    if (pc) { pc.close(); }
    var peer = new RTCPeerConnection({ iceServers: ice });
    peer.number = number;
    peer.ontrack = function (e) { if ($("call-remote").srcObject !== e.streams[0]) { $("call-remote").srcObject = e.streams[0]; } };
    peer.onicecandidate = function (e) {
      signal({ candidate: e.candidate ? e.candidate.toJSON() : null, n: number });
    };
    pc = peer;
    return peer;
  }

  function offer() {
    offers += 1;
    var peer = newPeer(offers);
    local().then(function (s) {
      if (s) { s.getTracks().forEach(function (track) { peer.addTrack(track, s); }); }
      else { peer.addTransceiver("video", { direction: "recvonly" }); peer.addTransceiver("audio", { direction: "recvonly" }); }
      return peer.setLocalDescription();
    }).then(function () {
      if (peer !== pc) { return; }  // a newer offer replaced this one
      signal({ sdp: { type: peer.localDescription.type, sdp: peer.localDescription.sdp }, n: peer.number });
    }).catch(function (err) { console.warn("offer failed", err); });
  }

  function startPeer() {
    if (!window.RTCPeerConnection) { return; }
    local().then(function () { signal({ media: { on: true } }); });
  }

  function onSignal(data) {
    if (!window.RTCPeerConnection) { return; }
    if (data.media && data.media.on) {
      if (isFan) { offer(); } else { signal({ media: { on: true } }); }
    } else if (data.sdp && data.sdp.type === "offer" && !isFan) {
      var peer = newPeer(data.n);  // the fan makes a fresh connection for every offer
      peer.setRemoteDescription(data.sdp).then(local).then(function (s) {
        if (s) { s.getTracks().forEach(function (track) { peer.addTrack(track, s); }); }
        return peer.setLocalDescription();
      }).then(function () {
        if (peer !== pc) { return; }  // a newer offer came in meanwhile
        signal({ sdp: { type: peer.localDescription.type, sdp: peer.localDescription.sdp }, n: peer.number });
      }).catch(function (err) { if (peer === pc) { console.warn("could not answer", err); } });
    } else if (data.sdp && data.sdp.type === "answer" && isFan && pc && data.n === pc.number) {
      pc.setRemoteDescription(data.sdp).catch(function (err) { console.warn("bad answer", err); });
    } else if ("candidate" in data && pc && data.n === pc.number) {
      pc.addIceCandidate(data.candidate || undefined).catch(function () {});
    }
  }

  function finish(event) {
    status = "ended";
    clearInterval(timer);
    clearInterval(ping);
    if (pc) { pc.close(); pc = null; }
    if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); stream = null; }
    $("call-local").srcObject = null;
    $("call-remote").srcObject = null;
    var form = $("call-end-form");
    if (form) { form.remove(); }
    $("call-warning").hidden = true;
    if (event.minutes) {
      $("call-cost").textContent = String(event.charged);
      say("Call ended (" + event.reason + "): " + event.minutes + " minute" + (event.minutes === 1 ? "" : "s") +
        ", " + event.charged + " credits.");
    } else {
      say("Call ended: " + event.reason + ". Nothing was charged.");
    }
  }

  function onEvent(event) {
    if (event.type === "closed") { location.reload(); return; }  // session ended: to the login
    if (event.call !== callId) { return; }
    switch (event.type) {
      case "call_started": begin(event.started_at); break;
      case "call_signal": onSignal(event.data); break;
      case "call_warning": $("call-warning").hidden = false; break;
      case "call_ended": finish(event); break;
      case "call_state": if (event.status !== "active" && status === "active") { location.reload(); } break;
    }
  }

  function toggle(kind, button, onLabel, offLabel) {
    if (!stream) { return; }
    var pressed = button.getAttribute("aria-pressed") !== "true";
    stream.getTracks().forEach(function (track) { if (track.kind === kind) { track.enabled = !pressed; } });
    button.setAttribute("aria-pressed", String(pressed));
    button.textContent = pressed ? offLabel : onLabel;
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/ws");
    socket.onmessage = function (e) { onEvent(JSON.parse(e.data)); };
    socket.onopen = function () {
      var waiting = outbox;
      outbox = [];
      waiting.forEach(send);
      if (status === "active") { send({ type: "call_ping", call: callId }); }
    };
    socket.onclose = function () { if (status !== "ended") { setTimeout(connect, 1500); } };
  }

  document.addEventListener("DOMContentLoaded", function () {
    root = $("call");
    if (!root) { return; }
    callId = parseInt(root.dataset.call, 10);
    isFan = root.dataset.fan === "true";
    price = parseInt(root.dataset.price, 10);
    status = root.dataset.status;
    try { ice = JSON.parse(root.dataset.ice || "[]"); } catch (e) { ice = []; }
    connect();
    if (status === "active") { begin(root.dataset.started); }
    $("call-mute").addEventListener("click", function () { toggle("audio", $("call-mute"), "Mute", "Unmute"); });
    $("call-camera").addEventListener("click", function () { toggle("video", $("call-camera"), "Camera off", "Camera on"); });
    var form = $("call-end-form");
    if (form) {
      form.addEventListener("submit", function (e) {
        if (socket && socket.readyState === WebSocket.OPEN) { e.preventDefault(); send({ type: "call_hangup", call: callId }); }
      });
    }
  });
})();
