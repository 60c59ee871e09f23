// The exported HTML report of 07_explore (reports/07_explore.html), opened from disk in headless
// Chromium as a reader would open it: no server, no network. Runs the canvas checks of
// canvas_checks.mjs on it. Usage: node e2e/report_canvas.mjs
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { checkCanvas } from './canvas_checks.mjs';
import { REPORTS, ROOT, launchBrowser } from './lab_server.mjs';

const REPORT = join(REPORTS, '07_explore.html');

async function main() {
  if (!existsSync(REPORT)) {
    console.error(`problem: ${REPORT} is missing: run the notebooks first (scripts/run_notebooks.py)`);
    process.exit(1);
  }
  const profile = mkdtempSync(join(tmpdir(), 'mnist-report-'));
  const browser = await launchBrowser(profile, { width: 1300, height: 900 });
  let result;
  try {
    const page = browser.pages()[0] ?? await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e.message || e)));
    await page.goto(pathToFileURL(REPORT).href);
    result = await checkCanvas(page, 'exported report', join(REPORTS, 'e2e_canvas_report.png'));
    result.problems.push(...errors.map((e) => `exported report: script error: ${e}`));
  } catch (err) {
    result = { problems: [`exported report: ${String(err.message || err).split('\n')[0]}`] };
  } finally {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  }
  result.problems.forEach((p) => console.error(`problem: ${p}`));
  console.log(result.problems.length ? 'canvas in the exported report: FAILED'
    : `canvas in the exported report: ok: ${result.summary}`);
  process.exit(result.problems.length ? 1 : 0);
}

main();
