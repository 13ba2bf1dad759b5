// "Use my current location": asks the browser, then submits the rounded coordinates with htmx.
(function () {
  "use strict";
  function ask(event) {
    var form = document.getElementById("geo-form");
    var status = document.getElementById("geo-status");
    if (!form || !navigator.geolocation) {
      if (status) { status.textContent = "Your browser cannot share its location; pick a city."; }
      return;
    }
    status.textContent = "Asking your browser…";
    navigator.geolocation.getCurrentPosition(function (position) {
      form.elements.latitude.value = position.coords.latitude.toFixed(4);
      form.elements.longitude.value = position.coords.longitude.toFixed(4);
      if (window.htmx) { window.htmx.trigger(form, "submit"); } else { form.submit(); }
    }, function () {
      status.textContent = "Location was not shared. Pick a city instead.";
    }, { enableHighAccuracy: false, timeout: 10000, maximumAge: 600000 });
    event.preventDefault();
  }
  document.addEventListener("click", function (event) {
    if (event.target && event.target.id === "use-location") { ask(event); }
  });
})();
