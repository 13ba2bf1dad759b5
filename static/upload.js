// Uploads (profile photos, the creator vault): ask our server for a pre-signed form, post each
// file straight to storage, then confirm, and swap the refreshed list in.
// <input type="file" data-presign="…" data-confirm="…" data-target="photos" data-status="photo-status">
// A video (the answer to the presign says how many parts) goes up in parts instead, each PUT
// to its own pre-signed URL (asked for with data-parts), a few at a time, each retried; a
// progress bar shows the bytes sent. The upload's key is kept in localStorage under the file's
// name, size and date: choosing the same file again after a reload or a lost connection asks
// the server which parts it has (data-state) and sends only the rest.
(function () {
  "use strict";
  function csrf() {
    var meta = document.querySelector("meta[name='csrf-token']");
    return meta ? meta.content : "";
  }
  function say(input, text) {
    var status = document.getElementById(input.dataset.status || "photo-status");
    if (status) { status.textContent = text; }
  }
  function postJSON(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf(), "HX-Request": "true" },
      body: JSON.stringify(body)
    });
  }
  function swap(input, html) {
    var box = document.getElementById(input.dataset.target || "photos");
    if (!box) { return; }
    box.outerHTML = html;
    var fresh = document.getElementById(input.dataset.target || "photos");
    if (window.htmx && fresh) { window.htmx.process(fresh); }
  }
  function jsonOf(response) {
    return response.json().catch(function () { return {}; }).then(function (data) {
      if (!response.ok) {
        var error = new Error(data.error || "Upload refused (" + response.status + ").");
        error.status = response.status;
        throw error;
      }
      return data;
    });
  }
  var PARALLEL = 3;
  var RETRIES = 5;
  // The same file chosen on another page (the vault, the profile) is another upload.
  function fingerprint(input, file) {
    return "amora-upload:" + input.dataset.presign + ":" + file.name + ":" + file.size + ":" + file.lastModified;
  }
  function remembered(input, file) {
    try { return window.localStorage.getItem(fingerprint(input, file)); } catch (e) { return null; }
  }
  function remember(input, file, key) {
    try {
      if (key) { window.localStorage.setItem(fingerprint(input, file), key); }
      else { window.localStorage.removeItem(fingerprint(input, file)); }
    } catch (e) { /* private mode: no resuming, uploads still work */ }
  }
  function sizeText(bytes) {
    if (bytes >= 1073741824) { return (bytes / 1073741824).toFixed(2) + " GB"; }
    if (bytes >= 1048576) { return Math.round(bytes / 1048576) + " MB"; }
    return Math.max(1, Math.round(bytes / 1024)) + " KB";
  }
  function progressRow(input, file) {
    var box = document.getElementById(input.dataset.progress || "");
    if (!box) { return { show: function () {}, done: function () {} }; }
    var row = document.createElement("div");
    row.className = "upload-progress";
    var label = document.createElement("span");
    var bar = document.createElement("progress");
    bar.max = 100; bar.value = 0;
    bar.setAttribute("aria-label", "Uploading " + file.name);
    row.appendChild(label); row.appendChild(bar);
    box.appendChild(row);
    return {
      show: function (sent) {
        var percent = Math.floor(100 * sent / Math.max(1, file.size));
        bar.value = percent;
        label.textContent = "Uploading " + file.name + ": " + percent + " % (" + sizeText(sent) + " of " + sizeText(file.size) + ")";
      },
      done: function () { row.remove(); }
    };
  }
  function putPart(url, blob, onProgress) {
    return new Promise(function (resolve, reject) {
      var request = new XMLHttpRequest();
      request.open("PUT", url);
      request.upload.onprogress = function (event) { onProgress(event.loaded); };
      request.onload = function () {
        if (request.status >= 200 && request.status < 300) { resolve(); }
        else {
          var error = new Error("A part was refused (" + request.status + ").");
          error.status = request.status;
          reject(error);
        }
      };
      request.onerror = function () { reject(new Error("The connection was lost.")); };
      request.send(blob);
    });
  }
  function wait(ms) { return new Promise(function (resolve) { setTimeout(resolve, ms); }); }
  function sendParts(input, file, state) {
    var size = state.part_bytes;
    var stored = {};
    (state.stored || []).forEach(function (n) { stored[n] = true; });
    var todo = [];
    for (var n = 1; n <= state.parts; n += 1) { if (!stored[n]) { todo.push(n); } }
    var inFlight = {};
    var finished = (state.stored || []).reduce(function (sum, n) {
      return sum + Math.min(size, file.size - (n - 1) * size);
    }, 0);
    var bar = progressRow(input, file);
    function show() {
      var sending = Object.keys(inFlight).reduce(function (sum, n) { return sum + inFlight[n]; }, 0);
      bar.show(finished + sending);
    }
    show();
    var urls = {};
    function urlFor(number) {
      if (urls[number]) { return Promise.resolve(urls[number]); }
      // A few at a time: a link lasts ten minutes, and on a slow line 20 parts take longer.
      var batch = [number].concat(todo.filter(function (n) { return n > number; }).slice(0, 2 * PARALLEL - 1));
      return postJSON(input.dataset.parts, { key: state.key, parts: batch }).then(jsonOf)
        .then(function (data) {
          Object.keys(data.urls).forEach(function (k) { urls[k] = data.urls[k]; });
          return urls[number];
        });
    }
    function sendOne(number, attempt) {
      var blob = file.slice((number - 1) * size, Math.min(file.size, number * size));
      return urlFor(number)
        .then(function (url) {
          return putPart(url, blob, function (loaded) { inFlight[number] = loaded; show(); });
        })
        .then(function () {
          delete inFlight[number]; finished += blob.size; show();
        }, function (error) {
          delete inFlight[number]; delete urls[number]; show();
          if (error.status === 409 || error.status === 404 || attempt >= RETRIES) { throw error; }
          return wait(1000 * Math.pow(2, attempt)).then(function () { return sendOne(number, attempt + 1); });
        });
    }
    function lane() {
      var number = todo.shift();
      if (number === undefined) { return Promise.resolve(); }
      return sendOne(number, 0).then(lane);
    }
    var lanes = [];
    for (var i = 0; i < PARALLEL; i += 1) { lanes.push(lane()); }
    return Promise.all(lanes).then(function () {
      return postJSON(input.dataset.confirm, { key: state.key });
    }).then(function (response) {
      bar.done();
      if (response.ok) { remember(input, file, null); }
      return response;
    }, function (error) {
      bar.done();
      throw new Error("The upload of " + file.name + " stopped: " + error.message + " Choose the file again to resume.");
    });
  }
  function resumeOrStart(input, file, body) {
    var key = remembered(input, file);
    var resumed = key && input.dataset.state
      ? postJSON(input.dataset.state, { key: key }).then(jsonOf).catch(function () { remember(input, file, null); return null; })
      : Promise.resolve(null);
    return resumed.then(function (state) {
      if (state) { return state; }
      return postJSON(input.dataset.presign, body).then(jsonOf).then(function (started) {
        if (started.parts) { remember(input, file, started.key); }
        return started;
      });
    });
  }
  var VIDEO_TYPES = { mp4: "video/mp4", m4v: "video/mp4", mov: "video/quicktime", webm: "video/webm", mkv: "video/x-matroska" };
  function typeOf(file) {
    if (file.type) { return file.type; }
    var extension = (file.name.split(".").pop() || "").toLowerCase();
    return VIDEO_TYPES[extension] || "";
  }
  function uploadOne(input, file) {
    var body = { content_type: typeOf(file), size: file.size };
    document.querySelectorAll("[data-upload-field]").forEach(function (field) {
      body[field.dataset.uploadField] = field.type === "checkbox" ? field.checked : field.value;
    });
    return resumeOrStart(input, file, body)
      .then(function (presigned) {
        if (presigned.parts) {
          return sendParts(input, file, presigned);
        }
        var form = new FormData();
        Object.keys(presigned.fields).forEach(function (name) { form.append(name, presigned.fields[name]); });
        form.append("file", file);
        return fetch(presigned.url, { method: "POST", body: form, credentials: "same-origin" })
          .then(function (response) {
            if (!response.ok) { throw new Error("The upload of " + file.name + " failed (" + response.status + ")."); }
            return postJSON(input.dataset.confirm, { key: presigned.key });
          });
      })
      .then(function (response) { return response.text(); });
  }
  function upload(input) {
    var files = Array.prototype.slice.call(input.files || []);
    if (!files.length) { return; }
    var done = 0;
    var chain = Promise.resolve();
    files.forEach(function (file) {
      chain = chain.then(function () {
        say(input, "Uploading " + (done + 1) + " of " + files.length + "…");
        return uploadOne(input, file).then(function (html) { done += 1; swap(input, html); });
      });
    });
    chain.then(function () {
      var fresh = document.querySelector("input[data-presign][data-target='" + (input.dataset.target || "photos") + "']");
      if (fresh) { say(fresh, done === 1 ? "Uploaded." : "Uploaded " + done + " files."); }
    }).catch(function (error) {
      var fresh = document.querySelector("input[data-presign][data-target='" + (input.dataset.target || "photos") + "']") || input;
      say(fresh, error.message);
    });
  }
  // For other scripts (static/voice.js): upload one File as an <input> with these data-
  // attributes would, resolving to the confirm's HTML.
  window.AmoraUpload = { one: uploadOne };
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (input && input.type === "file" && input.dataset && input.dataset.presign) { upload(input); }
  });
  // A file chosen before this script ran (it loads after the page: a slow connection, a busy
  // device) would otherwise wait for a second choice: it goes up now.
  Array.prototype.forEach.call(
    document.querySelectorAll("input[type=file][data-presign]"),
    function (input) { if (input.files && input.files.length) { upload(input); } }
  );
})();
