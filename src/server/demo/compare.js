// /compare: seven lanes, one per technique, all on one channel. Each lane keeps its own `last` id
// and starts after the channel's last message, so a reconnect (pause, resume) misses nothing and
// shows nothing twice. What each lane showed is kept in window.received[LANE]; its HTTP requests
// (connections, for the streams) in window.requests[LANE]; its bytes in window.bytes[LANE].
"use strict";
const POLL_EVERY = 1000;
const LANE_ROWS = 50;
const encoder = new TextEncoder();
const utf8 = (text) => encoder.encode(text).length;
const fresh = "compare-" + Math.random().toString(36).slice(2, 8);
let lanesChannel = new URLSearchParams(location.search).get("channel") || fresh;
let paused = false;
// performance.now() when the publish of each id (from this page) started.
const publishedAt = new Map();
window.received = {};
window.requests = {};
window.bytes = {};
window.published = [];
window.started = false;

// script_json in src/wire/html.rs: what the server escapes inside a <script>.
const scriptJson = (json) => json.replace(/[<>&\u2028\u2029]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
// One chunk of a chunked body (RFC 9112 §7.1): hex size, CRLF, data, CRLF.
const chunked = (size) => size.toString(16).length + 2 + size + 2;

const LANES = [
  { key: "poll", name: "Short polling", how: "GET /poll every 1 s", kind: "polling", start: startPoll },
  { key: "longpoll", name: "Long polling", how: "GET /longpoll, held until a message", kind: "polling", start: startLongPoll },
  { key: "iframe", name: "iframe polling", how: "hidden iframe reloads /iframe every 1 s", kind: "polling", start: startIframePoll },
  { key: "jsonp", name: "JSONP polling", how: "<script src=/jsonp> every 1 s", kind: "polling", start: startJsonp },
  { key: "forever", name: "Forever iframe", how: "one /iframeLongConnection, a <script> per message", kind: "stream", start: startForever },
  { key: "ws", name: "WebSocket", how: "one /ws, a JSON text frame per message", kind: "stream", start: startWebSocket },
  { key: "sse", name: "Server-Sent Events", how: "one EventSource(/sseStream)", kind: "stream", start: startSse },
];

function url(path, params) {
  const q = new URLSearchParams({ channel: lanesChannel, ...params });
  return path + "?" + q;
}

function buildLanes() {
  const box = document.getElementById("lanes");
  for (const lane of LANES) {
    const el = document.createElement("section");
    el.className = "lane " + lane.kind;
    el.id = "lane-" + lane.key;
    el.innerHTML = '<h2></h2><div class="how"></div><div class="stats">' +
      '<div class="requests"><b>0</b><span>requests</span></div>' +
      '<div class="bytes"><b>0</b><span>bytes</span></div>' +
      '<div class="count"><b>0</b><span>messages</span></div></div><ol></ol>';
    el.querySelector("h2").textContent = lane.name;
    el.querySelector(".how").textContent = lane.how;
    lane.el = el;
    box.append(el);
  }
}

function stat(lane, which, value) {
  lane.el.querySelector("." + which + " b").textContent = value.toLocaleString();
}
function request(lane) {
  window.requests[lane.key] += 1;
  stat(lane, "requests", window.requests[lane.key]);
}
function addBytes(lane, n) {
  window.bytes[lane.key] += n;
  stat(lane, "bytes", window.bytes[lane.key]);
}
function delayText(id, arrived) {
  const at = publishedAt.get(id);
  return at === undefined ? "" : "+" + Math.max(0, Math.round(arrived - at)) + " ms";
}

// A message reaches a lane: shown once, in id order (a late or overlapping answer is dropped).
function deliver(lane, m) {
  const id = Number(m.id);
  if (!(id > lane.last)) return;
  lane.last = id;
  const arrived = performance.now();
  const kept = window.received[lane.key];
  kept.push({ id, data: m.data });
  if (kept.length > RECEIVED_CAP) kept.shift();
  stat(lane, "count", lane.count += 1);
  const row = messageRow({ id, event: m.event, data: m.data }, delayText(id, arrived));
  row.dataset.id = id;
  row.dataset.arrived = arrived;
  const list = lane.el.querySelector("ol");
  list.prepend(row);
  while (list.childElementCount > LANE_ROWS) list.lastElementChild.remove();
}

// A publish answered after a lane already showed the message: fill in that row's delay.
function fillDelays(id) {
  for (const row of document.querySelectorAll('.lane li[data-id="' + id + '"]')) {
    row.querySelector(".delay").textContent = delayText(id, Number(row.dataset.arrived));
  }
}

function publish(text) {
  const at = performance.now();
  return fetch("/publish?channel=" + encodeURIComponent(lanesChannel), { method: "POST", body: text })
    .then((r) => r.json())
    .then((b) => { publishedAt.set(b.id, at); window.published.push(b.id); fillDelays(b.id); });
}

// --- the lanes: each start() returns its stop() ---

function every(lane, fn) {
  fn();
  const timer = setInterval(fn, POLL_EVERY);
  return () => clearInterval(timer);
}

function startPoll(lane) {
  const abort = new AbortController();
  const stop = every(lane, () => {
    request(lane);
    fetch(url("/poll", { since: lane.last }), { signal: abort.signal })
      .then((r) => r.text())
      .then((t) => { addBytes(lane, utf8(t)); JSON.parse(t).messages.forEach((m) => deliver(lane, m)); })
      .catch(() => {});
  });
  return () => { stop(); abort.abort(); };
}

function startLongPoll(lane) {
  const abort = new AbortController();
  let on = true;
  const next = () => {
    if (!on) return;
    request(lane);
    fetch(url("/longpoll", { since: lane.last, timeout: 25 }), { signal: abort.signal })
      .then((r) => r.text())
      .then((t) => { addBytes(lane, utf8(t)); if (t) JSON.parse(t).messages.forEach((m) => deliver(lane, m)); next(); })
      .catch(() => { if (on) setTimeout(next, POLL_EVERY); });
  };
  next();
  return () => { on = false; abort.abort(); };
}

// Resource timing gives the body size of what an iframe or a script loaded (same origin).
function measure(lane, marker) {
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if (e.name.includes(marker)) addBytes(lane, e.encodedBodySize);
  });
  observer.observe({ type: "resource" });
  return () => observer.disconnect();
}

