// Watchlist alerts on the dashboard (SPEC section 13). The element #alerts (views.AlertsConfig)
// carries the user's choices and watchlisted symbols as data attributes. Every stream row
// that appears on the page (however it got there: the SSE extension, a shared stream from
// another tab, a row replaced in place) is checked: a row of a watchlisted symbol, emitted
// after the page loaded and not seen before, shows an alert on the page, plays a short
// sound and, when the user has allowed it, shows a desktop notification. Permission is
// asked for only when the user clicks the button. No inline scripts (CSP).
(function () {
  "use strict";
  var cfg = document.getElementById("alerts");
  if (!cfg) return;
  var symbols = new Set((cfg.dataset.symbols || "").split(",").filter(Boolean));
  var since = parseInt(cfg.dataset.since, 10) || 0;
  var wantSound = cfg.dataset.sound === "true";
  var wantNotify = cfg.dataset.notify === "true";
  var soundURL = cfg.dataset.soundUrl;
  var stack = cfg.querySelector("[data-alerts-stack]");
  var button = cfg.querySelector("[data-alerts-permission]");
  var maxShown = 5;
  var seen = new Set();
  var seenOrder = [];
  var audio = null;
  var lastSound = 0;

  function canNotify() {
    return "Notification" in window;
  }

  function updateButton() {
    if (!button) return;
    var state = canNotify() ? window.Notification.permission : "unsupported";
    button.hidden = !(wantNotify && state === "default");
    button.dataset.permission = state;
  }
  updateButton();

  if (button) {
    button.addEventListener("click", function () {
      primeAudio();
      if (!canNotify()) return;
      var answer = window.Notification.requestPermission(updateButton); // older Safari: callback
      if (answer && typeof answer.then === "function") answer.then(updateButton, updateButton);
    });
  }

  // primeAudio loads the sound during a click, which lets the page play it later.
  function primeAudio() {
    if (audio || !wantSound || !soundURL) return;
    audio = new Audio(soundURL);
    audio.preload = "auto";
  }
  document.addEventListener("click", primeAudio, { once: true });

  function playSound() {
    if (!wantSound || !soundURL) return;
    var now = Date.now();
    if (now - lastSound < 1500) return; // a burst of events makes one sound
    lastSound = now;
    primeAudio();
    try {
      audio.currentTime = 0;
      var p = audio.play();
      if (p && typeof p.catch === "function") p.catch(function () {}); // blocked until a click
    } catch (e) { /* no audio on this device */ }
  }

  function remember(key) {
    seen.add(key);
    seenOrder.push(key);
    if (seenOrder.length > 2000) seen.delete(seenOrder.shift());
  }

  // describe is the row's cells as one line, without the symbol (the alert leads with it).
  function describe(row, sym) {
    var parts = [];
    for (var i = 0; i < row.cells.length; i++) {
      var t = (row.cells[i].textContent || "").replace(/\s+/g, " ").trim();
      if (t && t !== sym) parts.push(t);
    }
    return parts.join(" · ");
  }

  function show(sym, text) {
    if (!stack) return;
    var el = document.createElement("div");
    el.className = "alert-toast";
    el.setAttribute("data-testid", "alert");
    el.dataset.symbol = sym;
    var link = document.createElement("a");
    link.href = "/symbols/" + encodeURIComponent(sym);
    link.textContent = sym;
    el.append(link, document.createTextNode(" " + text));
    stack.prepend(el);
    while (stack.children.length > maxShown) stack.lastElementChild.remove();
    window.setTimeout(function () { el.remove(); }, 20000);
  }

  function notify(sym, text) {
    if (!wantNotify || !canNotify() || window.Notification.permission !== "granted") return;
    try {
      var n = new window.Notification("TickStock: " + sym, { body: text, tag: "tickstock-" + sym });
      if (n) n.onclick = function () { window.focus(); window.location.assign("/symbols/" + encodeURIComponent(sym)); };
    } catch (e) { /* some browsers allow notifications only from a service worker */ }
  }

  function check(row) {
    var sym = row.getAttribute("data-symbol");
    if (!sym || !symbols.has(sym)) return;
    var emitted = parseInt(row.getAttribute("data-emitted"), 10) || 0;
    if (emitted && emitted < since) return; // history the stream sends on connect
    var text = describe(row, sym);
    var key = sym + "|" + emitted + "|" + text;
    if (seen.has(key)) return; // the same row again (a replay after a reconnect)
    remember(key);
    show(sym, text);
    playSound();
    notify(sym, text);
  }

  // Rows can arrive whole (inserted by htmx), be replaced, or be updated in place (a
  // one-row-per-symbol view bumping a row's data-emitted): collect every row a batch of
  // mutations touched, then check each once, when the batch is complete.
  function collect(node, rows) {
    if (node.nodeType !== 1) node = node.parentElement;
    if (!node) return;
    var own = node.closest("tr[data-symbol]");
    if (own) {
      rows.add(own);
      return;
    }
    var inside = node.querySelectorAll("tr[data-symbol]");
    for (var i = 0; i < inside.length; i++) rows.add(inside[i]);
  }

  new MutationObserver(function (records) {
    var rows = new Set();
    for (var r = 0; r < records.length; r++) {
      if (records[r].type === "attributes") {
        collect(records[r].target, rows);
        continue;
      }
      var added = records[r].addedNodes;
      for (var i = 0; i < added.length; i++) collect(added[i], rows);
    }
    rows.forEach(function (row) {
      if (row.isConnected && !cfg.contains(row)) check(row);
    });
  }).observe(document.body, { childList: true, subtree: true, attributes: true, attributeFilter: ["data-emitted"] });
})();
