// The recorded consent phrase (docs/consent.md): fetch a phrase naming the speaker and the voice as they are
// typed, keep its token in the form, and record the speaker reading it in the browser (recorder.js). The
// recording goes into the form's file input, so the form posts it like an uploaded file.
(function () {
  "use strict";

  function byId(id) { return id ? document.getElementById(id) : null; }

  function setup(block) {
    var text = block.querySelector("[data-phrase-text]");
    var token = block.querySelector("[data-phrase-token]");
    var file = block.querySelector("[data-phrase-file]");
    var button = block.querySelector("[data-phrase-record]");
    var statusRegion = block.querySelector("[data-phrase-status]");
    var nameInput = byId(block.dataset.nameInput);
    var speakerInput = byId(block.dataset.speakerInput);
    var timer = null;

    function status(message) { if (statusRegion) statusRegion.textContent = message; }

    function refresh() {
      if (!nameInput && !speakerInput) return;  // a phrase issued with the page (remote consent)
      var name = nameInput ? nameInput.value.trim() : (block.dataset.voiceName || "");
      var speaker = speakerInput ? speakerInput.value.trim() : "";
      if (!name || !speaker || !window.fetch) return;
      var url = block.dataset.phraseUrl + "?name=" + encodeURIComponent(name) + "&speaker_name=" + encodeURIComponent(speaker);
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (!data) return;
          text.textContent = data.phrase;
          token.value = data.token;
          if (file) file.value = "";  // a recording of the previous phrase no longer matches
        });
    }

    [nameInput, speakerInput].forEach(function (input) {
      if (!input) return;
      input.addEventListener("input", function () {
        clearTimeout(timer);
        timer = setTimeout(refresh, 400);
      });
    });
    if (!token.value) refresh();

    if (!button || !window.VoiceRecorder || !window.VoiceRecorder.isSupported() || !window.DataTransfer) return;
    button.hidden = false;
    var recorder = new window.VoiceRecorder();
    button.addEventListener("click", function () {
      if (recorder.isRecording()) {
        recorder.stop().then(function (result) {
          var transfer = new DataTransfer();
          transfer.items.add(new File([result.blob], "consent" + result.filename.replace("recording", ""),
                                      { type: result.mimeType.split(";")[0] }));
          file.files = transfer.files;
          button.textContent = "Record again";
          status("Recorded. Send the form to give consent.");
        });
        return;
      }
      recorder.start().then(function () {
        button.textContent = "Stop recording";
        status("Recording… read the phrase aloud, then stop.");
      }, function () { status("The microphone is not available: upload a recording instead."); });
    });
  }

  window.consentPhraseSetup = function (root) {
    Array.prototype.forEach.call((root || document).querySelectorAll("[data-consent-phrase]"), setup);
  };
  window.consentPhraseSetup(document);
})();
