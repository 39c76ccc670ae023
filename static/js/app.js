// TickStock's only hand-written script: CSRF header for htmx, panel trimming, and the
// connection indicator. Loaded with defer; no inline scripts (the CSP forbids them).
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  document.addEventListener("htmx:configRequest", function (evt) {
    if (meta && meta.content) {
      evt.detail.headers["X-CSRF-Token"] = meta.content;
    }
  });

  // Each live panel keeps at most data-max-rows rows (newest first).
  document.addEventListener("htmx:afterSettle", function (evt) {
    var target = evt.detail && evt.detail.target;
    if (!target || !target.dataset || !target.dataset.maxRows) return;
    var max = parseInt(target.dataset.maxRows, 10) || 100;
    var rows = target.querySelectorAll("tr[data-symbol]");
    for (var i = max; i < rows.length; i++) rows[i].remove();
    var empty = target.querySelector("tr.empty");
    if (empty && rows.length > 0) empty.remove();
  });

  function setStatus(state, text) {
    var el = document.getElementById("conn-status");
    if (!el) return;
    el.dataset.state = state;
    el.textContent = text;
  }
  document.addEventListener("htmx:sseOpen", function () { setStatus("live", "Live"); });
  document.addEventListener("htmx:sseError", function () { setStatus("down", "Reconnecting…"); });
  document.addEventListener("htmx:sseClose", function () { setStatus("down", "Disconnected"); });
})();
