// TickStock's only hand-written script: the CSRF header for htmx, panel trimming, and the
// connection indicator. Loaded with defer; no inline scripts (the CSP forbids them).
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  document.addEventListener("htmx:configRequest", function (evt) {
    if (meta && meta.content) {
      evt.detail.headers["X-CSRF-Token"] = meta.content;
    }
  });

  // Each live panel keeps at most data-max-rows rows, newest first. Trend and surge rows
  // arrive out of band, so every panel is trimmed after every stream message.
  function trimPanels() {
    var panels = document.querySelectorAll("tbody[data-max-rows]");
    for (var p = 0; p < panels.length; p++) {
      var max = parseInt(panels[p].dataset.maxRows, 10) || 100;
      var rows = panels[p].rows;
      for (var i = rows.length - 1; i >= max; i--) rows[i].remove();
    }
  }
  document.addEventListener("htmx:sseMessage", trimPanels);

  // A reconnect the server cannot resume exactly (away too long, or the server restarted)
  // starts with a "reset" event, then the recent history as on a fresh page: clear the
  // panels so nothing shows twice or out of order.
  document.addEventListener("htmx:sseOpen", function (evt) {
    var source = evt.detail && evt.detail.source;
    if (!source || source.tickstockReset) return;
    source.tickstockReset = true;
    source.addEventListener("reset", function () {
      var panels = document.querySelectorAll("tbody[data-max-rows]");
      for (var p = 0; p < panels.length; p++) panels[p].replaceChildren();
    });
  });

  function setStatus(state, text) {
    var el = document.getElementById("conn-status");
    if (!el) return;
    el.dataset.state = state;
    el.textContent = text;
  }
  document.addEventListener("htmx:sseOpen", function () { setStatus("live", "Live"); });
  document.addEventListener("htmx:sseError", function () { setStatus("down", "Reconnecting…"); });
  // A page that is already navigating away (the log-out form, a link) must not start a
  // second navigation when its stream ends: the server ends this session's streams while
  // it handles the log-out post, and the two loads of /auth/login would race.
  var leaving = false;
  window.addEventListener("beforeunload", function () { leaving = true; });
  window.addEventListener("pageshow", function () { leaving = false; });
  document.addEventListener("htmx:sseClose", function (evt) {
    setStatus("down", "Disconnected");
    // The server sends "logout" when the session ended (logout elsewhere, expiry, disabled).
    if (!leaving && evt.detail && evt.detail.type === "message" && !document.querySelector("[data-embed]")) {
      window.location.assign("/auth/login");
    }
  });
})();
