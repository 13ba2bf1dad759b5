// Photo upload: ask our server for a pre-signed form, post the file straight to storage,
// then confirm, and swap the refreshed photo list in.
(function () {
  "use strict";
  function csrf() {
    var meta = document.querySelector("meta[name='csrf-token']");
    return meta ? meta.content : "";
  }
  function say(text) {
    var status = document.getElementById("photo-status");
    if (status) { status.textContent = text; }
  }
  function postJSON(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf(), "HX-Request": "true" },
      body: JSON.stringify(body)
    });
  }
  function upload(input) {
    var file = input.files && input.files[0];
    if (!file) { return; }
    say("Uploading…");
    postJSON(input.dataset.presign, { content_type: file.type, size: file.size })
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
            if (!response.ok) { throw new Error("The upload failed (" + response.status + ")."); }
            return postJSON(input.dataset.confirm, { key: presigned.key });
          });
      })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        var box = document.getElementById("photos");
        box.outerHTML = html;
        var fresh = document.getElementById("photos");
        if (window.htmx && fresh) { window.htmx.process(fresh); }
      })
      .catch(function (error) { say(error.message); });
  }
  document.addEventListener("change", function (event) {
    if (event.target && event.target.id === "photo-file") { upload(event.target); }
  });
})();