function frameFor(lane, onMessage) {
  const frame = document.createElement("iframe");
  frame.hidden = true;
  const listen = (e) => {
    if (e.origin !== location.origin || e.source !== frame.contentWindow) return;
    onMessage(typeof e.data === "string" ? JSON.parse(e.data) : e.data);
  };
  window.addEventListener("message", listen);
  document.body.append(frame);
  return { frame, remove: () => { window.removeEventListener("message", listen); frame.remove(); } };
}

function startIframePoll(lane) {
  const unmeasure = measure(lane, "/iframe?");
  const { frame, remove } = frameFor(lane, (b) => (b.messages || []).forEach((m) => deliver(lane, m)));
  const stop = every(lane, () => { request(lane); frame.src = url("/iframe", { since: lane.last }); });
  return () => { stop(); unmeasure(); remove(); };
}

function startJsonp(lane) {
  const unmeasure = measure(lane, "/jsonp?");
  window.compareJsonp = (b) => b.messages.forEach((m) => deliver(lane, m));
  const scripts = new Set();
  const stop = every(lane, () => {
    request(lane);
    const s = document.createElement("script");
    s.src = url("/jsonp", { callback: "compareJsonp", since: lane.last });
    s.onload = s.onerror = () => { s.remove(); scripts.delete(s); };
    scripts.add(s);
    document.body.append(s);
  });
  return () => { stop(); unmeasure(); scripts.forEach((s) => s.remove()); window.compareJsonp = () => {}; };
}

