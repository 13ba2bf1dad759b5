// Live conversation: a WebSocket brings events; new messages are fetched as HTML over HTTP
// and keyed by id, so each appears once even after a reconnect. While the socket is open a
// text message is sent over it (a "send" frame, answered by "sent" or "send_error"); with an
// attachment, or without the socket, the form posts over HTTP (htmx), and without JavaScript
// it posts as a plain form.
(function () {
  "use strict";
  var chat, list, socket, retry = 0, typingTimer = null, lastTyping = 0;
  var sendCount = 0, pendingRef = null;

  function lastId() {
    var items = list.querySelectorAll("li[data-id]");
    return items.length ? parseInt(items[items.length - 1].dataset.id, 10) : 0;
  }

  function fetchNew() {
    var url = chat.dataset.since + "?after=" + lastId();
    fetch(url, { credentials: "same-origin", headers: { "HX-Request": "true" } })
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (html) { if (html.trim()) { addItems(html); } });
  }

  function addItems(html) {
    var box = document.createElement("ol");
    box.innerHTML = html;
    Array.prototype.forEach.call(box.children, function (li) {
      if (!document.getElementById(li.id)) { list.appendChild(li); }
    });
    list.lastElementChild && list.lastElementChild.scrollIntoView({ block: "end" });
  }

  // A message sent over HTTP comes back in the answer (appended out of band) and as a socket
  // event whose fetch may arrive first: keep the first of each.
  function dedupe() {
    var seen = {};
    Array.prototype.forEach.call(list.querySelectorAll("li[id]"), function (li) {
      if (seen[li.id]) { li.remove(); } else { seen[li.id] = true; }
    });
  }

  function composeButton() { return document.querySelector("#compose button[type=submit]"); }

  function showStatus(text, buy) {
    var status = document.getElementById("compose-status");
    status.innerHTML = "";
    if (!text) { return; }
    var p = document.createElement("p");
    p.className = "flash error";
    p.setAttribute("role", "alert");
    p.textContent = text;
    if (buy && chat.dataset.buy) {
      var link = document.createElement("a");
      link.href = chat.dataset.buy;
      link.textContent = "Buy credits";
      p.appendChild(document.createTextNode(" "));
      p.appendChild(link);
    }
    status.appendChild(p);
  }

  function showBalance(balance) {
    if (balance === null || balance === undefined) { return; }
    var shown = document.getElementById("chat-balance");
    if (shown) { shown.textContent = String(balance); }
    var pill = document.getElementById("nav-credits");
    if (pill) { pill.textContent = balance.toLocaleString("en-US") + " credits"; }
  }

  function settle(ref) {
    if (ref !== pendingRef) { return false; }
    pendingRef = null;
    var button = composeButton();
    if (button) { button.disabled = false; }
    return true;
  }

  // A text message over the open socket; false when it must go over HTTP instead.
  function sendOverSocket(form) {
    if (!socket || socket.readyState !== 1 || pendingRef !== null) { return false; }
    if (form.querySelector("input[name=upload_id]") ||
        form.querySelector("input[name=media_id]:checked:not([value=''])")) { return false; }
    var body = form.querySelector("[name=body]").value;
    if (!body.trim()) { return false; }  // the server's own message for an empty one
    sendCount += 1;
    pendingRef = "m" + sendCount;
    composeButton().disabled = true;
    socket.send(JSON.stringify({
      type: "send", to: parseInt(chat.dataset.other, 10), body: body, ref: pendingRef
    }));
    return true;
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
      } else if (data.type === "ready") {
        chat.dataset.live = "true";  // caught up: sends go over the socket now
      } else if (data.type === "sent" && settle(data.ref)) {
        document.getElementById("compose").reset();
        showStatus("");
        addItems(data.html);
        showBalance(data.balance);
      } else if (data.type === "send_error" && settle(data.ref)) {
        showStatus(data.error, data.buy);
      } else if (data.type === "closed") {
        location.reload();
      }
    };
    socket.onclose = function () {
      delete chat.dataset.live;
      if (pendingRef !== null) {
        settle(pendingRef);
        showStatus("The connection dropped before your message was confirmed. If it is not " +
                   "in the conversation once it reconnects, send it again.");
      }
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
    document.body.addEventListener("htmx:confirm", function (event) {
      if (event.detail.elt && event.detail.elt.id === "compose" && sendOverSocket(event.detail.elt)) {
        event.preventDefault();  // sent over the socket: no HTTP request
      }
    });
    document.body.addEventListener("htmx:afterRequest", function (event) {
      // Sent: a 2xx. A 422 (the form's errors, swapped in like any form's) is no success here.
      var sent = event.detail.successful && event.detail.xhr && event.detail.xhr.status < 300;
      if (event.detail.elt && event.detail.elt.id === "compose" && sent) {
        dedupe();
        event.detail.elt.reset();
        document.getElementById("compose-status").innerHTML = "";
        var attached = document.getElementById("chat-attachment");
        if (attached) {  // the photo or voice note went with the message
          attached.querySelectorAll("input[name='upload_id'], .attached").forEach(function (el) { el.remove(); });
          attached.dataset.status = "";
        }
      }
    });
  });
})();
