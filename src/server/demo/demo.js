// Shared by the demo pages: the channel field, a capped log of readable message rows, and a form
// that publishes a message. compare.js builds its rows with the same `messageRow`.
"use strict";
// The pages listen on channel "demo" unless told otherwise, so the server's ticker (channel
// "default", every second) stays out of them; type "default" in the channel field to watch it.
const channel = new URLSearchParams(location.search).get("channel") || "demo";
// At most this many rows stay in a log, and this many messages of a backlog are shown on load.
const LOG_ROWS = 200;
const BACKLOG = 20;
// Every value shown, oldest first: what a script (tests/browser.rs) reads back from the page.
// Bounded like the log: the oldest go first.
const RECEIVED_CAP = 1000;
window.received = [];

function clock(date) {
  return date.toLocaleTimeString([], { hour12: false });
}

// One row: `#id  time  [event]  data  [delay]` for a message; a grey line for a status string.
function messageRow(what, delay) {
  const row = document.createElement("li");
  row.className = "row";
  const cell = (cls, text) => {
    const span = document.createElement("span");
    span.className = cls;
    span.textContent = text;
    row.append(span);
    return span;
  };
  if (what !== null && typeof what === "object" && "data" in what) {
    cell("id", what.id === undefined || what.id === "" ? "" : "#" + what.id);
    cell("at", clock(new Date()));
    if (what.event && what.event !== "message") cell("event", what.event);
    cell("data", String(what.data));
    cell("delay", delay === undefined ? "" : delay);
  } else {
    row.classList.add("status");
    cell("at", clock(new Date()));
    cell("data", typeof what === "string" ? what : JSON.stringify(what));
  }
  return row;
}

function show(what) {
  window.received.push(what);
  if (window.received.length > RECEIVED_CAP) window.received.shift();
  const log = document.getElementById("log");
  log.prepend(messageRow(what));
  while (log.childElementCount > LOG_ROWS) log.lastElementChild.remove();
}

// A backlog (the messages a first poll returns) shows only its last BACKLOG messages.
function showBacklog(messages) {
  const skipped = messages.length - BACKLOG;
  if (skipped > 0) show(skipped + " older messages not shown");
  messages.slice(Math.max(0, skipped)).forEach(show);
}

function channelField() {
  const form = document.createElement("form");
  form.className = "channel";
  form.innerHTML = '<label>channel <input type="text" spellcheck="false"></label> <button>switch</button>';
  const input = form.querySelector("input");
  input.value = channel;
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const url = new URL(location.href);
    url.searchParams.set("channel", input.value.trim() || "demo");
    location.href = url.href;
  });
  return form;
}

function publishForm() {
  const form = document.createElement("form");
  form.innerHTML = '<input type="text" placeholder="message to publish"> <button>publish</button>';
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const input = form.querySelector("input");
    fetch("/publish?channel=" + encodeURIComponent(channel), { method: "POST", body: input.value })
      .then((r) => r.json()).then((b) => show("published #" + b.id)).catch((err) => show("publish failed: " + err));
    input.value = "";
  });
  return form;
}

document.addEventListener("DOMContentLoaded", () => {
  const log = document.getElementById("log");
  if (log) log.before(channelField(), publishForm());
});