// The forever iframe's bytes as src/wire/html.rs writes them: the padded prelude once, then one
// `<script>parent.postMessage(JSON, ORIGIN)</script>` chunk per message.
const PRELUDE = 16 + 80 + 7 + 74 + 1024 + 4;
function startForever(lane) {
  const { frame, remove } = frameFor(lane, (m) => {
    const script = "<script>parent.postMessage(" + scriptJson(JSON.stringify(m)) + ", " + JSON.stringify(location.origin) + ")</script>\n";
    addBytes(lane, chunked(utf8(script)));
    deliver(lane, m);
  });
  request(lane);
  addBytes(lane, chunked(PRELUDE));
  frame.src = url("/iframeLongConnection", { since: lane.last });
  return remove;
}

function startWebSocket(lane) {
  request(lane);
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const socket = new WebSocket(scheme + location.host + url("/ws", { since: lane.last }));
  socket.onmessage = (e) => {
    const n = utf8(e.data);
    // RFC 6455 §5.2: a server frame's header is 2 bytes, plus 2 or 8 for a long payload.
    addBytes(lane, n + (n < 126 ? 2 : n < 65536 ? 4 : 10));
    deliver(lane, JSON.parse(e.data));
  };
  return () => socket.close(1000);
}

function startSse(lane) {
  request(lane);
  const source = new EventSource(url("/sseStream", { lastEventId: lane.last }));
  source.onmessage = (e) => {
    // The event as the stream carries it: id, event and one data line per line (WHATWG HTML
    // §9.2.5), then a blank line, in one chunk.
    const lines = e.data.split("\n").map((l) => "data: " + l + "\n").join("");
    addBytes(lane, chunked(utf8("id: " + e.lastEventId + "\nevent: message\n" + lines + "\n")));
    deliver(lane, { id: e.lastEventId, event: e.type, data: e.data });
  };
  source.onerror = () => { if (source.readyState === EventSource.CONNECTING) request(lane); };
  return () => source.close();
}

// --- controls ---

function startAll() {
  for (const lane of LANES) lane.stop = lane.start(lane);
}
function stopAll() {
  for (const lane of LANES) if (lane.stop) { lane.stop(); lane.stop = null; }
}

// Every lane starts after the channel's last message (one /poll the page makes for itself).
async function begin() {
  stopAll();
  window.started = false;
  const hint = document.querySelector(".hint");
  const answer = await fetch(url("/poll", {})).catch(() => null);
  if (!answer || !answer.ok) {
    hint.textContent = "The server refused channel " + JSON.stringify(lanesChannel) + (answer ? " (" + answer.status + ")" : "") + ": pick another.";
    return;
  }
  const b = await answer.json();
  for (const lane of LANES) {
    lane.last = b.last;
    lane.count = 0;
    window.received[lane.key] = [];
    window.requests[lane.key] = 0;
    window.bytes[lane.key] = 0;
    lane.el.querySelector("ol").replaceChildren();
    ["requests", "bytes", "count"].forEach((w) => stat(lane, w, 0));
  }
  if (!paused) startAll();
  window.started = true;
}

let ticker = null;
function setTicker(on) {
  if (ticker) clearInterval(ticker);
  ticker = on ? setInterval(() => { if (!paused) publish("tick " + new Date().toLocaleTimeString([], { hour12: false })); }, 2000) : null;
}

document.addEventListener("DOMContentLoaded", () => {
  buildLanes();
  const field = document.getElementById("channel");
  field.value = lanesChannel;
  field.addEventListener("change", () => { lanesChannel = field.value.trim() || fresh; field.value = lanesChannel; begin(); });
  document.getElementById("publish").addEventListener("submit", (e) => {
    e.preventDefault();
    const input = document.getElementById("text");
    publish(input.value).catch(() => {});
    input.value = "";
  });
  const pause = document.getElementById("pause");
  pause.addEventListener("click", () => {
    paused = !paused;
    window.paused = paused;
    pause.textContent = paused ? "resume" : "pause";
    if (paused) stopAll(); else startAll();
  });
  document.getElementById("ticker").addEventListener("change", (e) => setTicker(e.target.checked));
  begin();
});
