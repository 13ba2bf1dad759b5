// Uploads (profile photos, the creator vault): ask our server for a pre-signed form, post each
// file straight to storage, then confirm, and swap the refreshed list in.
// <input type="file" data-presign="…" data-confirm="…" data-target="photos" data-status="photo-status">
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
  function uploadOne(input, file) {
    var body = { content_type: file.type, size: file.size };
    document.querySelectorAll("[data-upload-field]").forEach(function (field) {
      body[field.dataset.uploadField] = field.type === "checkbox" ? field.checked : field.value;
    });
    return postJSON(input.dataset.presign, body)
      .then(function (response) {
        return response.json().then(function (data) {
          if (!response.ok) { throw new Error(data.error || "Upload refused."); }
          return data;
        });
      })
      .then(function (presigned) {
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
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (input && input.type === "file" && input.dataset && input.dataset.presign) { upload(input); }
  });
})();
