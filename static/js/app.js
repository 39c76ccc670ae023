// TickStock's only hand-written script (no build step, no third-party code besides htmx):
// the CSRF header for htmx, the view preferences, and the live dashboard, whose tabs share
// one stream. Loaded with defer; no inline scripts (the CSP forbids them).
//
// The live dashboard, in short:
//  - Link reads /stream with fetch, so it sees every answer's status: a 401 or an
//    "event: logout" ends the page (to /auth/login?ended=1, and no further requests), a 429
//    or 503 shows the server's message, a lost stream retries with backoff and resumes
//    with Last-Event-ID. EventSource hides the status of a failed reconnect, and retries
//    by itself.
//  - One tab per browser holds the stream: the leader, elected with the Web Locks API. It
//    re-broadcasts every message over a BroadcastChannel, and the other tabs apply the
//    same swaps. When the leader closes, its lock passes to a waiting tab at once, which
//    resumes from the last id it saw. Without locks or BroadcastChannel each tab streams
//    on its own.
//  - Live applies a message the way htmx's SSE extension would (sse-swap, hx-swap,
//    hx-swap-oob), with the panels' own logic on top: pause, one row per symbol, 100 rows.
(function () {
  "use strict";

  var doc = document;
  var meta = doc.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.content : "";

  doc.addEventListener("htmx:configRequest", function (evt) {
    if (csrf) evt.detail.headers["X-CSRF-Token"] = csrf;
  });

  // store reads (value undefined), writes or (value null) removes a localStorage key. It
  // never throws: storage may be off (private windows, sandboxed frames).
  function store(key, value) {
    try {
      if (value === undefined) return window.localStorage.getItem(key);
      if (value === null) window.localStorage.removeItem(key);
      else window.localStorage.setItem(key, value);
    } catch (e) { /* no storage: the choice lasts for this page only */ }
    return null;
  }

  // A page that is navigating away (the log-out form, a link) must not start a second
  // navigation when its stream ends: the server ends this session's streams while it
  // handles the log-out post, and two loads of /auth/login would race.
  var leaving = false;
  window.addEventListener("beforeunload", function () { leaving = true; });
  window.addEventListener("pageshow", function () { leaving = false; });

  // ---- Times: the exchange's clock, marked ET.
  var etClock = null;
  try {
    etClock = new Intl.DateTimeFormat("en-GB", { timeZone: "America/New_York", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
  } catch (e) { /* no time zone data: the browser's own clock, unmarked */ }
  function clockET(ms) {
    return etClock ? etClock.format(new Date(ms)) + " ET" : new Date(ms).toLocaleTimeString();
  }

  // ---- View preferences, kept in localStorage and followed by every tab.
  var DENSITY = "tickstock:density";
  var COLLAPSED = "tickstock:collapsed";

  function applyDensity() {
    var compact = store(DENSITY) === "compact";
    if (compact) doc.documentElement.setAttribute("data-density", "compact");
    else doc.documentElement.removeAttribute("data-density");
    var b = doc.querySelector('[data-toggle="density"]');
    if (b) b.setAttribute("aria-pressed", String(compact));
  }
  applyDensity();

  function collapsedPanels() {
    try { return JSON.parse(store(COLLAPSED) || "[]") || []; } catch (e) { return []; }
  }
  function applyCollapsed() {
    var list = collapsedPanels();
    var buttons = doc.querySelectorAll("[data-collapse]");
    for (var i = 0; i < buttons.length; i++) {
      var id = buttons[i].getAttribute("data-collapse");
      var closed = list.indexOf(id) >= 0;
      buttons[i].setAttribute("aria-expanded", String(!closed));
      var body = doc.getElementById("body-" + id);
      if (body) body.hidden = closed;
      var card = buttons[i].closest(".panel");
      if (card) card.classList.toggle("collapsed", closed);
    }
  }
  window.addEventListener("storage", function (e) {
    if (e.key === DENSITY) applyDensity();
    if (e.key === COLLAPSED) applyCollapsed();
  });

  // ---- Status: the pill says what the stream does, and how old the data is while it is
  // down; a separate polite live region announces changes of state only, never the ticking
  // age.
  function Status(root) {
    this.root = root;
    this.pill = root.querySelector("#conn-status");
    this.voice = root.querySelector("#conn-announce");
    this.state = "connecting";
    this.message = "";
    this.lastUpdate = 0;
    this.timer = 0;
    this.everLive = false;
  }
  Status.prototype.touch = function () { this.lastUpdate = Date.now(); };
  Status.prototype.set = function (state, message) {
    var changed = state !== this.state || (message || "") !== this.message;
    this.state = state;
    this.message = message || "";
    this.root.setAttribute("data-conn", state);
    this.render();
    var self = this;
    var ticking = state === "down" || state === "error";
    if (ticking && !this.timer) this.timer = window.setInterval(function () { self.render(); }, 1000);
    if (!ticking && this.timer) { window.clearInterval(this.timer); this.timer = 0; }
    if (changed) this.announce(this.spoken());
    if (state === "live") this.everLive = true;
  };
  Status.prototype.age = function () {
    if (!this.lastUpdate) return "";
    var secs = Math.max(0, Math.round((Date.now() - this.lastUpdate) / 1000));
    return "last update " + clockET(this.lastUpdate) + " (" + secs + " s ago)";
  };
  Status.prototype.text = function () {
    switch (this.state) {
      case "live": return "Live";
      case "down": return "Reconnecting…" + (this.lastUpdate ? " " + this.age() : "");
      case "error": return this.message + (this.lastUpdate ? " · " + this.age() : "");
      case "ended": return "Session ended";
    }
    return "Connecting…";
  };
  Status.prototype.spoken = function () {
    switch (this.state) {
      case "live": return this.everLive ? "Live updates are back." : "";
      case "down": return "Live updates lost. Reconnecting.";
      case "error": return this.message;
      case "ended": return "Your session ended.";
    }
    return "";
  };
  Status.prototype.render = function () {
    if (!this.pill) return;
    this.pill.setAttribute("data-state", this.state === "error" ? "down" : this.state);
    this.pill.textContent = this.text();
  };
  Status.prototype.announce = function (text) {
    if (this.voice && text) this.voice.textContent = text;
  };

  // ---- Panels: rows in, newest first, at most data-max-rows; held while paused; one row
  // per symbol when the user asks for it.
  function Panels(root) {
    this.root = root;
    this.oneRow = root.getAttribute("data-one-row") === "true";
    this.byId = {};
    var bodies = root.querySelectorAll("tbody[data-max-rows]");
    for (var i = 0; i < bodies.length; i++) {
      var tb = bodies[i];
      var card = tb.closest(".panel");
      this.byId[tb.id] = {
        tb: tb, card: card, held: [], hover: false, pinned: false,
        max: parseInt(tb.getAttribute("data-max-rows"), 10) || 100,
        waiting: card && card.querySelector("[data-waiting]"),
        stats: card && card.querySelector("[data-stats]"),
        pause: card && card.querySelector("[data-pause]")
      };
      this.wire(this.byId[tb.id]);
    }
  }
  Panels.prototype.wire = function (p) {
    var self = this;
    if (!p.card) return;
    if (p.pause) {
      p.pause.addEventListener("click", function () {
        p.pinned = p.pause.getAttribute("aria-pressed") !== "true";
        p.pause.setAttribute("aria-pressed", String(p.pinned));
        self.settle(p);
      });
    }
    // Rows hold still under the pointer, and while the keyboard is inside the table.
    var wrap = p.card.querySelector(".table-wrap");
    if (wrap && p.pause) {
      wrap.addEventListener("mouseenter", function () { p.hover = true; self.settle(p); });
      wrap.addEventListener("mouseleave", function () { p.hover = false; self.settle(p); });
      wrap.addEventListener("focusin", function () { p.focus = true; self.settle(p); });
      wrap.addEventListener("focusout", function (e) {
        if (!wrap.contains(e.relatedTarget)) { p.focus = false; self.settle(p); }
      });
    }
  };
  Panels.prototype.paused = function (p) { return p.pinned || p.hover || p.focus; };
  // settle shows a panel's pause state, and lets held rows in once nothing holds them.
  Panels.prototype.settle = function (p) {
    var paused = this.paused(p);
    p.card.classList.toggle("paused", paused);
    if (!paused && p.held.length) {
      var rows = p.held;
      p.held = [];
      this.insert(p, rows);
    }
    this.count(p);
  };
  Panels.prototype.count = function (p) {
    if (p.waiting) {
      var n = 0;
      for (var i = 0; i < p.held.length; i++) if (p.held[i].hasAttribute("data-symbol")) n++;
      p.waiting.hidden = !this.paused(p);
      p.waiting.textContent = n ? n + " waiting" : "paused";
    }
    if (p.stats) {
      var rows = p.tb.querySelectorAll("tr[data-symbol]");
      var seen = {};
      var symbols = 0;
      for (var j = 0; j < rows.length; j++) {
        var s = rows[j].getAttribute("data-symbol");
        if (!seen[s]) { seen[s] = true; symbols++; }
      }
      p.stats.textContent = rows.length ? rows.length + (rows.length === 1 ? " row" : " rows") + " · " + symbols + (symbols === 1 ? " symbol" : " symbols") : "";
    }
  };
  // add takes a message's rows for one panel, newest first.
  Panels.prototype.add = function (tb, rows) {
    var p = this.byId[tb.id];
    if (!rows.length) return;
    if (!p) { // not a live panel: put the rows in as they are
      for (var k = rows.length - 1; k >= 0; k--) tb.insertBefore(rows[k], tb.firstChild);
      return;
    }
    if (this.paused(p)) {
      p.held = rows.concat(p.held);
      if (p.held.length > p.max) p.held.length = p.max;
      this.count(p);
      return;
    }
    this.insert(p, rows);
  };
  Panels.prototype.insert = function (p, rows) {
    if (this.oneRow) {
      for (var i = rows.length - 1; i >= 0; i--) this.place(p, rows[i]);
    } else {
      var frag = doc.createDocumentFragment();
      for (var j = 0; j < rows.length; j++) frag.appendChild(rows[j]);
      p.tb.insertBefore(frag, p.tb.firstChild);
    }
    var all = p.tb.rows;
    for (var n = all.length - 1; n >= p.max; n--) all[n].remove();
    this.count(p);
  };
  // place puts one row on top; the symbol's older row goes, its count carried over.
  Panels.prototype.place = function (p, row) {
    var sym = row.getAttribute("data-symbol");
    if (sym) {
      var old = this.rowOf(p, sym);
      if (old) {
        setRepeat(row, repeatOf(old) + repeatOf(row));
        old.remove();
      }
    }
    p.tb.insertBefore(row, p.tb.firstChild);
  };
  Panels.prototype.rowOf = function (p, sym) {
    var rows = p.tb.rows;
    for (var i = 0; i < rows.length; i++) if (rows[i].getAttribute("data-symbol") === sym) return rows[i];
    return null;
  };
  // collapse folds a panel to one row per symbol: the newest stays, counting the others.
  Panels.prototype.collapse = function (p) {
    var keep = {};
    var rows = Array.prototype.slice.call(p.tb.rows);
    for (var i = 0; i < rows.length; i++) {
      var sym = rows[i].getAttribute("data-symbol");
      if (!sym) continue;
      if (keep[sym]) {
        setRepeat(keep[sym], repeatOf(keep[sym]) + repeatOf(rows[i]));
        rows[i].remove();
      } else {
        keep[sym] = rows[i];
      }
    }
    this.count(p);
  };
  Panels.prototype.setOneRow = function (on) {
    this.oneRow = !!on;
    this.root.setAttribute("data-one-row", String(this.oneRow));
    var b = this.root.querySelector('[data-toggle="one-row"]');
    if (b) b.setAttribute("aria-pressed", String(this.oneRow));
    if (this.oneRow) for (var id in this.byId) this.collapse(this.byId[id]);
  };
  Panels.prototype.reset = function () {
    for (var id in this.byId) {
      this.byId[id].tb.replaceChildren();
      this.byId[id].held = [];
      this.count(this.byId[id]);
    }
  };

  function repeatOf(row) { return parseInt(row.getAttribute("data-repeat"), 10) || 1; }
  function setRepeat(row, n) {
    row.setAttribute("data-repeat", String(n));
    var cell = row.querySelector("td.sym");
    if (!cell) return;
    var badge = cell.querySelector(".repeat");
    if (!badge) {
      badge = doc.createElement("span");
      badge.className = "repeat";
      cell.appendChild(badge);
    }
    badge.textContent = "×" + n;
    badge.title = n + " events; this row shows the newest";
  }

  // ---- Live: applies stream messages to the page.
  function Live(root) {
    this.root = root;
    this.status = new Status(root);
    this.panels = new Panels(root);
  }
  function fragment(html) {
    var t = doc.createElement("template");
    t.innerHTML = html;
    return t.content;
  }
  function children(node) { return Array.prototype.slice.call(node.children); }
  function process(elt) { if (window.htmx && elt && elt.nodeType === 1) window.htmx.process(elt); }

  // apply swaps one message {type, data, id} into the page, as sse-swap and hx-swap on the
  // page say, and tells other scripts (alerts, symbol pages) with a tickstock:message
  // event on document.
  Live.prototype.apply = function (m, replay) {
    this.status.touch();
    if (m.type === "reset") {
      this.panels.reset();
    } else {
      var targets = this.root.querySelectorAll("[sse-swap]");
      for (var i = 0; i < targets.length; i++) {
        var names = targets[i].getAttribute("sse-swap").split(",");
        for (var n = 0; n < names.length; n++) {
          if (names[n].trim() !== m.type) continue;
          this.swap(targets[i], m.data);
          targets[i].dispatchEvent(new CustomEvent("htmx:sseMessage", { bubbles: true, detail: { type: m.type, data: m.data, lastEventId: m.id } }));
        }
      }
    }
    doc.dispatchEvent(new CustomEvent("tickstock:message", { detail: { type: m.type, data: m.data, id: m.id, replay: !!replay } }));
  };
  Live.prototype.swap = function (target, html) {
    var style = (target.getAttribute("hx-swap") || "innerHTML").split(" ")[0];
    var frag = fragment(html);
    if (style === "none") {
      this.oob(frag);
    } else if (style === "afterbegin" && target.hasAttribute("data-max-rows")) {
      this.panels.add(target, children(frag));
    } else if (style === "afterbegin") {
      target.insertBefore(frag, target.firstChild);
    } else {
      target.replaceChildren(frag);
      process(target);
    }
  };
  // oob does the out-of-band swaps of a fragment: "afterbegin:#panel" rows, "outerHTML".
  Live.prototype.oob = function (frag) {
    var els = children(frag);
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      var spec = el.getAttribute("hx-swap-oob");
      if (!spec) continue;
      el.removeAttribute("hx-swap-oob");
      var colon = spec.indexOf(":");
      var style = colon < 0 ? spec : spec.slice(0, colon);
      var target = colon < 0 ? (el.id && doc.getElementById(el.id)) : doc.querySelector(spec.slice(colon + 1));
      if (!target) continue; // an embed or a page without that part
      if (style === "true") style = "outerHTML";
      if (style === "afterbegin" && target.hasAttribute("data-max-rows")) {
        this.panels.add(target, children(el));
      } else if (style === "afterbegin") {
        target.insertBefore(fragmentOf(el), target.firstChild);
      } else if (style === "innerHTML") {
        target.replaceChildren(fragmentOf(el));
        process(target);
      } else {
        target.replaceWith(el);
        process(el);
      }
    }
  };
  function fragmentOf(el) {
    var f = doc.createDocumentFragment();
    while (el.firstChild) f.appendChild(el.firstChild);
    return f;
  }

  // ---- SSE over fetch.

  // SSEParser reads an event stream as it arrives (the WHATWG rules, for the fields the
  // server sends): onEvent gets {type, data, id}, id being the last id seen.
  function SSEParser(onEvent, onRetry, lastId) {
    this.buf = "";
    this.data = [];
    this.type = "";
    this.lastId = lastId || "";
    this.onEvent = onEvent;
    this.onRetry = onRetry;
  }
  SSEParser.prototype.push = function (text) {
    this.buf += text;
    var start = 0;
    for (;;) {
      var end = this.buf.indexOf("\n", start);
      if (end < 0) break;
      var line = this.buf.slice(start, end);
      if (line.charAt(line.length - 1) === "\r") line = line.slice(0, -1);
      start = end + 1;
      this.line(line);
    }
    this.buf = this.buf.slice(start);
  };
  SSEParser.prototype.line = function (line) {
    if (line === "") {
      if (this.data.length) this.onEvent({ type: this.type || "message", data: this.data.join("\n"), id: this.lastId });
      this.data = [];
      this.type = "";
      return;
    }
    if (line.charAt(0) === ":") return;
    var colon = line.indexOf(":");
    var field = colon < 0 ? line : line.slice(0, colon);
    var value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.charAt(0) === " ") value = value.slice(1);
    if (field === "data") this.data.push(value);
    else if (field === "event") this.type = value;
    else if (field === "id" && value.indexOf("\0") < 0) this.lastId = value;
    else if (field === "retry" && /^\d+$/.test(value)) this.onRetry(parseInt(value, 10));
  };

  // QUIET is how long a stream may stay silent before it counts as lost: the server sends
  // a comment at least every 15 s.
  var QUIET = 45000;

  // openStream reads url until it ends or close() is called. Callbacks: open(), event(ev),
  // retry(ms), refused(status, message, retryAfterSeconds) for an answer other than 200,
  // lost() when the stream ends or breaks. After close() none of them runs.
  function openStream(url, lastId, on) {
    var ctrl = window.AbortController ? new AbortController() : null;
    var closed = false;
    var watchdog = 0;
    var headers = { "Accept": "text/event-stream, application/json;q=0.9" };
    if (lastId) headers["Last-Event-ID"] = lastId;
    function finish() {
      if (closed) return;
      closed = true;
      window.clearTimeout(watchdog);
      if (ctrl) ctrl.abort();
      on.lost();
    }
    function arm() {
      window.clearTimeout(watchdog);
      watchdog = window.setTimeout(finish, QUIET);
    }
    window.fetch(url, { headers: headers, credentials: "same-origin", cache: "no-store", signal: ctrl ? ctrl.signal : undefined })
      .then(function (resp) {
        if (closed) return null;
        if (!resp.ok) {
          return errorText(resp).then(function (msg) {
            if (closed) return;
            closed = true;
            on.refused(resp.status, msg, parseInt(resp.headers.get("Retry-After"), 10) || 0);
          });
        }
        if (!resp.body || !resp.body.getReader || !window.TextDecoder) {
          closed = true;
          on.refused(0, "This browser cannot read the live stream.", 0);
          return null;
        }
        on.open();
        var reader = resp.body.getReader();
        var decoder = new TextDecoder();
        var parser = new SSEParser(function (ev) { if (!closed) on.event(ev); }, on.retry, lastId);
        arm();
        var pump = function () {
          return reader.read().then(function (r) {
            if (closed) return null;
            if (r.done) { finish(); return null; }
            arm();
            parser.push(decoder.decode(r.value, { stream: true }));
            return pump();
          });
        };
        return pump();
      })
      .catch(function () { finish(); });
    return {
      close: function () {
        closed = true;
        window.clearTimeout(watchdog);
        if (ctrl) ctrl.abort();
      }
    };
  }

  // errorText is the server's message in a refused answer ({"error": "..."}), or a plain
  // one by status.
  function errorText(resp) {
    var fallback = resp.status === 429 ? "Too many live streams or requests." :
      resp.status >= 500 ? "The live stream is unavailable." : "The live stream was refused (" + resp.status + ").";
    return resp.json().then(function (j) {
      return (j && typeof j.error === "string" && j.error) || fallback;
    }, function () { return fallback; });
  }

  // ---- Link: one stream per browser, shared by the dashboard tabs.
  var CHANNEL = "tickstock-live";
  var ENDED = "tickstock:session-ended"; // the CSRF token of a session that ended
  var HISTORY = 20; // emissions a leader keeps for tabs that open later

  function Link(url, live) {
    this.url = url;
    this.live = live;
    this.tab = Math.random().toString(36).slice(2);
    this.role = "none";
    this.lastId = "";
    this.base = 2000; // the server's retry: field
    this.attempt = 0;
    this.timer = 0;
    this.conn = null;
    this.ended = false;
    this.ring = [];
    this.replayed = false;
    this.pending = [];
    this.channel = null;
  }
  Link.prototype.setRole = function (role) {
    this.role = role;
    doc.documentElement.setAttribute("data-stream-role", role);
  };
  Link.prototype.start = function () {
    var self = this;
    var shared = !!(navigator.locks && navigator.locks.request && window.BroadcastChannel);
    if (shared) {
      try { this.channel = new BroadcastChannel(CHANNEL); } catch (e) { shared = false; }
    }
    if (!shared) {
      this.setRole("direct");
      this.connect();
      return;
    }
    this.channel.onmessage = function (e) { self.heard(e.data || {}); };
    this.setRole("follower");
    try {
      navigator.locks.request("tickstock-stream:" + this.url, function () {
        return new Promise(function (release) { self.release = release; self.lead(); });
      }).catch(function () { self.alone(); });
    } catch (e) {
      this.alone();
      return;
    }
    this.post({ kind: "hello", from: this.tab });
    // A tab that hears no leader soon (it is the first, or the leader just went) shows
    // what it has and waits for the lock.
    window.setTimeout(function () { self.caughtUp(null); }, 1500);
  };
  // alone falls back to a stream of this tab's own when the lock cannot be had.
  Link.prototype.alone = function () {
    if (this.ended || this.role === "leader" || this.role === "direct") return;
    this.setRole("direct");
    this.connect();
  };
  Link.prototype.post = function (msg) {
    if (!this.channel) return;
    try { this.channel.postMessage(msg); } catch (e) { /* the channel closed with the page */ }
  };
  Link.prototype.lead = function () {
    if (this.ended) return;
    if (csrf && store(ENDED) === csrf) { this.end(false); return; }
    this.setRole("leader");
    this.caughtUp(null);
    this.connect();
  };
  Link.prototype.connect = function () {
    var self = this;
    if (this.ended) return;
    if (this.live.status.state !== "live" && this.live.status.state !== "error") {
      this.live.status.set(this.attempt ? "down" : "connecting");
    }
    this.conn = openStream(this.url, this.lastId, {
      open: function () { self.setStatus("live"); },
      event: function (ev) { self.received(ev); },
      retry: function (ms) { self.base = Math.max(500, ms); },
      refused: function (status, msg, after) {
        self.conn = null;
        if (status === 401) { self.end(true); return; }
        self.setStatus("error", msg);
        self.schedule(after * 1000);
      },
      lost: function () {
        self.conn = null;
        self.setStatus("down");
        self.schedule(0);
      }
    });
  };
  Link.prototype.schedule = function (delay) {
    var self = this;
    if (this.ended || this.timer) return;
    this.attempt++;
    var d = delay || Math.min(this.base * Math.pow(2, this.attempt - 1), 30000) * (0.8 + Math.random() * 0.4);
    this.timer = window.setTimeout(function () { self.timer = 0; self.connect(); }, d);
  };
  // now reconnects at once (the network came back).
  Link.prototype.now = function () {
    if (this.ended || !this.timer) return;
    window.clearTimeout(this.timer);
    this.timer = 0;
    this.connect();
  };
  Link.prototype.setStatus = function (state, message) {
    this.live.status.set(state, message);
    if (this.role === "leader") this.post({ kind: "status", state: state, message: message || "" });
  };
  // received handles an event of this tab's own stream.
  Link.prototype.received = function (ev) {
    if (ev.type === "logout") { this.end(true); return; }
    this.attempt = 0;
    var m = { type: ev.type, data: ev.data, id: ev.id };
    this.take(m, false);
    if (this.role === "leader") this.post({ kind: "msg", m: m });
  };
  Link.prototype.take = function (m, replay) {
    if (m.id) this.lastId = m.id;
    this.remember(m);
    this.live.apply(m, replay);
  };
  // remember keeps the last HISTORY emissions, for tabs that open later.
  Link.prototype.remember = function (m) {
    if (m.type === "reset") { this.ring = []; return; }
    this.ring.push(m);
    var seqs = 0;
    var last = null;
    for (var i = this.ring.length - 1; i >= 0; i--) {
      var seq = (this.ring[i].id || "").split(".")[0];
      if (seq !== last) { seqs++; last = seq; }
      if (seqs > HISTORY) { this.ring = this.ring.slice(i + 1); break; }
    }
  };
  // caughtUp ends the wait for a leader's replay: it applies the replay, then what
  // arrived meanwhile and is not in it.
  Link.prototype.caughtUp = function (ring) {
    if (this.replayed) return;
    this.replayed = true;
    var seen = {};
    var i;
    if (ring) {
      for (i = 0; i < ring.length; i++) {
        if (ring[i].id) seen[ring[i].id] = true;
        this.take(ring[i], true);
      }
    }
    var pending = this.pending;
    this.pending = [];
    for (i = 0; i < pending.length; i++) {
      if (ring && (!pending[i].id || seen[pending[i].id])) continue;
      this.take(pending[i], false);
    }
  };
  // heard handles a message from another tab.
  Link.prototype.heard = function (msg) {
    switch (msg.kind) {
      case "hello":
        if (this.role === "leader") {
          this.post({ kind: "replay", to: msg.from, ring: this.ring, state: this.live.status.state, message: this.live.status.message });
        }
        break;
      case "replay":
        if (msg.to === this.tab && this.role === "follower") {
          this.caughtUp(msg.ring || []);
          if (msg.state) this.live.status.set(msg.state, msg.message);
        }
        break;
      case "msg":
        if (this.role !== "follower" || !msg.m) break;
        if (!this.replayed) this.pending.push(msg.m);
        else this.take(msg.m, false);
        break;
      case "status":
        if (this.role === "follower") this.live.status.set(msg.state, msg.message);
        break;
      case "ended":
        this.end(false);
        break;
      case "display":
        this.live.panels.setOneRow(msg.oneRow);
        break;
    }
  };
  // end stops for good: the session is over. Every tab goes to the sign-in page, which
  // says why; none reconnects, and a tab that takes the lock later sees the mark.
  Link.prototype.end = function (tellOthers) {
    if (this.ended) return;
    this.ended = true;
    window.clearTimeout(this.timer);
    if (this.conn) this.conn.close();
    this.conn = null;
    if (csrf) store(ENDED, csrf);
    if (tellOthers) this.post({ kind: "ended" });
    this.live.status.set("ended");
    if (!leaving) window.location.assign("/auth/login?ended=1");
  };

  // ---- Embeds keep htmx's SSE extension (they may live in another site's page): trim
  // their panels, clear them on a reset, show the connection.
  function embedCompat(root) {
    var status = new Status(root);
    root.addEventListener("htmx:sseMessage", function () {
      status.touch();
      var bodies = root.querySelectorAll("tbody[data-max-rows]");
      for (var p = 0; p < bodies.length; p++) {
        var max = parseInt(bodies[p].getAttribute("data-max-rows"), 10) || 100;
        var rows = bodies[p].rows;
        for (var i = rows.length - 1; i >= max; i--) rows[i].remove();
      }
    });
    root.addEventListener("htmx:sseOpen", function (evt) {
      status.set("live");
      var source = evt.detail && evt.detail.source;
      if (!source || source.tickstockReset) return;
      source.tickstockReset = true;
      source.addEventListener("reset", function () {
        var bodies = root.querySelectorAll("tbody[data-max-rows]");
        for (var p = 0; p < bodies.length; p++) bodies[p].replaceChildren();
      });
    });
    root.addEventListener("htmx:sseError", function () { status.set("down"); });
    root.addEventListener("htmx:sseClose", function () { status.set("error", "Disconnected"); });
  }

  // ---- The page.
  function start() {
    applyDensity();
    applyCollapsed();
    var embeds = doc.querySelectorAll(".live[data-embed]");
    for (var e = 0; e < embeds.length; e++) embedCompat(embeds[e]);

    var root = doc.querySelector(".live[data-stream-url]");
    var live = null;
    var link = null;
    if (root) {
      live = new Live(root);
      link = new Link(root.getAttribute("data-stream-url"), live);
      link.start();
      window.addEventListener("online", function () { link.now(); });
      var tools = root.querySelector(".view-tools");
      if (tools) tools.hidden = false;
      var counts = root.querySelectorAll(".panel");
      for (var c = 0; c < counts.length; c++) {
        var p = live.panels.byId[(counts[c].getAttribute("data-panel") || "")];
        if (p) live.panels.count(p);
      }
    }

    doc.addEventListener("click", function (evt) {
      var t = evt.target.closest && evt.target.closest("[data-toggle], [data-collapse]");
      if (!t) return;
      if (t.hasAttribute("data-collapse")) {
        var id = t.getAttribute("data-collapse");
        var list = collapsedPanels().filter(function (x) { return x !== id; });
        if (t.getAttribute("aria-expanded") === "true") list.push(id);
        store(COLLAPSED, JSON.stringify(list));
        applyCollapsed();
      } else if (t.getAttribute("data-toggle") === "density") {
        store(DENSITY, doc.documentElement.getAttribute("data-density") === "compact" ? "comfortable" : "compact");
        applyDensity();
      } else if (t.getAttribute("data-toggle") === "one-row" && live) {
        saveOneRow(t.getAttribute("aria-pressed") !== "true", live, link);
      }
    });

    // A saved filter form tells the dashboards of this browser its display choice.
    doc.addEventListener("htmx:afterSettle", function (evt) {
      var target = evt.detail && evt.detail.target;
      if (!target || target.id !== "filters" || !target.querySelector('[data-testid="saved"]')) return;
      var box = target.querySelector('input[name="display.one_row_per_symbol"]');
      if (!box || !window.BroadcastChannel) return;
      try {
        var ch = new BroadcastChannel(CHANNEL);
        ch.postMessage({ kind: "display", oneRow: box.checked });
        ch.close();
      } catch (e) { /* no channel: dashboards follow at their next load */ }
    });
  }

  // saveOneRow stores the display choice with the user's settings (so it follows them to
  // any browser), then applies it here and in this browser's other tabs.
  function saveOneRow(on, live, link) {
    window.fetch("/api/user-filters", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ filter_data: { display: { one_row_per_symbol: on } } })
    }).then(function (resp) {
      if (!resp.ok) throw new Error(String(resp.status));
      return resp.json();
    }).then(function (j) {
      var value = !!(j && j.filters && j.filters.display && j.filters.display.one_row_per_symbol);
      live.panels.setOneRow(value);
      if (link) link.post({ kind: "display", oneRow: value });
    }).catch(function () {
      live.status.announce("The display choice could not be saved. Please try again.");
    });
  }

  if (doc.readyState === "loading") doc.addEventListener("DOMContentLoaded", start);
  else start();
})();
