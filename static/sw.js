// Amora's service worker (served at /sw.js, so that it covers the whole site): the installed app
// opens, and when the network is gone a page says so instead of the browser's error. It keeps
// only public files (the stylesheet, scripts, icons and the offline page), never a member's
// pages: those always come from the network. Files are fetched from the network first, so an
// update shows at once; the kept copy is used only offline.
"use strict";
var SHELL = "amora-shell-1";
var FILES = [
  "/offline",
  "/static/app.css",
  "/static/vendor/htmx/htmx-2.0.11.min.js",
  "/static/icons/icon-192.png",
  "/static/favicon.svg"
];

self.addEventListener("install", function (event) {
  event.waitUntil(
    caches.open(SHELL).then(function (cache) { return cache.addAll(FILES); })
      .then(function () { return self.skipWaiting(); })
  );
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys().then(function (names) {
      return Promise.all(names.filter(function (name) { return name !== SHELL; })
        .map(function (name) { return caches.delete(name); }));
    }).then(function () { return self.clients.claim(); })
  );
});

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") { return; }
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  if (request.mode === "navigate") {
    event.respondWith(fetch(request).catch(function () { return caches.match("/offline"); }));
    return;
  }
  if (url.pathname.indexOf("/static/") === 0) {
    event.respondWith(fetch(request).catch(function () {
      return caches.match(request, { ignoreSearch: true });
    }));
  }
});
