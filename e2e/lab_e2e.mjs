// End-to-end: JupyterLab (./scripts/lab.sh) driven in headless Chromium, as a learner uses it.
// Opens a notebook, runs all cells from the Run menu, waits for the kernel to go idle, and checks:
// no error output, inline images rendered with non-zero size, the expected chart visible; where
// the notebook shows the draw-a-digit canvas (07), the checks of canvas_checks.mjs.
// Screenshots go to reports/. Usage: node e2e/lab_e2e.mjs NOTEBOOK:CELL_TEXT ...
import { join } from 'node:path';
import { checkCanvas } from './canvas_checks.mjs';
import { REPORTS, ROOT, errorOutputs, kernelIdle, runAllCells, runInLab } from './lab_server.mjs';

/** Opens `notebook`, runs all cells through the Run menu, and checks what the page shows. */
async function runNotebook(page, base, notebook, chartText) {
  const started = Date.now();
  // `?reset` opens a workspace holding only this notebook: with the previous notebook still open,
  // Run All could go to it instead of the new one.
  await page.goto(`${base}/lab/tree/${notebook}?reset`);
  await kernelIdle(page, 60_000);
  await runAllCells(page);
  const prompts = page.locator('.jp-Notebook .jp-CodeCell .jp-InputPrompt');
  const errors = await errorOutputs(page);
  const images = await page.locator('.jp-OutputArea-output img').evaluateAll((imgs) =>
    imgs.map((i) => ({ w: i.naturalWidth, h: i.naturalHeight, shown: i.getBoundingClientRect().width })));
  const chart = page.locator('.jp-CodeCell', { hasText: chartText }).locator('.jp-OutputArea-output img').first();
  await chart.scrollIntoViewIfNeeded();
  const chartVisible = await chart.isVisible();
  const shot = join(REPORTS, `e2e_${notebook.replace('.ipynb', '')}.png`);
  await page.screenshot({ path: shot });
  return { notebook, cells: await prompts.count(), errors, images, chartVisible, shot,
    seconds: (Date.now() - started) / 1000 };
}

/** The checks on one notebook's page; returns the failures. */
function failures(r) {
  const out = [];
  if (r.errors.length) out.push(`${r.notebook}: error output: ${r.errors[0].split('\n')[0]}`);
  if (!r.images.some((i) => i.w > 0 && i.h > 0 && i.shown > 0)) out.push(`${r.notebook}: no rendered image`);
  if (!r.chartVisible) out.push(`${r.notebook}: the expected chart is not visible`);
  return out;
}

async function main() {
  const targets = process.argv.slice(2).map((a) => a.split(':'));
  const problems = await runInLab('e2e', 'e2e_failure.png', async (page, base) => {
    let found = [];
    for (const [notebook, chartText] of targets) {
      console.log(`== ${notebook} in JupyterLab (headless Chromium)`);
      const r = await runNotebook(page, base, notebook, chartText);
      const bad = failures(r);
      console.log(`   ${bad.length ? 'FAILED' : 'ok'}: ${r.cells} cells, ${r.images.length} images, ` +
        `${r.errors.length} errors, ${r.seconds.toFixed(0)} s; screenshot ${r.shot}`);
      found = found.concat(bad);
      if (await page.locator('.jp-Notebook .mnist-draw').count()) {
        const c = await checkCanvas(page, `${notebook} in JupyterLab`, join(REPORTS, 'e2e_canvas_lab.png'));
        console.log(`   canvas: ${c.problems.length ? 'FAILED' : `ok: ${c.summary}`}`);
        found = found.concat(c.problems);
      }
    }
    return found;
  });
  console.log(`e2e: ${targets.length - Math.min(problems.length, targets.length)} passed, ${problems.length} failed`);
  process.exit(problems.length ? 1 : 0);
}

main();
