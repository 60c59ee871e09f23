// The draw-a-digit canvas of 07_explore checked in a page (JupyterLab or the exported report):
// 1. the page's probabilities for real test digits, through the same `classify` the canvas
//    calls, equal the crate's (libtorch) to 1e-4, for both models;
// 2. a stroke drawn with the mouse changes the bars, the page's 28x28 input is the one that
//    `mnist predict`'s preparation (Rust) makes of the same drawing, and the digit each model
//    shows is the crate's prediction for that input.
// The crate's side is engine/examples/page_check.rs, run on the models in
// $MNIST_ARTIFACTS (else artifacts/), the ones the notebook loaded.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ROOT } from './lab_server.mjs';

const PAGE_CHECK = join(ROOT, 'target', 'release', 'examples', 'page_check');
const TEST_DIGITS = 24;
const PROBABILITY_TOLERANCE = 1e-4;
const LAYOUT_TOLERANCE = 1e-5;

/** The first `n` MNIST test images as 784 floats in [0, 1] each (raw or gzipped IDX file). */
export function testDigits(n) {
  const base = join(ROOT, 'data', 'mnist', 't10k-images-idx3-ubyte');
  const bytes = existsSync(base) ? readFileSync(base) : gunzipSync(readFileSync(`${base}.gz`));
  return Array.from({ length: n }, (_, i) =>
    Array.from(bytes.subarray(16 + i * 784, 16 + (i + 1) * 784), (b) => Math.fround(b / 255)));
}

/** The crate's answer for `request` ({inputs, raw}): {mlp, cnn, layout}. */
export function crateAnswer(request) {
  const run = spawnSync(PAGE_CHECK, [], { input: JSON.stringify(request), maxBuffer: 64 << 20,
    env: process.env, encoding: 'utf8' });
  if (run.status !== 0) {
    throw new Error(`page_check failed (build it: cargo build --release --example page_check): ${run.stderr || run.error}`);
  }
  return JSON.parse(run.stdout);
}

const argmax = (p) => p.indexOf(Math.max(...p));
const maxDiff = (a, b) => a.flat().reduce((m, v, i) => Math.max(m, Math.abs(v - b.flat()[i])), 0);

/** The bars' widths and the shown answers of the canvas whose root has id `id`. */
async function shown(page, id) {
  return page.evaluate((id) => {
    const root = document.getElementById(id);
    const read = (m) => ({
      answer: root.querySelector(`.model[data-model=${m}] .answer`).textContent,
      bars: [...root.querySelectorAll(`.model[data-model=${m}] .bar`)].map((b) => parseFloat(b.style.width)),
    });
    return { mlp: read('mlp'), cnn: read('cnn') };
  }, id);
}

/** Draws a "7" with the mouse on the canvas `ink` (a locator), in small steps. */
export async function drawSeven(page, ink) {
  await ink.scrollIntoViewIfNeeded();
  const box = await ink.boundingBox();
  const at = (fx, fy) => [box.x + fx * box.width, box.y + fy * box.height];
  const path = [[0.28, 0.22], [0.72, 0.22], [0.46, 0.82]];
  await page.mouse.move(...at(...path[0]));
  await page.mouse.down();
  for (let leg = 1; leg < path.length; leg++) {
    for (let s = 1; s <= 12; s++) {
      const t = s / 12, [a, b] = [path[leg - 1], path[leg]];
      await page.mouse.move(...at(a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])));
    }
  }
  await page.mouse.up();
  await page.waitForTimeout(300); // the page updates on the next animation frame
}

/** Runs both checks on the canvas in `page`; returns {problems, summary}. */
export async function checkCanvas(page, where, screenshot) {
  const problems = [];
  const root = page.locator('.mnist-draw').first();
  await root.waitFor({ timeout: 30_000 });
  const id = await root.getAttribute('id');
  const digits = testDigits(TEST_DIGITS);
  const fromPage = await page.evaluate(([id, inputs]) =>
    inputs.map((x) => window.mnistDraw[id].classify(Float32Array.from(x))), [id, digits]);
  const fromCrate = crateAnswer({ inputs: digits, raw: null });
  const diffs = {};
  for (const m of ['mlp', 'cnn']) {
    diffs[m] = maxDiff(fromPage.map((p) => p[m]), fromCrate[m]);
    if (!(diffs[m] <= PROBABILITY_TOLERANCE)) {
      problems.push(`${where}: ${m} probabilities differ from the crate's by ${diffs[m]} (at most ${PROBABILITY_TOLERANCE})`);
    }
  }
  const before = await shown(page, id);
  await drawSeven(page, root.locator('canvas.ink'));
  const after = await shown(page, id);
  const state = await page.evaluate((id) => {
    const s = window.mnistDraw[id].state();
    return { input: Array.from(s.input), raw: s.raw && { width: s.raw.width, height: s.raw.height,
      pixels: Array.from(s.raw.pixels) } };
  }, id);
  if (!state.raw) return { problems: [...problems, `${where}: the stroke did not reach the canvas`] };
  const crate = crateAnswer({ inputs: [state.input], raw: state.raw });
  const layoutDiff = maxDiff(state.input, crate.layout);
  if (!(layoutDiff <= LAYOUT_TOLERANCE)) {
    problems.push(`${where}: the page's 28x28 input differs from mnist predict's preparation by ${layoutDiff}`);
  }
  for (const m of ['mlp', 'cnn']) {
    if (JSON.stringify(before[m].bars) === JSON.stringify(after[m].bars)) problems.push(`${where}: ${m} bars did not change`);
    const expected = String(argmax(crate[m][0]));
    if (after[m].answer !== expected) {
      problems.push(`${where}: ${m} shows ${after[m].answer}, the crate predicts ${expected} for the same input`);
    }
  }
  if (screenshot) await root.screenshot({ path: screenshot });
  const summary = `${TEST_DIGITS} test digits: largest difference MLP ${diffs.mlp.toExponential(1)}, ` +
    `CNN ${diffs.cnn.toExponential(1)}; drawn 7: MLP says ${after.mlp.answer}, CNN says ${after.cnn.answer} ` +
    `(crate agrees), 28x28 input equal to mnist predict's to ${layoutDiff.toExponential(1)}`;
  return { problems, summary };
}
