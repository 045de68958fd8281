/* custobot live updates: re-fetches each [data-poll] element's HTML fragment every
   data-every ms and swaps it in. No framework, no CDN; the Pi may be offline.
   It holds off while the owner is using the content (an open <details>, focus inside). */
(function () {
  "use strict";
  function poll(el) {
    var url = el.getAttribute("data-poll");
    var every = parseInt(el.getAttribute("data-every") || "5000", 10);
    function schedule() { window.setTimeout(tick, every); }
    function busy() {
      return el.querySelector("details[open]") !== null || el.contains(document.activeElement);
    }
    function tick() {
      if (document.hidden || busy()) { schedule(); return; }
      window.fetch(url, { credentials: "same-origin", cache: "no-store" })
        .then(function (r) {
          if (r.status === 401) { window.location.assign("/login"); return null; }
          return r.ok ? r.text() : null;
        })
        .then(function (html) {
          if (html !== null) {
            el.innerHTML = html;
            el.setAttribute("data-updated", String(Date.now()));
          }
        })
        .catch(function () { /* offline: keep the last view, try again */ })
        .then(schedule);
    }
    schedule();
  }
  document.querySelectorAll("[data-poll]").forEach(poll);
}());
