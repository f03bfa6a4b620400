// Keyboard-driven clip review queue (issue 5, item 8).
// space/p play · a approve · r reject (then 1–9 for the reason) · s skip · b back · u undo · Esc cancel.
(function () {
  "use strict";
  var dataNode = document.getElementById("clip-queue-data");
  var root = document.getElementById("clip-queue");
  if (!dataNode || !root) return;
  var data = JSON.parse(dataNode.textContent);
  var items = data.items || [];
  var reasons = data.reasons || [];
  var csrf = root.dataset.csrf;
  var index = 0;
  var rejecting = false;
  var busy = false;
  var history = []; // indexes of decided items, for undo

  function $(id) { return document.getElementById(id); }
  if (!items.length) return;
  $("queue-card").hidden = false;

  function row(i) { return $("queue-row-" + items[i].id); }

  function setStatus(text, isError) {
    var node = $("queue-status");
    node.textContent = text || "";
    node.className = "clip-queue-status" + (isError ? " error" : "");
  }

  function render() {
    document.querySelectorAll(".clip-queue-list tr.current").forEach(function (tr) { tr.classList.remove("current"); });
    if (index >= items.length) {
      $("queue-card").hidden = true;
      $("queue-done").hidden = false;
      return;
    }
    $("queue-card").hidden = false;
    $("queue-done").hidden = true;
    var item = items[index];
    $("queue-position").textContent = (index + 1) + " / " + items.length;
    $("queue-voice-name").textContent = item.voice;
    var link = $("queue-change-link");
    link.textContent = "#" + item.id;
    link.href = item.change_url;
    $("queue-why").textContent = item.reason || "";
    $("queue-waveform").src = item.waveform_url;
    var audio = $("queue-audio");
    audio.src = item.audio_url;
    var playing = audio.play();
    if (playing && playing.catch) playing.catch(function () { /* autoplay blocked: press space */ });
    $("queue-text").textContent = item.text || "(no text)";
    $("queue-score").textContent = item.quality_score === null ? "–" : item.quality_score;
    $("queue-flags").textContent = (item.flags && item.flags.length) ? item.flags.join(", ") : "none";
    var table = $("queue-metrics");
    table.textContent = "";
    Object.keys(item.metrics).forEach(function (name) {
      var value = item.metrics[name];
      if (value === null || value === undefined) return;
      var tr = document.createElement("tr");
      var th = document.createElement("td");
      th.textContent = name;
      var td = document.createElement("td");
      td.textContent = typeof value === "number" ? Math.round(value * 1000) / 1000 : value;
      tr.appendChild(th);
      tr.appendChild(td);
      table.appendChild(tr);
    });
    var current = row(index);
    if (current) {
      current.classList.add("current");
      current.scrollIntoView({block: "nearest"});
    }
    showReasons(false);
  }

  function showReasons(show) {
    rejecting = show;
    $("queue-reasons").hidden = !show;
  }

  function decide(status, reason, i, advance) {
    if (busy) return;
    busy = true;
    var item = items[i];
    var body = new URLSearchParams({status: status, reason: reason || ""});
    fetch(item.review_url, {
      method: "POST",
      credentials: "same-origin",
      headers: {"X-CSRFToken": csrf, "Content-Type": "application/x-www-form-urlencoded"},
      body: body.toString()
    }).then(function (response) {
      return response.json().then(function (json) { return {ok: response.ok, json: json}; });
    }).then(function (result) {
      busy = false;
      if (!result.ok) {
        setStatus(result.json.detail || "The review was not saved.", true);
        return;
      }
      var tr = row(i);
      if (tr) {
        tr.querySelector(".queue-decision").textContent = result.json.review_status +
          (result.json.review_reason ? " (" + result.json.review_reason + ")" : "");
        tr.classList.toggle("done", status !== "pending");
      }
      setStatus("#" + item.id + " " + result.json.review_status);
      if (advance) {
        history.push(i);
        index = i + 1;
      } else {
        index = i;
      }
      render();
    }).catch(function () {
      busy = false;
      setStatus("Network error: the review was not saved.", true);
    });
  }

  document.addEventListener("keydown", function (event) {
    var tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || event.ctrlKey || event.metaKey || event.altKey) return;
    if (index >= items.length && event.key !== "u" && event.key !== "b") return;
    var key = event.key;
    if (rejecting) {
      if (key === "Escape") { showReasons(false); event.preventDefault(); return; }
      var n = parseInt(key, 10);
      if (n >= 1 && n <= reasons.length) {
        event.preventDefault();
        decide("rejected", reasons[n - 1].code, index, true);
      }
      return;
    }
    if (key === " " || key === "p") {
      event.preventDefault();
      var audio = $("queue-audio");
      if (audio.paused) audio.play(); else audio.pause();
    } else if (key === "a") {
      event.preventDefault();
      decide("approved", "", index, true);
    } else if (key === "r") {
      event.preventDefault();
      showReasons(true);
    } else if (key === "s") {
      event.preventDefault();
      setStatus("#" + items[index].id + " skipped");
      index += 1;
      render();
    } else if (key === "b") {
      event.preventDefault();
      if (index > 0) { index -= 1; render(); }
    } else if (key === "u") {
      event.preventDefault();
      if (history.length) decide("pending", "", history.pop(), false);
    }
  });

  render();
})();
