// Live parts of a page: every data-refresh seconds, fetch the page again and swap in the
// elements marked data-refresh (matched by id). Paused while the tab is hidden. Without
// JavaScript the page still works, it just stays as it was loaded.
(function () {
  "use strict";
  var live = document.querySelector("[data-refresh]");
  if (!live) return;
  var seconds = Math.max(0.5, parseFloat(live.getAttribute("data-refresh")) || 2);
  var busy = false;
  function refresh() {
    if (busy || document.hidden) return;
    busy = true;
    fetch(location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html === null) return;
        var page = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-refresh]").forEach(function (old) {
          var fresh = page.getElementById(old.id);
          if (fresh) old.replaceWith(document.importNode(fresh, true));
        });
      })
      .catch(function () { /* the dashboard restarts or is gone: try again later */ })
      .then(function () { busy = false; });
  }
  setInterval(refresh, seconds * 1000);
})();
