// The chat page: send text or a recording through the JSON API, show pending replies as
// "…speaking" and follow them until they are ready (text + audio) or failed (reason + Retry). Updates
// come live from the conversation's event stream (Server-Sent Events): the reply's text as soon as it
// is written, its audio while it is spoken (played from the stream endpoint), then ready or failed,
// and voice version changes. Without EventSource, or when the stream cannot be opened, the page polls
// the reply and the events feed instead. No page reloads; without JavaScript the page's forms post to
// the server instead. docs/pages.md describes the behaviour; in short:
//
// - Playback: one reply plays at a time. Whatever starts playing (a reply arriving, or the user
//   pressing play on any message) pauses every other audio on the page. Only the reply to the
//   newest message sent from this page autoplays; an older reply that arrives later waits, with its
//   controls, for the user to press play.
// - Sending: the composer is cleared the moment a message is accepted into the outbox, so whatever
//   the user types next is never touched. Messages are sent one at a time, in order; each shows in
//   the log at once ("Sending…", then "Queued" for the next ones), and one that cannot be sent stays
//   there with its reason and a "Send again" button (same idempotency key: never a second turn).
//
// Test hooks (tests/e2e): #chat[data-outbox] is the number of messages not yet accepted by the
// server; li.msg--sending / li.msg--unsent are the outbox's bubbles; #chat[data-live] is "open" while
// the event stream is connected ("closed" once it gave up: polling then); audio[data-streaming] is a
// reply played while it is spoken.
(function () {
  "use strict";

  var root = document.getElementById("chat");
  if (!root || !window.fetch) return;

  var log = document.getElementById("message-log");
  var statusRegion = document.getElementById("chat-status");
  var composer = document.getElementById("composer");
  var textBox = composer ? composer.querySelector("textarea[name=text]") : null;
  var sendButton = document.getElementById("send-button");
  var recordButton = document.getElementById("record-button");
  var recordTimer = document.getElementById("record-timer");
  var loadEarlierButton = document.getElementById("load-earlier");

  var cfg = {
    voiceId: root.dataset.voiceId,
    voiceName: root.dataset.voiceName,
    canSend: root.dataset.canSend === "true",
    messagesUrl: root.dataset.messagesUrl,
    messageUrlTemplate: root.dataset.messageUrlTemplate,
    retryUrlTemplate: root.dataset.retryUrlTemplate,
    pageRetryUrlTemplate: root.dataset.pageRetryUrlTemplate,
    placeholder: root.dataset.uuidPlaceholder,
    eventsUrl: root.dataset.eventsUrl,
    liveEventsUrl: root.dataset.liveEventsUrl,
    streamUrlTemplate: root.dataset.streamUrlTemplate,
    lastEventId: parseInt(root.dataset.lastEventId, 10) || 0,
  };

  var POLL_FIRST_MS = 1000;
  var POLL_MAX_MS = 5000;
  var EVENTS_EVERY_MS = 5000;
  var MAX_RECORDING_S = 120;

  // ---- helpers ---------------------------------------------------------------------------------

  function urlFor(template, id) {
    return template.replace(cfg.placeholder, id);
  }

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    if (input) return input.value;
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function newIdempotencyKey() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
    return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
  }

  // fetch() wrapper: resolves with {ok, status, data} (data = parsed JSON or null); rejects only
  // when the server cannot be reached.
  function api(method, url, body, extraHeaders) {
    var headers = { Accept: "application/json" };
    if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
    Object.keys(extraHeaders || {}).forEach(function (name) { headers[name] = extraHeaders[name]; });
    var init = { method: method, credentials: "same-origin", headers: headers };
    if (body instanceof FormData) {
      init.body = body;
    } else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(url, init).then(function (response) {
      return response.text().then(function (raw) {
        var data = null;
        try { data = raw ? JSON.parse(raw) : null; } catch (e) { data = null; }
        return { ok: response.ok, status: response.status, data: data };
      });
    });
  }

  function errorText(result) {
    var data = result.data;
    if (data && data.errors && typeof data.errors === "object") {
      var messages = [];
      Object.keys(data.errors).forEach(function (field) {
        var value = data.errors[field];
        messages = messages.concat(Array.isArray(value) ? value : [String(value)]);
      });
      if (messages.length) return messages.join(" ");
    }
    if (data && data.detail) return String(data.detail);
    if (result.status === 403) return "Your session has expired. Reload the page and log in again.";
    return "Something went wrong (HTTP " + result.status + "). Please try again.";
  }

  function announce(text, isError) {
    statusRegion.textContent = text;
    statusRegion.classList.toggle("chat-status--error", !!isError);
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function timeElement(iso) {
    var time = el("time", null, window.voiceclone && window.voiceclone.formatLocalTime
      ? window.voiceclone.formatLocalTime(iso, "auto") : "");
    time.setAttribute("datetime", iso || "");
    time.dataset.local = "auto";
    return time;
  }

  function scrollToEnd(node) {
    if (node && node.scrollIntoView) node.scrollIntoView({ block: "end", behavior: "smooth" });
  }

  function removeEmptyNote() {
    var note = document.getElementById("chat-empty");
    if (note) note.remove();
  }

  // ---- rendering (mirrors templates/conversations/_message.html) -------------------------------

  function buildMeta(m) {
    var meta = el("div", "msg__meta");
    if (m.role === "assistant") {
      meta.appendChild(el("span", "msg__author", cfg.voiceName));
      meta.appendChild(el("span", "tag tag--ai", "AI-generated"));
      if (m.reply_engine_label) meta.appendChild(el("span", "msg__engine", m.reply_engine_label));
      if (m.voice_version) meta.appendChild(el("span", "msg__version", "voice v" + m.voice_version));
    } else {
      meta.appendChild(el("span", "msg__author", "You"));
      if (m.input_kind === "audio") meta.appendChild(el("span", "tag", "voice message"));
    }
    meta.appendChild(timeElement(m.created_at));
    return meta;
  }

  // A pending reply whose first attempt was interrupted (worker stopped) says so (docs/reliability.md).
  function pendingText(m) {
    return m.is_retrying ? "…retrying (the first attempt was interrupted)" : "…speaking";
  }

  // The body of a reply by status: ready (text + audio), pending, failed (reason + Retry).
  function appendReplyBody(li, m) {
    if (m.status === "ready") {
      li.appendChild(el("p", "msg__text", m.text));
      if (m.audio_url) {
        var audio = el("audio", "msg__audio");
        audio.controls = true;
        audio.preload = "auto";
        audio.src = m.audio_url;
        audio.setAttribute("aria-label", "Spoken reply (AI-generated)");
        li.appendChild(audio);
      }
    } else if (m.status === "pending") {
      li.appendChild(el("p", "msg__pending", pendingText(m)));
    } else {
      li.appendChild(el("p", "msg__error", m.failure_reason || "The reply could not be produced."));
      if (cfg.canSend) {
        var form = el("form", "msg__retry");
        form.method = "post";
        form.action = urlFor(cfg.pageRetryUrlTemplate, m.id);
        var button = el("button", "button button--small", "Retry");
        button.type = "submit";
        form.appendChild(button);
        li.appendChild(form);
      }
    }
  }

  function appendUserBody(li, m) {
    if (m.text) {
      li.appendChild(el("p", "msg__text", m.text));
    } else if (m.input_kind === "audio") {
      li.appendChild(el("p", "msg__text muted", "(transcribing…)"));
    }
    if (m.audio_url) {
      var own = el("audio", "msg__audio");
      own.controls = true;
      own.preload = "none";
      own.src = m.audio_url;
      own.setAttribute("aria-label", "Your recording");
      li.appendChild(own);
    }
  }

  function buildMessage(m) {
    var li = el("li", "msg msg--" + m.role + " msg--" + m.status);
    li.id = "msg-" + m.id;
    li.dataset.messageId = m.id;
    li.dataset.role = m.role;
    li.dataset.status = m.status;
    li.dataset.inputKind = m.input_kind || "text";
    li.appendChild(buildMeta(m));
    if (m.role === "assistant") appendReplyBody(li, m);
    else appendUserBody(li, m);
    return li;
  }

  function replaceMessage(oldLi, m) {
    var li = buildMessage(m);
    if (oldLi && oldLi.dataset.replyTo) li.dataset.replyTo = oldLi.dataset.replyTo;
    // A reply heard while it was spoken keeps its audio element (same bytes as the stored clip), so
    // playback goes on undisturbed when the reply turns ready. Moved within one task: it keeps playing.
    var streaming = oldLi ? oldLi.querySelector("audio[data-streaming]") : null;
    if (streaming && m.status === "ready") {
      var stored = li.querySelector("audio");
      if (stored) li.replaceChild(streaming, stored);
      else li.appendChild(streaming);
    }
    if (oldLi && oldLi.parentNode) {
      oldLi.parentNode.replaceChild(li, oldLi);
    } else {
      log.appendChild(li);
    }
    return li;
  }

  function appendNotice(text) {
    var li = el("li", "notice-item", text);
    li.setAttribute("role", "status");
    log.appendChild(li);
    scrollToEnd(li);
  }

  // ---- playback: one reply at a time, only the newest autoplays --------------------------------

  var playback = (function () {
    // The reply to the newest message sent from this page: the only one that may autoplay.
    var newestReplyId = null;

    function pauseAllExcept(keep) {
      Array.prototype.forEach.call(document.querySelectorAll("audio"), function (audio) {
        if (audio !== keep && !audio.paused) audio.pause();
      });
    }

    // "play" does not bubble; capture it for every audio on the page, including the user's own
    // presses on older messages, so two never sound at once.
    document.addEventListener("play", function (event) {
      if (event.target && event.target.tagName === "AUDIO") pauseAllExcept(event.target);
    }, true);

    return {
      expectReply: function (replyId) { newestReplyId = String(replyId); },
      isNewest: function (replyId) { return newestReplyId !== null && String(replyId) === newestReplyId; },
      // A reply became ready: play it if it answers the newest message, stopping any other.
      replyReady: function (li) {
        var audio = li.querySelector("audio");
        if (!audio || !this.isNewest(li.dataset.messageId)) return;
        pauseAllExcept(audio);
        var playing = audio.play();
        if (playing && typeof playing.catch === "function") {
          playing.catch(function (error) {
            // Autoplay blocked (no user gesture yet): the controls stay for a manual play. An
            // AbortError only means a newer reply took over; nothing to say.
            if (error && error.name === "NotAllowedError") announce("Reply ready. Press play to listen.");
          });
        }
      },
    };
  })();

  // ---- polling pending replies -----------------------------------------------------------------

  var polling = {};

  function pollMessage(id) {
    if (polling[id]) return;
    polling[id] = true;
    var attempt = 0;

    function nextDelay() {
      var delay = Math.min(POLL_FIRST_MS * Math.pow(1.3, attempt), POLL_MAX_MS);
      attempt += 1;
      return delay;
    }

    function tick() {
      var current = document.getElementById("msg-" + id);
      if (!current || current.dataset.status !== "pending") { delete polling[id]; return; }
      // While the event stream is connected it tells when the reply is ready: no request.
      if (live.connected()) { window.setTimeout(tick, nextDelay()); return; }
      api("GET", urlFor(cfg.messageUrlTemplate, id)).then(function (result) {
        if (result.status === 404) { delete polling[id]; return; }
        if (!result.ok || !result.data) { window.setTimeout(tick, nextDelay() * 2); return; }
        var m = result.data;
        if (m.status === "pending") {
          var row = document.getElementById("msg-" + id);
          var pending = row && row.querySelector(".msg__pending");
          if (pending) pending.textContent = pendingText(m);
          window.setTimeout(tick, nextDelay());
          return;
        }
        delete polling[id];
        var li = replaceMessage(document.getElementById("msg-" + id), m);
        if (m.status === "ready") {
          onReplyReady(li);
        } else {
          announce("The reply failed: " + (m.failure_reason || "unknown reason") + ".", true);
        }
      }).catch(function () {
        window.setTimeout(tick, Math.max(nextDelay(), 3000));
      });
    }
    window.setTimeout(tick, nextDelay());
  }

  function onReplyReady(li) {
    if (!outbox.size()) announce("");
    scrollToEnd(li);
    // A reply already heard while spoken is not started again (it may have ended, or been paused).
    if (!li.querySelector("audio[data-streaming]")) playback.replyReady(li);
    // A voice message's transcript is written while the reply is produced: refresh it now.
    var userId = li.dataset.replyTo;
    var userLi = userId ? document.getElementById("msg-" + userId) : null;
    if (userLi && userLi.dataset.inputKind === "audio") {
      api("GET", urlFor(cfg.messageUrlTemplate, userId)).then(function (result) {
        if (result.ok && result.data) replaceMessage(userLi, result.data);
      }).catch(function () { /* the transcript shows on the next page load */ });
    }
  }

  // ---- sending: the outbox ---------------------------------------------------------------------

  var outbox = (function () {
    var items = [];     // {key, body, kind, text, li}, oldest first; items[0] is in flight when `sending`
    var sending = false;
    var localIds = 0;

    function syncHooks() {
      root.dataset.outbox = String(items.length);
      if (composer) composer.setAttribute("aria-busy", sending ? "true" : "false");
    }

    // The message as it will look once sent, marked "Sending…"/"Queued" until the server has it.
    function buildPending(item) {
      var li = el("li", "msg msg--user msg--sending");
      li.dataset.localId = "local-" + (++localIds);
      li.dataset.status = "sending";
      var meta = el("div", "msg__meta");
      meta.appendChild(el("span", "msg__author", "You"));
      if (item.kind === "audio") meta.appendChild(el("span", "tag", "voice message"));
      meta.appendChild(el("span", "msg__delivery", "Queued"));
      li.appendChild(meta);
      li.appendChild(el("p", "msg__text", item.kind === "audio" ? "(voice message)" : item.text));
      return li;
    }

    function setDelivery(item, text, state) {
      item.li.querySelector(".msg__delivery").textContent = text;
      item.li.dataset.status = state;
      item.li.classList.toggle("msg--sending", state === "sending");
      item.li.classList.toggle("msg--unsent", state === "unsent");
    }

    function markUnsent(item, reason) {
      setDelivery(item, "Not sent", "unsent");
      var note = el("p", "msg__error", reason);
      var again = el("button", "button button--small msg__send-again", "Send again");
      again.type = "button";
      again.addEventListener("click", function () {
        note.remove();
        again.remove();
        add(item);  // same idempotency key: the server never makes a second turn from it
      });
      item.li.appendChild(note);
      item.li.appendChild(again);
    }

    function accepted(item, turn) {
      var userLi = buildMessage(turn.user_message);
      item.li.parentNode.replaceChild(userLi, item.li);
      var reply = turn.assistant_message;
      var replyLi = buildMessage(reply);
      replyLi.dataset.replyTo = turn.user_message.id;
      userLi.parentNode.insertBefore(replyLi, userLi.nextSibling);
      playback.expectReply(reply.id);
      scrollToEnd(replyLi);
      if (reply.status === "pending") {
        // The event stream may have told about this reply before the POST answered.
        catchUp(replyLi);
        // Live: ask for its audio now. The stream endpoint answers with the first chunk the worker spools,
        // so playback does not wait for the message.audio_streaming event to come round.
        if (live.connected()) streamReply(replyLi);
        pollMessage(reply.id);
      }
      else if (reply.status === "ready") onReplyReady(replyLi);
    }

    function pump() {
      if (sending || !items.length) { syncHooks(); return; }
      sending = true;
      var item = items[0];
      setDelivery(item, "Sending…", "sending");
      syncHooks();
      announce(items.length > 1 ? "Sending… (" + (items.length - 1) + " more queued)" : "Sending…");
      api("POST", cfg.messagesUrl, item.body(), { "Idempotency-Key": item.key })
        .then(function (result) {
          if (result.status === 202 && result.data && result.data.assistant_message) {
            accepted(item, result.data);
            announce(cfg.voiceName + " is speaking…");
          } else {
            markUnsent(item, errorText(result));
            announce(errorText(result), true);
          }
        }, function () {
          var reason = "Could not reach the server. Check your connection and send again.";
          markUnsent(item, reason);
          announce(reason, true);
        })
        .then(function () {
          items.shift();
          sending = false;
          pump();
        });
    }

    function add(item) {
      if (!item.li) {
        item.li = buildPending(item);
        removeEmptyNote();
        log.appendChild(item.li);
      } else {
        log.appendChild(item.li);  // a message sent again moves to the end, where it now belongs
      }
      setDelivery(item, "Queued", "queued");
      scrollToEnd(item.li);
      items.push(item);
      pump();
    }

    return {
      sendText: function (text) {
        add({ key: newIdempotencyKey(), kind: "text", text: text, body: function () { return { text: text }; } });
      },
      sendRecording: function (recording) {
        add({
          key: newIdempotencyKey(), kind: "audio", text: "",
          body: function () {
            var form = new FormData();
            form.append("audio", recording.blob, recording.filename);
            return form;
          },
        });
      },
      size: function () { return items.length; },
      syncHooks: syncHooks,
    };
  })();

  if (composer && textBox) {
    composer.addEventListener("submit", function (event) {
      event.preventDefault();
      var text = textBox.value.trim();
      if (!text) {
        announce("Write a message first.", true);
        textBox.focus();
        return;
      }
      // Cleared now, before any network round trip: what is typed next is never touched.
      textBox.value = "";
      outbox.sendText(text);
    });
    textBox.addEventListener("keydown", function (event) {
      // Enter sends; Shift+Enter starts a new line.
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        if (typeof composer.requestSubmit === "function") composer.requestSubmit();
        else composer.dispatchEvent(new Event("submit", { cancelable: true }));
      }
    });
  }

  // ---- recording -------------------------------------------------------------------------------

  var recorder = window.VoiceRecorder ? new window.VoiceRecorder() : { isRecording: function () { return false; } };
  var timerHandle = null;
  var recordStartedAt = 0;

  function showTimer(on) {
    if (!recordTimer) return;
    recordTimer.hidden = !on;
    if (timerHandle) { window.clearInterval(timerHandle); timerHandle = null; }
    if (!on) return;
    recordStartedAt = Date.now();
    recordTimer.textContent = "0:00";
    timerHandle = window.setInterval(function () {
      var seconds = Math.floor((Date.now() - recordStartedAt) / 1000);
      recordTimer.textContent = Math.floor(seconds / 60) + ":" + String(seconds % 60).padStart(2, "0");
      if (seconds >= MAX_RECORDING_S) stopRecording();
    }, 250);
  }

  function setRecordingUi(on) {
    recordButton.textContent = on ? "Stop and send" : "Record";
    recordButton.setAttribute("aria-pressed", on ? "true" : "false");
    recordButton.classList.toggle("button--recording", on);
    if (sendButton) sendButton.disabled = on;
    showTimer(on);
  }

  function startRecording() {
    recordButton.disabled = true;
    recorder.start().then(function () {
      recordButton.disabled = false;
      setRecordingUi(true);
      announce("Recording… press “Stop and send” when you are done.");
    }).catch(function (error) {
      recordButton.disabled = false;
      var reason = error && error.name === "NotAllowedError"
        ? "Microphone access was refused. Allow it in your browser to send voice messages."
        : "No microphone is available.";
      announce(reason, true);
    });
  }

  function stopRecording() {
    setRecordingUi(false);
    return recorder.stop().then(function (recording) {
      if (!recording.blob.size) {
        announce("Nothing was recorded. Please try again.", true);
        return;
      }
      outbox.sendRecording(recording);
    }).catch(function () {
      announce("The recording failed. Please try again.", true);
    });
  }

  if (recordButton && window.VoiceRecorder && window.VoiceRecorder.isSupported()) {
    recordButton.hidden = false;
    recordButton.addEventListener("click", function () {
      if (recorder.isRecording()) stopRecording();
      else startRecording();
    });
  }

  // ---- retry -----------------------------------------------------------------------------------

  log.addEventListener("submit", function (event) {
    var form = event.target.closest ? event.target.closest(".msg__retry") : null;
    if (!form) return;
    event.preventDefault();
    var li = form.closest(".msg");
    var id = li.dataset.messageId;
    var button = form.querySelector("button");
    if (button) button.disabled = true;
    api("POST", urlFor(cfg.retryUrlTemplate, id)).then(function (result) {
      if (result.ok && result.data) {
        replaceMessage(li, result.data);
        announce(cfg.voiceName + " is speaking…");
        playback.expectReply(id);
        if (result.data.status === "pending") pollMessage(id);
      } else {
        announce(errorText(result), true);
        if (button) button.disabled = false;
      }
    }).catch(function () {
      announce("Could not reach the server. Try again.", true);
      if (button) button.disabled = false;
    });
  });

  // ---- earlier messages (API cursor, oldest first) ---------------------------------------------

  if (loadEarlierButton) {
    loadEarlierButton.hidden = false;
    loadEarlierButton.addEventListener("click", function () {
      var first = log.querySelector(".msg");
      if (!first) return;
      var firstId = first.dataset.messageId;
      var earlier = [];
      loadEarlierButton.disabled = true;

      function finish() {
        earlier.forEach(function (m) {
          log.insertBefore(buildMessage(m), first);
          if (m.role === "assistant" && m.status === "pending") pollMessage(m.id);
        });
        loadEarlierButton.hidden = true;
        announce(earlier.length + " earlier messages loaded.");
      }

      function page(url) {
        api("GET", url).then(function (result) {
          if (!result.ok || !result.data) throw new Error("HTTP " + result.status);
          var results = result.data.results || [];
          for (var i = 0; i < results.length; i++) {
            if (results[i].id === firstId) { finish(); return; }
            earlier.push(results[i]);
          }
          if (result.data.next) page(result.data.next);
          else finish();
        }).catch(function () {
          loadEarlierButton.disabled = false;
          announce("Could not load earlier messages.", true);
        });
      }
      page(cfg.messagesUrl + (cfg.messagesUrl.indexOf("?") === -1 ? "?" : "&") + "page_size=200");
    });
  }

  // ---- events feed: voice version changes ------------------------------------------------------

  function handleEvent(event) {
    var id = parseInt(event.id, 10);
    if (!isNaN(id) && id > cfg.lastEventId) cfg.lastEventId = id;
    var payload = event.payload || {};
    if (event.type !== "voice.version_promoted" && event.type !== "voice.version_rolled_back") return;
    var voiceId = payload.voice_id || event.voice || event.voice_id;
    if (voiceId && String(voiceId) !== cfg.voiceId) return;
    var version = payload.version || payload.new_version || payload.version_number;
    if (!version) return;
    appendNotice("Voice updated to version " + version);
    var versionLabel = document.getElementById("voice-version");
    if (versionLabel) versionLabel.textContent = version;
  }

  var EVENT_TYPES = ["voice.version_promoted", "voice.version_rolled_back"];

  // GET /api/v1/events/?after=<id> -> {"results": [...], "cursor": <last id>, "has_more": bool}.
  function pollEvents() {
    if (!cfg.eventsUrl) return;
    if (live.connected()) { window.setTimeout(pollEvents, EVENTS_EVERY_MS); return; }
    var url = cfg.eventsUrl + (cfg.eventsUrl.indexOf("?") === -1 ? "?" : "&") +
      "after=" + encodeURIComponent(cfg.lastEventId) +
      EVENT_TYPES.map(function (type) { return "&type=" + encodeURIComponent(type); }).join("");
    api("GET", url).then(function (result) {
      if (result.status === 404) return; // no events feed on this server: stop polling
      var more = false;
      if (result.ok && result.data) {
        var events = Array.isArray(result.data) ? result.data : (result.data.results || []);
        events.forEach(handleEvent);
        var cursor = parseInt(result.data.cursor, 10);
        if (!isNaN(cursor) && cursor > cfg.lastEventId) cfg.lastEventId = cursor;
        more = !!result.data.has_more;
      }
      window.setTimeout(pollEvents, more ? 0 : EVENTS_EVERY_MS);
    }).catch(function () {
      window.setTimeout(pollEvents, EVENTS_EVERY_MS * 2);
    });
  }

  // ---- live: the conversation's event stream (SSE) ----------------------------------------------

  // A pending reply is being spoken: play it from the stream endpoint while it is produced (the
  // newest reply only starts by itself; others get their controls).
  function streamReply(li) {
    if (!cfg.streamUrlTemplate || li.querySelector("audio")) return;
    var audio = el("audio", "msg__audio");
    audio.controls = true;
    audio.preload = "auto";
    audio.dataset.streaming = "true";
    audio.dataset.streamUrl = urlFor(cfg.streamUrlTemplate, li.dataset.messageId);
    audio.setAttribute("aria-label", "Spoken reply (AI-generated)");
    feedStream(audio, audio.dataset.streamUrl);
    li.appendChild(audio);
    // Not while a newer message waits in the outbox: its reply is the one to hear (docs/pages.md).
    if (outbox.size() <= 1) playback.replyReady(li);
  }

  // Plays audio/mpeg as it arrives. A plain <audio src> makes the browser probe seconds of an MP3
  // before it starts; Media Source Extensions play the first chunk as soon as it is appended. Without
  // MSE support (or if the fetch fails), the plain src is the fallback.
  function feedStream(audio, url) {
    if (!window.MediaSource || !window.MediaSource.isTypeSupported("audio/mpeg") || !window.ReadableStream) {
      audio.src = url;
      return;
    }
    var source = new window.MediaSource();
    audio.src = URL.createObjectURL(source);
    source.addEventListener("sourceopen", function () {
      var buffer = source.addSourceBuffer("audio/mpeg");
      var queue = [];
      var finished = false;

      function pump() {
        if (buffer.updating || source.readyState !== "open") return;
        if (queue.length) buffer.appendBuffer(queue.shift());
        else if (finished) source.endOfStream();
      }

      buffer.addEventListener("updateend", pump);
      fetch(url, { credentials: "same-origin" }).then(function (response) {
        if (!response.ok || !response.body) throw new Error("HTTP " + response.status);
        var reader = response.body.getReader();
        function read() {
          return reader.read().then(function (part) {
            if (part.done) { finished = true; pump(); return null; }
            queue.push(part.value);
            pump();
            return read();
          });
        }
        return read();
      }).catch(function () {
        // The stream could not be read: the stored reply (same bytes) is played once it is ready.
        if (source.readyState === "open") source.endOfStream("network");
      });
    }, { once: true });
  }

  function refreshReply(id) {
    api("GET", urlFor(cfg.messageUrlTemplate, id)).then(function (result) {
      var li = document.getElementById("msg-" + id);
      if (!li || !result.ok || !result.data || result.data.status === "pending") return;
      if (li.dataset.status !== "pending") return;
      delete polling[id];
      var m = result.data;
      li = replaceMessage(li, m);
      if (m.status === "ready") onReplyReady(li);
      else announce("The reply failed: " + (m.failure_reason || "unknown reason") + ".", true);
    }).catch(function () { /* polling takes over if the stream is gone */ });
  }

  // The latest step of each reply the event stream told about ({type, text}), for replies whose
  // bubble did not exist yet (the events can beat the POST's answer).
  var replySteps = {};

  function catchUp(li) {
    var step = replySteps[li.dataset.messageId];
    if (!step) return;
    if (step.text) onLiveEvent({ type: "message.text_ready", payload: { message_id: li.dataset.messageId, text: step.text } });
    if (step.type !== "message.text_ready") onLiveEvent({ type: step.type, payload: { message_id: li.dataset.messageId } });
  }

  function onLiveEvent(event) {
    var id = parseInt(event.id, 10);
    if (!isNaN(id) && id > cfg.lastEventId) cfg.lastEventId = id;
    var payload = event.payload || {};
    if (payload.message_id && event.type.indexOf("message.") === 0 && event.type !== "message.pending") {
      var step = replySteps[payload.message_id] || {};
      replySteps[payload.message_id] = { type: event.type, text: payload.text || step.text };
    }
    var li = payload.message_id ? document.getElementById("msg-" + payload.message_id) : null;
    var pending = li && li.dataset.status === "pending";
    if (event.type === "message.text_ready") {
      var note = pending ? li.querySelector(".msg__pending") : null;
      if (note && payload.text && !li.querySelector(".msg__text")) {
        note.parentNode.insertBefore(el("p", "msg__text", payload.text), note);
      }
    } else if (event.type === "message.audio_streaming") {
      if (pending) streamReply(li);
    } else if (event.type === "message.ready" || event.type === "message.failed") {
      if (pending) refreshReply(payload.message_id);
    } else {
      handleEvent(event);
    }
  }

  var live = (function () {
    var TYPES = ["message.pending", "message.text_ready", "message.audio_streaming", "message.ready",
                 "message.failed", "voice.version_promoted", "voice.version_rolled_back"];
    var source = null;
    var opened = false;

    function start() {
      if (!cfg.liveEventsUrl || !window.EventSource) return false;
      // Resumes after the newest event the page was rendered with; on reconnects EventSource sends
      // Last-Event-ID itself.
      source = new EventSource(cfg.liveEventsUrl + "?last_event_id=" + encodeURIComponent(cfg.lastEventId));
      source.onopen = function () { opened = true; root.dataset.live = "open"; };
      source.onerror = function () {
        // CONNECTING: the browser reconnects by itself. CLOSED: the server refused; poll from now on.
        if (source.readyState === 2) { opened = false; root.dataset.live = "closed"; }
      };
      TYPES.forEach(function (type) {
        source.addEventListener(type, function (message) {
          var event;
          try { event = JSON.parse(message.data); } catch (error) { return; }
          onLiveEvent(event);
        });
      });
      return true;
    }

    return {
      start: start,
      connected: function () { return !!source && opened && source.readyState !== 2; },
    };
  })();

  // ---- start -----------------------------------------------------------------------------------

  // Replies still pending when the page loads are polled but never autoplayed (none is "newest").
  Array.prototype.forEach.call(log.querySelectorAll(".msg[data-status=pending]"), function (li) {
    pollMessage(li.dataset.messageId);
  });
  outbox.syncHooks();
  var last = log.lastElementChild;
  if (last) last.scrollIntoView({ block: "end" });
  // The events feed is the fallback: with an event stream it is only looked at if the stream fails.
  if (live.start()) window.setTimeout(pollEvents, EVENTS_EVERY_MS);
  else pollEvents();
})();
