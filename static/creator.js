// Creator pages: send the browser's time zone offset with a scheduled time (datetime-local
// inputs carry no zone).
(function () {
  "use strict";
  function fill() {
    var offset = String(new Date().getTimezoneOffset());
    document.querySelectorAll("input[data-tz-offset]").forEach(function (input) { input.value = offset; });
  }
  document.addEventListener("DOMContentLoaded", fill);
  document.addEventListener("htmx:afterSwap", fill);
})();
