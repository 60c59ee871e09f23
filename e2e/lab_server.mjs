// What the browser tests share: headless Chromium as this machine runs it, and JupyterLab
// (./scripts/lab.sh) started on a free port with clean, quiet settings.
import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/** Where screenshots and the executed notebooks go: reports/, or the test command's own folder. */
export const REPORTS = process.env.MNIST_REPORTS || join(ROOT, 'reports');
export const CHROMIUM_FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-dev-shm-usage'];
export const RUN_TIMEOUT_MS = Number(process.env.E2E_RUN_TIMEOUT_MS || 10 * 60 * 1000);

/** Waits until the status bar says the Rust kernel is idle. */
export async function kernelIdle(page, timeout) {
  await page.locator('#jp-main-statusbar', { hasText: /Rust \(mnist\) \| Idle/ }).waitFor({ timeout });
}

/** Runs every cell of the open notebook from the Run menu; resolves when all have run and the
 * kernel is idle. */
export async function runAllCells(page) {
  await page.locator('.jp-Notebook .jp-Cell').first().click();
  await page.locator('.lm-MenuBar-itemLabel', { hasText: /^Run$/ }).click();
  await page.locator('.lm-Menu-itemLabel', { hasText: /^Run All Cells$/ }).click();
  await page.waitForFunction(() => {
    const texts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')].map((p) => p.textContent);
    return texts.length > 0 && texts.every((t) => /\[\d+\]/.test(t));
  }, null, { timeout: RUN_TIMEOUT_MS, polling: 1000 });
  await kernelIdle(page, 60_000);
}

/** The texts of the open notebook's error outputs. */
export function errorOutputs(page) {
  return page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]').allTextContents();
}

/** A free TCP port on localhost. */
export function freePort() {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** JupyterLab settings for a clean, quiet test: no news pop-up, every cell rendered. */
function writeSettings(dir) {
  const put = (plugin, file, value) => {
    mkdirSync(join(dir, plugin), { recursive: true });
    writeFileSync(join(dir, plugin, file), JSON.stringify(value));
  };
  put('@jupyterlab/apputils-extension', 'notification.jupyterlab-settings', { fetchNews: 'false' });
  put('@jupyterlab/notebook-extension', 'tracker.jupyterlab-settings', { windowingMode: 'none' });
  // Never save executed notebooks over the committed sources.
  put('@jupyterlab/docmanager-extension', 'plugin.jupyterlab-settings', { autosave: false });
}

/** Starts JupyterLab with its state in `tmp`; resolves once it answers. */
export async function startLab(tmp, port, token) {
  const settings = join(tmp, 'settings');
  writeSettings(settings);
  mkdirSync(join(tmp, 'notary'), { recursive: true });
  const env = { ...process.env, MNIST_LAB_TOKEN: token, JUPYTER_RUNTIME_DIR: join(tmp, 'runtime'),
    JUPYTERLAB_SETTINGS_DIR: settings, JUPYTERLAB_WORKSPACES_DIR: join(tmp, 'workspaces') };
  const lab = spawn(join(ROOT, 'scripts', 'lab.sh'), ['--no-browser', `--port=${port}`,
    `--NotebookNotary.data_dir=${join(tmp, 'notary')}`], { env, stdio: 'ignore', detached: true });
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/api/status?token=${token}`);
      if (res.ok) return lab;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error('JupyterLab did not start within 180 s');
}

/** Headless Chromium with a fresh profile in `profile`. */
export function launchBrowser(profile, viewport = { width: 1400, height: 1000 }) {
  return chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args: CHROMIUM_FLAGS,
    viewport });
}

/** Starts JupyterLab and Chromium in a fresh temporary folder, runs `body(page, base)` (which
 * returns a list of problems), takes a failure screenshot `failureShot` on an exception, stops
 * both, prints the problems and exits with their verdict. */
export async function runInLab(name, failureShot, body) {
  mkdirSync(REPORTS, { recursive: true });
  const tmp = mkdtempSync(join(tmpdir(), `mnist-${name}-`));
  const [port, token] = [await freePort(), `e2e-${Math.random().toString(16).slice(2)}`];
  const lab = await startLab(tmp, port, token);
  const browser = await launchBrowser(join(tmp, 'profile'));
  const page = browser.pages()[0] ?? await browser.newPage();
  let problems = [];
  try {
    await page.goto(`http://127.0.0.1:${port}/lab?token=${token}`);
    problems = await body(page, `http://127.0.0.1:${port}`);
  } catch (err) {
    problems.push(String(err.message || err).split('\n')[0]);
    await page.screenshot({ path: join(REPORTS, failureShot) }).catch(() => {});
  } finally {
    await browser.close();
    process.kill(-lab.pid, 'SIGTERM');
    rmSync(tmp, { recursive: true, force: true });
  }
  problems.forEach((p) => console.error(`problem: ${p}`));
  return problems;
}
