// The console in Debian's firefox-esr, driven over WebDriver BiDi by puppeteer-core:
//   node console.mjs <console url> <topic> <group> <screenshot path>
// Prints one JSON line: what the page showed and did (test_console_firefox.py checks it).
import puppeteer from "puppeteer-core";

const [url, topic, group, shot] = process.argv.slice(2);
const GUARD_MS = 30000;
const browser = await puppeteer.launch({
  browser: "firefox",
  executablePath: process.env.FIREFOX || "/usr/bin/firefox-esr",
  headless: true,
});
const result = { version: await browser.version(), errors: [] };
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(GUARD_MS);
  page.on("pageerror", (err) => result.errors.push(String(err)));
  await page.setViewport({ width: 1300, height: 900 });

  // A topic and the message a client wrote, its value pretty-printed as JSON.
  await page.goto(`${url}#/topics`);
  await page.waitForSelector("body[data-ready=true]");
  const link = await page.waitForSelector(`#topics tr[data-topic="${topic}"] a`);
  await link.click();
  const value = await page.waitForSelector('#message-table tr[data-offset="0"] pre[data-format]:not([data-format="text"])');
  result.value_format = await value.evaluate((el) => el.dataset.format);
  result.value_text = await value.evaluate((el) => el.textContent);

  // Produce from the page.
  await page.type("#produce input[name=key]", "from-firefox");
  await page.type("#produce textarea[name=value]", "typed in Firefox");
  await page.click("#produce button[type=submit]");
  const produced = await page.waitForSelector("#produced");
  result.produced = await produced.evaluate((el) => el.textContent);
  await page.screenshot({ path: shot, fullPage: true });

  // A group's lag.
  await page.goto(`${url}#/groups/${encodeURIComponent(group)}`);
  await page.waitForFunction(() => document.querySelector("#total-lag")?.textContent, {});
  result.total_lag = await page.$eval("#total-lag", (el) => el.textContent);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
