// Voice detail page: while the voice is being created, check its status every 3 s and reload the
// page once it changes (ready or failed). Without JavaScript a <noscript> meta refresh does the same.
(function () {
  "use strict";
  var section = document.getElementById("voice-status");
  if (!section || !section.dataset.pollUrl) return;
  var url = section.dataset.pollUrl;

  function check() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (voice) {
        if (voice.status !== "creating") {
          window.location.reload();
        } else {
          window.setTimeout(check, 3000);
        }
      })
      .catch(function () {
        window.setTimeout(check, 6000);
      });
  }
  window.setTimeout(check, 3000);
})();
