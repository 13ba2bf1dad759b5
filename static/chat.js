// Live conversation: a WebSocket brings events; new messages are fetched as HTML over HTTP
// and keyed by id, so each appears once even after a reconnect. Without the socket the page
// still works (send over HTTP, reload to see replies).
(function () {
  "use strict";
  var chat, list, socket, retry = 0, typingTimer = null, lastTyping = 0;

  function lastId() {
    var items = list.querySelectorAll("li[data-id]");
    return items.length ? parseInt(items[items.length - 1].dataset.id, 10) : 0;
  }

  function fetchNew() {
    var url = chat.dataset.since + "?after=" + lastId();
    fetch(url, { credentials: "same-origin", headers: { "HX-Request": "true" } })
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (html) {
        if (!html.trim()) { return; }
        var box = document.createElement("ol");
        box.innerHTML = html;
        Array.prototype.forEach.call(box.children, function (li) {
          if (!document.getElementById(li.id)) { list.appendChild(li); }
        });
        list.lastElementChild && list.lastElementChild.scrollIntoView({ block: "end" });
      });
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/ws");
    socket.onopen = function () {
      retry = 0;
      socket.send(JSON.stringify({ type: "hello", last_id: lastId() }));
    };
    socket.onmessage = function (event) {
      var data;
      try { data = JSON.parse(event.data); } catch (e) { return; }
      var other = parseInt(chat.dataset.other, 10);
      if (data.type === "message" && (data.sender_id === other || data.recipient_id === other)) {
        if (!document.getElementById("msg-" + data.id)) { fetchNew(); }
        if (data.sender_id === other) { document.getElementById("typing").textContent = ""; }
      } else if (data.type === "typing" && data.from === other) {
        var label = document.getElementById("typing");
        label.textContent = "typing…";
        clearTimeout(typingTimer);
        typingTimer = setTimeout(function () { label.textContent = ""; }, 4000);
      } else if (data.type === "read" && data.by === other) {
        Array.prototype.forEach.call(list.querySelectorAll("li.mine .meta"), function (meta) {
          if (meta.textContent.indexOf("read") === -1) { meta.textContent += " · read"; }
        });
      } else if (data.type === "closed") {
        location.reload();
      }
    };
    socket.onclose = function () {
      retry = Math.min(retry + 1, 6);
      setTimeout(connect, 500 * Math.pow(2, retry - 1));  // back off, then catch up on hello
    };
  }

  document.addEventListener("DOMContentLoaded", function () {
    chat = document.getElementById("chat");
    list = document.getElementById("messages");
    if (!chat || !list || !window.WebSocket) { return; }
    list.lastElementChild && list.lastElementChild.scrollIntoView({ block: "end" });
    connect();
    var body = document.getElementById("body");
    if (body) {
      body.addEventListener("input", function () {
        var now = Date.now();
        if (socket && socket.readyState === 1 && now - lastTyping > 2000) {
          lastTyping = now;
          socket.send(JSON.stringify({ type: "typing", to: parseInt(chat.dataset.other, 10) }));
        }
      });
      body.addEventListener("keydown", function (event) {
        if (event.key === "Enter" && !event.shiftKey) {
          event.preventDefault();
          document.getElementById("compose").requestSubmit();
        }
      });
    }
    document.body.addEventListener("htmx:afterRequest", function (event) {
      if (event.detail.elt && event.detail.elt.id === "compose" && event.detail.successful) {
        event.detail.elt.reset();
        document.getElementById("compose-status").innerHTML = "";
        var attached = document.getElementById("chat-attachment");
        if (attached) {  // the photo went with the message
          attached.querySelectorAll("input[name='upload_id'], img, .muted").forEach(function (el) { el.remove(); });
        }
      }
    });
  });
})();
