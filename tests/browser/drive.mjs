// Drives Debian's Chromium (/usr/bin/chromium) through playwright-core for tests/browser.rs.
//
// Usage: node drive.mjs PLAN_JSON
//   PLAN_JSON = {"screenshots": DIR, "scenarios": [SCENARIO, ...]}
// Every scenario runs at once, each in its own page of one fresh browser. Output, one line each:
//   AWAIT <name>          the scenario waits for the test to act; the test answers "GO <name>" on stdin
//   RESULT <json>         what a scenario's page received: {"name", "ok", "received", ...}
//   FATAL <message>       the browser could not start, or the driver itself failed
// The exit code is 0 once every RESULT line is printed (a failed scenario is "ok": false with an
// "error"); the Rust test asserts on the content.
//
// SCENARIO kinds (the pages are the server's demo pages, which push every value they show onto
// `window.received`; the cross-origin page is the test's own):
//   deliver    open `url`, wait until `ready`, POST each of `messages` to `publish`, wait until
//              the page has shown every one, screenshot.
//   echo       open `url`, wait for "open", type `text` in #text and click the send button, wait
//              for the reply, screenshot.
//   reconnect  as deliver, then AWAIT (the test cuts the stream or restarts the server and
//              publishes more), then wait until the page has shown every data in `expect`.
//   cross      open `url` (a page of another origin), wait until it sets `window.settled`.
// `ready`: "load" | "open" (the page showed "open") | "testEvent" (a string starting with it)
//   | "response:PATH" (the response of a request whose URL contains PATH has started)
//   | "roundtrip:TEXT" (type TEXT in #text, click send, wait until it comes back as a message).

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { firstLine, out, plan, TIMEOUT, withChromium } from "./chromium.mjs";

// "GO <name>" lines from the test, each resolving the scenario that awaits it.
const go = new Map();
const goWaiters = new Map();
createInterface({ input: process.stdin }).on("line", (line) => {
  const name = line.replace(/^GO /, "").trim();
  const wake = goWaiters.get(name);
  if (wake) wake();
  else go.set(name, true);
});
function awaitGo(name) {
  out(`AWAIT ${name}`);
  if (go.get(name)) return Promise.resolve();
  return new Promise((resolve) => goWaiters.set(name, resolve));
}

// The data of every message-like value the page showed, in order.
function shownData() {
  return (window.received || [])
    .filter((v) => v !== null && typeof v === "object" && "data" in v)
    .map((v) => v.data);
}
async function waitForData(page, want) {
  await page.waitForFunction(
    ({ want, shown }) => {
      const got = new Function(`return (${shown})()`)();
      return want.every((w) => got.includes(w));
    },
    { want, shown: shownData.toString() },
    { timeout: TIMEOUT },
  );
}

async function publish(url, data) {
  const res = await fetch(url, { method: "POST", body: data });
  if (!res.ok) throw new Error(`POST ${url}: ${res.status} ${await res.text()}`);
  return res.json();
}

async function ready(page, how) {
  if (how === "load") return;
  if (how === "open") {
    await page.waitForFunction(() => (window.received || []).includes("open"), null, { timeout: TIMEOUT });
  } else if (how === "testEvent") {
    await page.waitForFunction(
      () => (window.received || []).some((v) => typeof v === "string" && v.startsWith("testEvent")),
      null,
      { timeout: TIMEOUT },
    );
  } else if (how.startsWith("roundtrip:")) {
    const text = how.slice("roundtrip:".length);
    await ready(page, "open");
    await page.fill("#text", text);
    await page.click("#text + button");
    await waitForData(page, [text]);
  } else {
    throw new Error(`unknown ready condition ${how}`);
  }
}

async function run(browser, s) {
  const context = await browser.newContext({ viewport: { width: 900, height: 640 } });
  const page = await context.newPage();
  const result = { name: s.name, ok: false };
  const consoleLines = [];
  const requests = [];
  page.on("console", (m) => consoleLines.push(m.text()));
  page.on("pageerror", (e) => consoleLines.push("pageerror: " + e.message));
  // WebSocket handshakes are not "request" events in Playwright; listed here alike.
  page.on("websocket", (ws) => requests.push({ url: ws.url(), lastEventId: null }));
  page.on("request", async (r) => {
    const headers = await r.allHeaders().catch(() => ({}));
    requests.push({ url: r.url(), lastEventId: headers["last-event-id"] ?? null });
  });
  try {
    // Registered before the page loads, so a stream's response start is never missed.
    const streamed = s.ready?.startsWith("response:")
      ? page.waitForResponse((r) => r.url().includes(s.ready.slice("response:".length)), { timeout: TIMEOUT })
      : null;
    await page.goto(s.url, { waitUntil: "domcontentloaded", timeout: TIMEOUT });
    if (streamed) await streamed;
    else if (s.kind !== "cross") await ready(page, s.ready ?? "load");

    if (s.kind === "deliver" || s.kind === "reconnect") {
      result.published = [];
      for (const m of s.messages) result.published.push(await publish(s.publish, m));
      await waitForData(page, s.messages);
    }
    if (s.kind === "echo") {
      await ready(page, "open");
      await page.fill("#text", s.text);
      await page.click("#text + button");
      await page.waitForFunction(() => (window.received || []).length >= 2, null, { timeout: TIMEOUT });
    }
    if (s.kind === "reconnect") {
      await awaitGo(s.name);
      await waitForData(page, s.expect);
    }
    if (s.kind === "cross") {
      // A message an iframe posts to another origin never reaches the page: Chromium only logs it.
      const refused = (m) => /does not match the recipient window's origin/.test(m.text());
      const settled = page.waitForFunction(() => window.settled === true, null, { timeout: TIMEOUT });
      const logged = page.waitForEvent("console", { predicate: refused, timeout: TIMEOUT });
      settled.catch(() => {});
      logged.catch(() => {}); // the loser of the race times out later, unobserved
      await Promise.race([settled, logged]);
      result.outcome = await page.evaluate(() => window.outcome);
    }
    result.ok = true;
  } catch (e) {
    result.error = firstLine(e);
  }
  result.received = await page.evaluate(() => window.received ?? null).catch(() => null);
  result.requests = requests;
  result.console = consoleLines;
  if (plan.screenshots) {
    result.screenshot = join(plan.screenshots, `${s.name}.png`);
    await page.screenshot({ path: result.screenshot, fullPage: true }).catch((e) => {
      result.screenshotError = String(e.message ?? e);
    });
  }
  out("RESULT " + JSON.stringify(result));
  await context.close();
}

await withChromium(async (browser) => {
  if (plan.screenshots) mkdirSync(plan.screenshots, { recursive: true });
  await Promise.all(plan.scenarios.map((s) => run(browser, s)));
});
