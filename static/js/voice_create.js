// The create-voice form keeps the chosen recordings when the server refuses it (consent forgotten,
// a name missing, one file not audio…): the form is posted with fetch, and on a 400 the page's
// new errors are swapped in around the very same <input type=file>, whose selection survives.
// Without JavaScript the form posts normally (and the files have to be chosen again).
(function () {
  "use strict";

  var container = document.getElementById("voice-create");
  if (!container || !window.fetch || !window.FormData || !window.DOMParser) return;

  function status(text, isError) {
    var region = document.getElementById("voice-create-status");
    if (!region) return;
    region.textContent = text;
    region.classList.toggle("chat-status--error", !!isError);
  }

  function bind(form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = form.querySelector("button[type=submit]");
      if (button) button.disabled = true;
      status("Uploading the recordings…");
      fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      }).then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        if (response.ok && type.indexOf("application/json") !== -1) {
          return response.json().then(function (data) { window.location.assign(data.redirect); });
        }
        if (response.status === 400 && type.indexOf("text/html") !== -1) {
          return response.text().then(showErrors);
        }
        throw new Error("HTTP " + response.status);
      }).catch(function () {
        if (button) button.disabled = false;
        status("The voice could not be created (the server did not answer). Your choices are kept: try again.", true);
      });
    });
  }

  // Replace the errors and the form with the server's, but keep the live file input (and its files).
  function showErrors(html) {
    var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("voice-create");
    var oldForm = document.getElementById("voice-create-form");
    if (!fresh || !oldForm) return;
    Array.prototype.forEach.call(oldForm.querySelectorAll("input[type=file]"), function (oldFiles) {
      var newFiles = fresh.querySelector('input[type=file][name="' + oldFiles.name + '"]');
      if (!newFiles) return;
      // Keep the server's error wiring (aria-describedby / aria-invalid) on the kept input.
      ["aria-describedby", "aria-invalid"].forEach(function (name) {
        if (newFiles.hasAttribute(name)) oldFiles.setAttribute(name, newFiles.getAttribute(name));
        else oldFiles.removeAttribute(name);
      });
      newFiles.replaceWith(oldFiles);
    });
    // The consent phrase the speaker recorded stays (consent_phrase.js binds the fresh block again).
    var oldPhrase = oldForm.querySelector("[data-consent-phrase]");
    var newPhrase = fresh.querySelector("[data-consent-phrase]");
    if (oldPhrase && newPhrase) {
      newPhrase.querySelector("[data-phrase-text]").textContent = oldPhrase.querySelector("[data-phrase-text]").textContent;
      newPhrase.querySelector("[data-phrase-token]").value = oldPhrase.querySelector("[data-phrase-token]").value;
    }
    container.replaceChildren.apply(container, Array.prototype.slice.call(fresh.childNodes));
    var form = document.getElementById("voice-create-form");
    bind(form);
    if (window.consentPhraseSetup) window.consentPhraseSetup(form);
    var firstError = container.querySelector(".form-errors, .field--error");
    if (firstError) {
      var control = firstError.querySelector("input:not([type=hidden]), textarea, select");
      (control || firstError).focus();
      firstError.scrollIntoView({ block: "center" });
    }
  }

  bind(document.getElementById("voice-create-form"));
})();
