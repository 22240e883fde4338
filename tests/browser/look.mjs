// Looks at pages for tests/browser.rs: the HTML report of `longconn run` and the /compare page.
// Drives Debian's Chromium through playwright-core, as drive.mjs does.
//
// Usage: node look.mjs PLAN_JSON
//   PLAN_JSON = {"screenshots": DIR, "scenarios": [SCENARIO, ...]}
// Output: one `RESULT <json>` line per scenario ({"name", "ok", "error"?, ...what it read}), or
// `FATAL <message>` when the browser cannot start. Exit code 0 once every RESULT is printed.
//
// SCENARIO kinds:
//   report   open `index` (a file:// URL), read the table, screenshot; open the page of the spec
//            named `spec`, read its lanes, cards, diff and raw bytes (after a click), screenshot.
//   compare  open `url` (/compare), wait until it started, type each of `messages` in the publish
//            box and click publish, wait until every lane showed them all and every polling lane
//            (poll, iframe, jsonp) made `polls` requests; read the counters; screenshot; then click pause, POST `late` to
//            `publish`, click resume and wait until every lane showed it too; then check the tick
//            box, wait until every lane showed a tick, uncheck it.
//   backlog  open `url` (a demo page), wait until it showed `shown` values, read them, the channel
//            field and the log's rows; screenshot.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { firstLine, out, plan, TIMEOUT, withChromium } from "./chromium.mjs";

const LANES = ["poll", "longpoll", "iframe", "jsonp", "forever", "ws", "sse"];

async function report(page, s, result) {
  await page.goto(s.index, { waitUntil: "load", timeout: TIMEOUT });
  result.index = await page.evaluate(() => ({
    title: document.title,
    scripts: document.scripts.length,
    summary: document.querySelector(".summary")?.textContent ?? null,
    rows: [...document.querySelectorAll("#specs tbody tr")].map((tr) => ({
      name: tr.cells[0].textContent,
      href: tr.cells[0].querySelector("a")?.getAttribute("href") ?? null,
      result: tr.cells[1].textContent,
      time: tr.cells[2].textContent,
    })),
  }));
  await page.screenshot({ path: join(plan.screenshots, `${s.name}-index.png`), fullPage: true });
  await page.click(`text=${s.spec}`);
  await page.waitForSelector("#timeline", { timeout: TIMEOUT });
  result.spec = await page.evaluate(() => ({
    url: location.href,
    scripts: document.scripts.length,
    verdict: document.getElementById("verdict")?.textContent ?? null,
    lanes: [...document.querySelectorAll(".lane-head")].map((e) => e.textContent),
    cards: [...document.querySelectorAll(".card")].map((e) => e.className.replace("card ", "") + ": " + e.textContent),
    added: [...document.querySelectorAll("#diff .add")].map((e) => e.textContent),
    removed: [...document.querySelectorAll("#diff .del")].map((e) => e.textContent),
    differs: [...document.querySelectorAll(".event.differs")].map((e) => e.textContent),
    sent: document.querySelectorAll(".event.sent").length,
    received: document.querySelectorAll(".event.received").length,
    rawOpen: document.querySelectorAll("details.raw[open]").length,
  }));
  // The raw bytes are one click away: open the first SSE card's details.
  const raw = page.locator(".event:has(.card.sse) details.raw").first();
  await raw.locator("summary").click();
  result.spec.raw = await raw.locator("pre").innerText({ timeout: TIMEOUT });
  result.spec.rawVisible = await raw.locator("pre").isVisible();
  await page.screenshot({ path: join(plan.screenshots, `${s.name}-spec.png`), fullPage: true });
}

async function everyLaneHas(page, ids) {
  await page.waitForFunction(
    ({ lanes, ids }) => lanes.every((l) => ids.every((id) => (window.received[l] || []).some((m) => m.id === id))),
    { lanes: LANES, ids },
    { timeout: TIMEOUT },
  );
}

async function compare(page, s, result) {
  await page.goto(s.url, { waitUntil: "domcontentloaded", timeout: TIMEOUT });
  await page.waitForFunction(() => window.started === true, null, { timeout: TIMEOUT });
  for (const [i, text] of s.messages.entries()) {
    await page.fill("#text", text);
    await page.click("#send");
    await page.waitForFunction((n) => window.published.length === n, i + 1, { timeout: TIMEOUT });
  }
  const ids = await page.evaluate(() => window.published.slice());
  await everyLaneHas(page, ids);
  // Every polling lane (the short poll, the hidden iframe, JSONP) asks on its own timer.
  await page.waitForFunction(
    (n) => ["poll", "iframe", "jsonp"].every((lane) => window.requests[lane] >= n),
    s.polls,
    { timeout: TIMEOUT },
  );
  const read = () => page.evaluate(() => ({
    received: window.received, requests: window.requests, bytes: window.bytes, published: window.published,
    delays: [...document.querySelectorAll("#lane-sse li .delay")].map((e) => e.textContent),
  }));
  result.before = await read();
  await page.screenshot({ path: join(plan.screenshots, `${s.name}.png`), fullPage: true });

  await page.click("#pause");
  const paused = await page.evaluate(() => ({ ...window.requests }));
  const res = await fetch(s.publish, { method: "POST", body: s.late });
  const { id } = await res.json();
  result.pausedRequests = paused;
  await page.click("#pause");
  await everyLaneHas(page, [id]);
  result.after = await read();

  // The tick box publishes the time to the page's channel until it is unchecked.
  await page.check("#ticker");
  await page.waitForFunction(
    (lanes) => lanes.every((l) => window.received[l].some((m) => m.data.startsWith("tick "))),
    LANES,
    { timeout: TIMEOUT },
  );
  await page.uncheck("#ticker");
  result.ticked = await page.evaluate(() => window.received.sse.filter((m) => m.data.startsWith("tick ")).length);
}

async function backlog(page, s, result) {
  await page.goto(s.url, { waitUntil: "domcontentloaded", timeout: TIMEOUT });
  await page.waitForFunction((n) => (window.received || []).length >= n, s.shown, { timeout: TIMEOUT });
  result.received = await page.evaluate(() => window.received);
  result.channel = await page.inputValue(".channel input");
  result.rows = await page.evaluate(() => document.querySelectorAll("#log li").length);
  await page.screenshot({ path: join(plan.screenshots, `${s.name}.png`), fullPage: true });
}

await withChromium(async (browser) => {
  mkdirSync(plan.screenshots, { recursive: true });
  await Promise.all(plan.scenarios.map(async (s) => {
    const context = await browser.newContext({ viewport: { width: s.width ?? 1280, height: s.height ?? 800 } });
    const page = await context.newPage();
    const result = { name: s.name, ok: false, console: [] };
    page.on("console", (m) => result.console.push(m.text()));
    page.on("pageerror", (e) => result.console.push("pageerror: " + e.message));
    try {
      if (s.kind === "report") await report(page, s, result);
      else if (s.kind === "compare") await compare(page, s, result);
      else if (s.kind === "backlog") await backlog(page, s, result);
      else throw new Error(`unknown scenario kind ${s.kind}`);
      result.ok = true;
    } catch (e) {
      result.error = firstLine(e);
      await page.screenshot({ path: join(plan.screenshots, `${s.name}-error.png`), fullPage: true }).catch(() => {});
    }
    out("RESULT " + JSON.stringify(result));
    await context.close();
  }));
});
