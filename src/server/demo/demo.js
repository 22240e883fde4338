// Shared by the demo pages: a log to show what arrives, and a form that publishes a message.
"use strict";
const channel = new URLSearchParams(location.search).get("channel") || "default";
// Every value shown, oldest first: what a script (tests/browser.rs) reads back from the page.
window.received = [];
function show(what) {
  window.received.push(what);
  const log = document.getElementById("log");
  const line = document.createElement("div");
  line.textContent = new Date().toLocaleTimeString() + "  " + (typeof what === "string" ? what : JSON.stringify(what));
  log.prepend(line);
}
function publishForm() {
  const form = document.createElement("form");
  form.innerHTML = '<input type="text" placeholder="message to publish"> <button>publish</button>';
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const input = form.querySelector("input");
    fetch("/publish?channel=" + encodeURIComponent(channel), { method: "POST", body: input.value })
      .then((r) => r.text()).then((t) => show("published " + t)).catch((err) => show("publish failed: " + err));
    input.value = "";
  });
  document.getElementById("log").before(form);
}
document.addEventListener("DOMContentLoaded", publishForm);
