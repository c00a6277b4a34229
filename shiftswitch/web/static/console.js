// shiftswitch console: a little progressive script. Without it every page still works.
// - countdowns ("in 12 min") kept current every second;
// - a page whose <main> has data-refresh="N" refreshes its content every N seconds, in place
//   (not while the user is typing in one of its fields);
// - forms (or their buttons) with data-confirm ask first.
(function () {
  "use strict";

  function span(seconds) {
    var s = Math.floor(Math.abs(seconds));
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min";
    if (s < 86400) { var m = Math.floor((s % 3600) / 60); return Math.floor(s / 3600) + " h " + (m < 10 ? "0" : "") + m + " min"; }
    return Math.floor(s / 86400) + " d " + Math.floor((s % 86400) / 3600) + " h";
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll(".countdown[data-at]").forEach(function (el) {
      var left = (Date.parse(el.getAttribute("data-at")) - now) / 1000;
      el.textContent = left >= 0 ? "in " + span(left) : span(left) + " ago";
    });
  }

  function busy(main) {
    var active = document.activeElement;
    return active && main.contains(active) && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName);
  }

  function refresh(main) {
    if (document.hidden || busy(main)) return;
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (r.redirected && /\/login/.test(r.url)) { window.location.href = r.url; return null; }
        return r.ok ? r.text() : null;
      })
      .then(function (html) {
        if (!html || busy(main)) return;
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("main");
        if (fresh) { main.innerHTML = fresh.innerHTML; tick(); }
        var foot = new DOMParser().parseFromString(html, "text/html").querySelector("footer.bottom");
        var mine = document.querySelector("footer.bottom");
        if (foot && mine) mine.innerHTML = foot.innerHTML;
      })
      .catch(function () { /* the next refresh tries again */ });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    // The button's question (ON now, OFF now) before the form's.
    var button = event.submitter;
    var question = (button && button.getAttribute("data-confirm")) ||
      (form.getAttribute && form.getAttribute("data-confirm"));
    if (question && !window.confirm(question)) event.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", function () {
    tick();
    window.setInterval(tick, 1000);
    var main = document.getElementById("main");
    var every = main && parseInt(main.getAttribute("data-refresh") || "0", 10);
    if (every > 0) window.setInterval(function () { refresh(main); }, every * 1000);
  });
})();
