// Settings → Account → Appearance: the choice applies to the page at once (the form also saves
// it, by htmx, for the next pages); "as my device is set" hands back to prefers-color-scheme.
(function () {
  "use strict";
  function init() {
    var form = document.querySelector("[data-theme-form]");
    if (!form) { return; }
    form.addEventListener("change", function (event) {
      var value = event.target && event.target.value;
      if (value === "light" || value === "dark") { document.documentElement.dataset.theme = value; }
      else { delete document.documentElement.dataset.theme; }
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); }
  else { init(); }
}());
