// Local times on every page: each <time datetime="…" data-local="time|date|datetime|auto"> is shown in the
// reader's own time zone and locale, with one formatter, so every page agrees. chat.js uses
// window.voiceclone.formatLocalTime for the messages it adds. See voiceclone/templatetags/local_time.py.
(function () {
  "use strict";

  var OPTIONS = {
    time: { hour: "numeric", minute: "2-digit" },
    date: { day: "numeric", month: "short", year: "numeric" },
    datetime: { day: "numeric", month: "short", year: "numeric", hour: "numeric", minute: "2-digit" },
  };

  function sameDay(a, b) {
    return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
  }

  // "auto": the time for today, the date and time on any other day.
  function formatLocalTime(iso, style) {
    var date = new Date(iso);
    if (!iso || isNaN(date.getTime())) return "";
    if (style === "auto" || !OPTIONS[style]) style = sameDay(date, new Date()) ? "time" : "datetime";
    return date.toLocaleString(undefined, OPTIONS[style]);
  }

  function localizeTimes(root) {
    Array.prototype.forEach.call((root || document).querySelectorAll("time[datetime][data-local]"), function (node) {
      var text = formatLocalTime(node.getAttribute("datetime"), node.dataset.local);
      if (text) node.textContent = text;
    });
  }

  window.voiceclone = window.voiceclone || {};
  window.voiceclone.formatLocalTime = formatLocalTime;
  window.voiceclone.localizeTimes = localizeTimes;

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { localizeTimes(); });
  } else {
    localizeTimes();
  }
})();
