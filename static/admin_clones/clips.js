// Clip admin: one clip plays at a time, so scanning a changelist page is ear-friendly.
document.addEventListener("play", function (event) {
  if (!event.target.classList || !event.target.classList.contains("clip-player")) return;
  document.querySelectorAll("audio.clip-player").forEach(function (audio) {
    if (audio !== event.target) audio.pause();
  });
}, true);
