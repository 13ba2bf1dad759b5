// Device check (docs/security.md#sessions-and-devices): hashes stable browser attributes into a
// SHA-256 hex string and puts it in the hidden "device_fp" field of sign-up and login forms.
// First-party, no library, and nothing leaves the browser except the hash.
(function () {
  "use strict";

  function attributes() {
    var nav = window.navigator || {};
    var scr = window.screen || {};
    var zone = "";
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { zone = ""; }
    return [
      nav.userAgent, (nav.languages || []).join(","), nav.language, nav.platform,
      nav.hardwareConcurrency, nav.deviceMemory, nav.maxTouchPoints,
      scr.width + "x" + scr.height, scr.colorDepth, window.devicePixelRatio, zone,
      new Date(2020, 0, 1).getTimezoneOffset()
    ].join("|");
  }

  function hex(buffer) {
    return Array.prototype.map.call(new Uint8Array(buffer), function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  function fill(value) {
    var fields = document.querySelectorAll("input[name='device_fp']");
    for (var i = 0; i < fields.length; i++) { fields[i].value = value; }
  }

  var computed = null;
  function run() {
    if (computed) { fill(computed); return; }
    if (!(window.crypto && window.crypto.subtle && window.TextEncoder)) { return; }
    window.crypto.subtle.digest("SHA-256", new TextEncoder().encode(attributes()))
      .then(function (digest) { computed = hex(digest); fill(computed); });
  }

  document.addEventListener("DOMContentLoaded", run);
  document.addEventListener("htmx:afterSwap", run);  // forms swapped back with errors
})();
