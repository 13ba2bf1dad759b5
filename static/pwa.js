// Registers the service worker (/sw.js): the site installs as an app and opens offline.
(function () {
  "use strict";
  if ("serviceWorker" in navigator) {
    window.addEventListener("load", function () {
      navigator.serviceWorker.register("/sw.js").catch(function () { /* the site works without */ });
    });
  }
}());
