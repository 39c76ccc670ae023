// The symbol page's live updates (GET /symbols/{symbol}). The page opens the user's stream
// (htmx SSE extension) into a hidden sink; this script looks at each stream message
// before htmx would swap it, cancels the swap (the rows belong to the dashboard's panels),
// and when a row names this page's symbol it asks htmx to fetch the page's live part
// again, at most once every 5 seconds. The live part also refreshes itself every 30 s, so
// the price line moves between events. Loaded with defer; no inline scripts (CSP).
(function () {
  "use strict";
  var page = document.querySelector("[data-symbol-page]");
  if (!page) return;
  var symbol = page.getAttribute("data-symbol-page");
  var sink = page.querySelector("[data-symbol-sink]");
  var minGap = 5000;
  var last = 0;
  var timer = null;

  function refresh() {
    timer = null;
    last = Date.now();
    var live = document.getElementById("symbol-live");
    if (live && window.htmx) window.htmx.trigger(live, "symbol-refresh");
  }

  function schedule() {
    if (timer) return;
    timer = window.setTimeout(refresh, Math.max(0, last + minGap - Date.now()));
  }

  // mentions reports whether a stream fragment has a row for this symbol. A template's
  // content is inert: parsing it runs no script and loads nothing.
  function mentions(html) {
    var tpl = document.createElement("template");
    tpl.innerHTML = html;
    var rows = tpl.content.querySelectorAll("[data-symbol]");
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].getAttribute("data-symbol") === symbol) return true;
    }
    return false;
  }

  if (sink) {
    sink.addEventListener("htmx:sseBeforeMessage", function (evt) {
      evt.preventDefault();
      var data = evt.detail && evt.detail.data;
      if (typeof data === "string" && mentions(data)) schedule();
    });
  }

  // A refresh that fails (the server busy or away, the rate limit) keeps the page as it is
  // and tries again later, instead of swapping an error box over the chart for good.
  document.body.addEventListener("htmx:beforeSwap", function (evt) {
    var d = evt.detail;
    if (d && d.elt && d.elt.id === "symbol-live" && d.xhr && d.xhr.status >= 400) {
      d.shouldSwap = false;
      d.isError = false;
    }
  });

  // The connection's state, as on the dashboard: Live, Reconnecting… or Disconnected.
  var status = document.getElementById("conn-status");
  function setStatus(state, text) {
    if (!status) return;
    status.setAttribute("data-state", state);
    status.textContent = text;
  }

  // After a reconnect the page may have missed events: catch up once.
  var opened = false;
  page.addEventListener("htmx:sseOpen", function () {
    setStatus("live", "Live");
    if (opened) schedule();
    opened = true;
  });
  page.addEventListener("htmx:sseError", function () { setStatus("down", "Reconnecting…"); });
  // The server ends the stream with "logout" when the session ended: go sign in again,
  // as the dashboard does, instead of retrying.
  page.addEventListener("htmx:sseClose", function (evt) {
    setStatus("down", "Disconnected");
    if (evt.detail && evt.detail.type === "message") window.location.assign("/auth/login?ended=1");
  });
})();
