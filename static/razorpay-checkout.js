// Opens Razorpay Checkout for the order on this page, then posts the signed result back to us.
(function () {
  "use strict";
  function open() {
    var form = document.getElementById("razorpay-return");
    if (!form || typeof window.Razorpay !== "function") { return; }
    var checkout = new window.Razorpay({
      key: form.dataset.key,
      order_id: form.dataset.order,
      amount: form.dataset.amount,
      currency: form.dataset.currency,
      name: "Amora",
      description: form.dataset.description,
      prefill: { email: form.dataset.email, name: form.dataset.name },
      handler: function (result) {
        form.elements.razorpay_payment_id.value = result.razorpay_payment_id;
        form.elements.razorpay_signature.value = result.razorpay_signature;
        form.submit();
      }
    });
    checkout.open();
  }
  document.addEventListener("DOMContentLoaded", function () {
    var button = document.getElementById("razorpay-open");
    if (button) { button.addEventListener("click", open); }
    open();
  });
})();
