// A small wrapper around MediaRecorder for the chat page: start(), stop() -> {blob, filename, mimeType}.
// The server validates recordings by content (WebM/Opus, Ogg/Opus, MP4/AAC, WAV...), so we record in
// whatever the browser supports, preferring Opus.
(function () {
  "use strict";

  var CANDIDATE_TYPES = [
    "audio/webm;codecs=opus",
    "audio/ogg;codecs=opus",
    "audio/webm",
    "audio/mp4",
    "audio/ogg",
  ];

  function pickMimeType() {
    if (!window.MediaRecorder || typeof MediaRecorder.isTypeSupported !== "function") return "";
    for (var i = 0; i < CANDIDATE_TYPES.length; i++) {
      if (MediaRecorder.isTypeSupported(CANDIDATE_TYPES[i])) return CANDIDATE_TYPES[i];
    }
    return "";
  }

  function extensionFor(mimeType) {
    if (mimeType.indexOf("ogg") !== -1) return ".ogg";
    if (mimeType.indexOf("mp4") !== -1 || mimeType.indexOf("aac") !== -1) return ".m4a";
    if (mimeType.indexOf("wav") !== -1) return ".wav";
    return ".webm";
  }

  function VoiceRecorder() {
    this.stream = null;
    this.recorder = null;
    this.chunks = [];
  }

  VoiceRecorder.isSupported = function () {
    return !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia && window.MediaRecorder);
  };

  VoiceRecorder.prototype.isRecording = function () {
    return !!this.recorder && this.recorder.state === "recording";
  };

  // Resolves once recording has started; rejects when the microphone is unavailable or refused.
  VoiceRecorder.prototype.start = function () {
    var self = this;
    return navigator.mediaDevices.getUserMedia({ audio: true }).then(function (stream) {
      var mimeType = pickMimeType();
      self.stream = stream;
      self.chunks = [];
      self.recorder = mimeType ? new MediaRecorder(stream, { mimeType: mimeType }) : new MediaRecorder(stream);
      self.recorder.ondataavailable = function (event) {
        if (event.data && event.data.size) self.chunks.push(event.data);
      };
      self.recorder.start();
    });
  };

  VoiceRecorder.prototype.stop = function () {
    var self = this;
    return new Promise(function (resolve, reject) {
      var recorder = self.recorder;
      if (!recorder || recorder.state === "inactive") {
        reject(new Error("Not recording."));
        return;
      }
      recorder.onstop = function () {
        var mimeType = recorder.mimeType || pickMimeType() || "audio/webm";
        var blob = new Blob(self.chunks, { type: mimeType.split(";")[0] });
        self.release();
        resolve({ blob: blob, filename: "recording" + extensionFor(mimeType), mimeType: mimeType });
      };
      recorder.onerror = function (event) {
        self.release();
        reject(event.error || new Error("Recording failed."));
      };
      recorder.stop();
    });
  };

  // Stop using the microphone (the browser's recording indicator goes away).
  VoiceRecorder.prototype.release = function () {
    if (this.stream) {
      this.stream.getTracks().forEach(function (track) { track.stop(); });
    }
    this.stream = null;
    this.recorder = null;
    this.chunks = [];
  };

  window.VoiceRecorder = VoiceRecorder;
})();
