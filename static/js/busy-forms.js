/* Forms whose action takes seconds (the OIV's validation renders the frozen Relazione, its PDF
 * and the documento di validazione): on submit the button is disabled, so a second click does
 * not send the form again, and the message of the form's data-busy attribute is announced in
 * the form's status region (role="status"). Without JavaScript the form works as it is.
 */
(function () {
  "use strict";

  var forms = document.querySelectorAll("form[data-busy]");
  Array.prototype.forEach.call(forms, function (form) {
    form.addEventListener("submit", function () {
      if (form.getAttribute("data-busy-sent")) {
        return;
      }
      form.setAttribute("data-busy-sent", "1");
      var buttons = form.querySelectorAll('button[type="submit"]');
      // disabled after the submit event, so the browser still sends the form
      window.setTimeout(function () {
        Array.prototype.forEach.call(buttons, function (button) {
          button.disabled = true;
          button.setAttribute("aria-disabled", "true");
        });
      }, 0);
      var status = form.querySelector('[data-role="busy"]');
      if (status) {
        status.textContent = form.getAttribute("data-busy");
        status.hidden = false;
      }
    });
  });
})();
