// What drive.mjs and look.mjs share: the plan (their one argument, JSON), the lines they print,
// and one headless Chromium (Debian's /usr/bin/chromium, or the plan's `chromium`) launched
// through playwright-core, handed to their work and closed after it.

import { chromium } from "playwright-core";

export const TIMEOUT = 30_000;
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
];

export const plan = JSON.parse(process.argv[2] ?? "{}");
export const out = (line) => process.stdout.write(line + "\n");
export const firstLine = (e) => String(e.message ?? e).split("\n")[0];

// Launches Chromium and runs `work(browser)`; then closes the browser and exits: 0 when the work
// ended, 1 after printing `FATAL <message>` when it threw, 2 when Chromium could not start.
export async function withChromium(work) {
  const path = plan.chromium ?? "/usr/bin/chromium";
  let browser;
  try {
    browser = await chromium.launch({ executablePath: path, args: ARGS, timeout: TIMEOUT });
  } catch (e) {
    out(`FATAL cannot start Chromium at ${path}: ${firstLine(e)}`);
    process.exit(2);
  }
  try {
    await work(browser);
  } catch (e) {
    out(`FATAL ${firstLine(e)}`);
    process.exitCode = 1;
  } finally {
    await browser.close();
    process.exit(process.exitCode ?? 0);
  }
}
