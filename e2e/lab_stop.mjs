// End-to-end: the stop button in JupyterLab, as a learner presses it. Opens 04_training, runs the
// cells above the MLP's training, starts the training, clicks the toolbar's stop button once the
// first epoch is done, and checks: `fit` says where it stopped, the kernel stays the same (no
// restart), the next cell's `save_model` keeps a finished run of the same name (it says "not replaced"
// when there is one) and saves the stopped run otherwise, and the next cells (the history table
// and the curves, which read `mlp_history` and the data loaded before) run without an error.
// Screenshot: reports/e2e_stop.png.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPORTS, ROOT, kernelIdle, runInLab } from './lab_server.mjs';

const NOTEBOOK = '04_training.ipynb';
const FIT_CELL = 'let mlp_history = fit("mlp"';
const STOPPED = /stopped in epoch \d+ of \d+/;
const KEPT = 'holds a finished run: not replaced';
const ARTIFACTS = process.env.MNIST_ARTIFACTS || join(ROOT, 'artifacts');

/** Whether the MLP saved in the artifacts folder is a finished run (all its epochs done). */
function finishedMlpSaved() {
  const file = join(ARTIFACTS, 'mlp_history.json');
  if (!existsSync(file)) return false;
  const history = JSON.parse(readFileSync(file, 'utf8'));
  return history.epochs.length === history.config.epochs;
}

/** Runs a Run-menu item by its label. */
async function runMenu(page, label) {
  await page.locator('.lm-MenuBar-itemLabel', { hasText: /^Run$/ }).click();
  await page.locator('.lm-Menu-itemLabel', { hasText: new RegExp(`^${label}$`) }).click();
}

/** The text of a code cell's outputs. */
async function outputText(cell) {
  return (await cell.locator('.jp-OutputArea').allTextContents()).join('\n');
}

/** Waits until `cell`'s output matches `pattern`; returns the text. */
async function waitForOutput(page, cell, pattern, timeout) {
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    const text = await outputText(cell);
    if (pattern.test(text)) return text;
    await page.waitForTimeout(250);
  }
  throw new Error(`no output matching ${pattern} within ${timeout / 1000} s: ${(await outputText(cell)).slice(-300)}`);
}

async function stopDuringFit(page, base) {
  const finished = finishedMlpSaved();
  await page.goto(`${base}/lab/tree/${NOTEBOOK}?reset`);
  await kernelIdle(page, 60_000);
  const fitCell = page.locator('.jp-Notebook .jp-CodeCell', { hasText: FIT_CELL });
  await fitCell.locator('.jp-InputArea-editor').click();
  await runMenu(page, 'Run All Above Selected Cell');
  await kernelIdle(page, 600_000);
  await fitCell.locator('.jp-InputArea-editor').click();
  await runMenu(page, 'Run Selected Cell');
  await waitForOutput(page, fitCell, /epoch 1\/\d+: loss/, 300_000);
  const pressed = Date.now();
  await page.locator('.jp-Toolbar-item[data-jp-item-name="interrupt"] button, button[title="Interrupt the kernel"]').first().click();
  const said = await waitForOutput(page, fitCell, STOPPED, 60_000);
  const stopSeconds = (Date.now() - pressed) / 1000;
  await kernelIdle(page, 60_000);
  const following = (cell) => cell.locator('xpath=following-sibling::div[contains(@class, "jp-CodeCell")][1]');
  const save = following(fitCell);
  const next = following(save);
  const curves = following(next);
  for (const cell of [save, next]) {
    await cell.locator('.jp-InputArea-editor').click();
    await runMenu(page, 'Run Selected Cell');
    await kernelIdle(page, 120_000);
  }
  await curves.locator('.jp-InputArea-editor').click();
  await runMenu(page, 'Run Selected Cell');
  await kernelIdle(page, 120_000);
  const table = await next.locator('.jp-OutputArea-output table').count();
  const image = await curves.locator('.jp-OutputArea-output img').count();
  const errors = await page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]').allTextContents();
  await page.screenshot({ path: join(REPORTS, 'e2e_stop.png') });
  const problems = [];
  if (!table) problems.push('after the stop, the history table cell showed no table');
  if (!image) problems.push('after the stop, the curves cell showed no chart');
  const kept = (await outputText(save)).includes(KEPT);
  if (finished !== kept) {
    problems.push(finished ? 'the stopped run did not say that it kept the finished one'
      : 'save_model refused a stopped run with no finished one to keep');
  }
  const unexpected = errors.filter((e) => !e.includes(KEPT));
  if (unexpected.length) problems.push(`error output after the stop: ${unexpected[0].split('\n')[0]}`);
  const line = said.split('\n').find((l) => STOPPED.test(l));
  return { problems, line, stopSeconds };
}

async function main() {
  const problems = await runInLab('e2e-stop', 'e2e_stop_failure.png', async (page, base) => {
    console.log(`== the stop button during ${NOTEBOOK}'s training, in JupyterLab (headless Chromium)`);
    const r = await stopDuringFit(page, base);
    console.log(`   ${r.problems.length ? 'FAILED' : 'ok'}: stopped ${r.stopSeconds.toFixed(1)} s after the click: ${r.line?.trim()}`);
    return r.problems;
  });
  process.exit(problems.length ? 1 : 0);
}

main();
