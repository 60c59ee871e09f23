// The README's pictures, remade from the main job's output (reports/ of a full run), so that they
// never show an older project than the code:
//   docs/jupyterlab.png     JupyterLab showing the executed 04_training with its charts
//   docs/draw_a_digit.png   the draw-a-digit canvas of the exported 07 report, a 7 drawn on it
//   docs/saliency.png       07's saliency maps          docs/hidden_map.png  07's hidden-layer maps
// Usage: node e2e/docs_pictures.mjs (scripts/docs_pictures.sh runs it after its checks).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { drawSeven } from './canvas_checks.mjs';
import { ROOT, freePort, kernelIdle, launchBrowser, startLab } from './lab_server.mjs';

const REPORTS = join(ROOT, 'reports');
const DOCS = join(ROOT, 'docs');

/** The PNG outputs of an executed notebook in reports/, in order. */
function pngOutputs(notebook) {
  const nb = JSON.parse(readFileSync(join(REPORTS, notebook), 'utf8'));
  return nb.cells.flatMap((c) => c.outputs || []).map((o) => o.data?.['image/png']).filter(Boolean)
    .map((b64) => Buffer.from(Array.isArray(b64) ? b64.join('') : b64, 'base64'));
}

/** JupyterLab with the executed notebooks of reports/ (outputs as the main job left them). */
async function labPicture(page, tmp) {
  const [port, token] = [await freePort(), `docs-${Math.random().toString(16).slice(2)}`];
  process.env.MNIST_LAB_ROOT = REPORTS; // scripts/lab.sh serves this folder instead of notebooks/
  const lab = await startLab(tmp, port, token);
  try {
    await page.goto(`http://127.0.0.1:${port}/lab/tree/04_training.ipynb?reset&token=${token}`);
    await kernelIdle(page, 120_000);
    const chart = page.locator('.jp-CodeCell', { hasText: 'training_curves(&mlp_history)' })
      .locator('.jp-OutputArea-output img').first();
    await chart.scrollIntoViewIfNeeded();
    await page.waitForTimeout(500);
    await page.screenshot({ path: join(DOCS, 'jupyterlab.png') });
  } finally {
    process.kill(-lab.pid, 'SIGTERM');
  }
}

/** The canvas of the exported 07 report, opened from disk, with a 7 drawn on it. */
async function canvasPicture(page) {
  await page.goto(pathToFileURL(join(REPORTS, '07_explore.html')).href);
  const root = page.locator('.mnist-draw').first();
  await drawSeven(page, root.locator('canvas.ink'));
  await root.screenshot({ path: join(DOCS, 'draw_a_digit.png') });
}

async function main() {
  mkdirSync(DOCS, { recursive: true });
  const [saliency, , map] = pngOutputs('07_explore.ipynb'); // the t-SNE map, not the PCA one
  writeFileSync(join(DOCS, 'saliency.png'), saliency);
  writeFileSync(join(DOCS, 'hidden_map.png'), map);
  const tmp = mkdtempSync(join(tmpdir(), 'mnist-docs-'));
  const browser = await launchBrowser(join(tmp, 'profile'), { width: 1200, height: 760 });
  try {
    const page = browser.pages()[0] ?? await browser.newPage();
    await canvasPicture(page);
    await labPicture(page, tmp);
  } finally {
    await browser.close();
    rmSync(tmp, { recursive: true, force: true });
  }
  console.log(`docs: jupyterlab.png, draw_a_digit.png, saliency.png, hidden_map.png in ${DOCS}`);
}

main().catch((err) => { console.error(`docs pictures: ${err.message || err}`); process.exit(1); });
