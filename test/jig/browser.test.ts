/**
 * End to end in a real browser: Debian's Chromium (never a downloaded one) driven by
 * playwright-core opens `guie serve` on the demo gallery, a query image is chosen through the
 * page's file input, and the picture it was cut from must be among the top-5 the page shows.
 * The jig report, opened in the same browser, draws each query's cross in its domain's colour.
 * Leaves outputs/jig/screenshot.png and outputs/jig/report-screenshot.png.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { chromium, type BrowserContext } from 'playwright-core';
import sharp from 'sharp';
import { jigReportHtml } from '../../lib/jig/report';
import { writePage } from '../../lib/viz/plotly';
import { searchFolder } from '../../lib/jig/search';
import { startJigServer, type RunningServer } from '../../lib/jig/server';
import { PROJECT_ROOT } from '../../lib/util/paths';
import { disposeFixture, makeFixture, type Fixture } from './fixture';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let fx: Fixture;
let srv: RunningServer;
let browser: BrowserContext;
let profile: string;

beforeAll(async () => {
  fx = await makeFixture();
  srv = await startJigServer(fx.gallery, { port: 0 });
  profile = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-chromium-'));
  // A persistent context is how playwright takes a fresh --user-data-dir.
  browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1280, height: 1000 } });
});
afterAll(async () => {
  await browser?.close();
  await srv?.close();
  if (fx) await disposeFixture(fx);
  if (profile) fs.rmSync(profile, { recursive: true, force: true });
});

test('a query picked in the page shows its source picture in the top-5, with scores', async () => {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()}`));
  await page.goto(srv.url);
  await page.waitForSelector('#gallery .card');
  await page.waitForFunction(() => !document.getElementById('stats')!.textContent!.startsWith('loading'));
  expect(await page.textContent('#stats')).toMatch(/^60 gallery images · 20 labels/);

  const q = fx.queries[5];
  await page.setInputFiles('#query-file', q.file);
  await page.waitForFunction(() => document.body.dataset.searches === '1');
  const shown = await page.$$eval('#results .match', (cards) => cards.map((c) => ({ key: (c as HTMLElement).dataset.key!, label: (c as HTMLElement).dataset.label!, score: Number(c.querySelector('.score')!.textContent) })));
  expect(shown).toHaveLength(5);
  expect(shown.map((s) => s.label)).toContain(q.label);
  for (let i = 1; i < shown.length; i++) expect(shown[i].score).toBeLessThanOrEqual(shown[i - 1].score);
  // Every shown thumbnail actually loaded (decoded by the browser).
  await page.waitForFunction(() => [...document.querySelectorAll('#results img')].every((i) => (i as HTMLImageElement).complete && (i as HTMLImageElement).naturalWidth > 0));
  expect(await page.textContent('#status')).toMatch(/top-5 in [\d.]+ ms on the server/);

  // Drag and drop: a second query dropped on the drop zone.
  const q2 = fx.queries[11];
  await page.evaluate(
    ({ b64, name }) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], name, { type: 'image/jpeg' }));
      document.getElementById('drop')!.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    },
    { b64: fs.readFileSync(q2.file).toString('base64'), name: 'dropped.jpg' },
  );
  await page.waitForFunction(() => document.body.dataset.searches === '2');
  const dropped = await page.$$eval('#results .match', (cards) => cards.map((c) => (c as HTMLElement).dataset.label!));
  expect(dropped).toContain(q2.label);
  expect(await page.textContent('#status')).toMatch(/^dropped\.jpg/);

  // Gallery browsing: the next page shows items 25-48 by index id.
  await page.click('#next');
  await page.waitForFunction(() => document.getElementById('page-info')!.textContent!.startsWith('25–48'));
  const keys = await page.$$eval('#gallery .card .key', (els) => els.map((e) => e.textContent));
  expect(keys).toEqual(fx.gallery.items.slice(24, 48).map((i) => i.key));
  await page.click('#prev');
  await page.waitForFunction(() => document.getElementById('page-info')!.textContent!.startsWith('1–24'));

  // A non-image through the same input is reported on the page, not a blank or a crash.
  const junk = path.join(fx.root, 'not-an-image.jpg');
  fs.writeFileSync(junk, 'this is text with a .jpg name');
  const out = path.join(PROJECT_ROOT, 'outputs', 'jig');
  fs.mkdirSync(out, { recursive: true });
  await page.screenshot({ path: path.join(out, 'screenshot.png'), fullPage: true });
  await page.setInputFiles('#query-file', junk);
  await page.waitForSelector('#status.error');
  expect(await page.textContent('#status')).toMatch(/error 415: upload: not a supported image/);
  expect(errors).toEqual([]);
});

test("the report's projection: each query cross is drawn in its domain's colour (read back from the screenshot's pixels)", async () => {
  const r = await searchFolder(fx.gallery, fx.demo.queries, { k: 5 });
  const file = path.join(fx.root, 'report.html');
  fs.writeFileSync(file, jigReportHtml(r, fx.gallery));
  const page = await browser.newPage();
  await page.goto(`file://${file}`);
  const out = path.join(PROJECT_ROOT, 'outputs', 'jig');
  fs.mkdirSync(out, { recursive: true });
  await page.screenshot({ path: path.join(out, 'report-screenshot.png'), fullPage: true });
  // the colour each group's gallery dots are filled with, and each query marker's group
  const dots = await page.$$eval('svg circle', (cs) => cs.map((c) => c.getAttribute('fill')!));
  const groups = [...new Set(fx.gallery.items.map((it) => it.domain ?? it.label ?? ''))].sort();
  expect(new Set(dots).size).toBe(Math.min(groups.length, 20));
  const markers = page.locator('svg g.query');
  expect(await markers.count()).toBe(r.queries.length);
  const seen = new Set<string>();
  for (let i = 0; i < r.queries.length; i += 4) {
    const group = (await markers.nth(i).getAttribute('data-group'))!;
    expect(group).toBe(r.queries[i].domain);
    const gi = fx.gallery.items.findIndex((it) => (it.domain ?? it.label) === group);
    const want = (await page.locator('svg circle').nth(gi).getAttribute('fill'))!;
    // the centre pixel of the cross, where both coloured strokes lie on top
    const box = (await markers.nth(i).boundingBox())!;
    const png = await page.screenshot({ fullPage: true, clip: { x: box.x + box.width / 2 - 1, y: box.y + box.height / 2 - 1, width: 3, height: 3 } });
    const { data } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const centre = [data[12], data[13], data[14]]; // pixel (1, 1) of 3x3
    const hex = [1, 3, 5].map((k) => parseInt(want.slice(k, k + 2), 16));
    centre.forEach((v, c) => expect(Math.abs(v - hex[c])).toBeLessThan(40));
    seen.add(want);
  }
  expect(seen.size).toBeGreaterThan(1); // queries of several domains, several colours (not one black cross)
  expect(await page.getAttribute('.qrow .cell.query', 'title')).toBe(r.queries[0].key); // the full name on hover
  await page.close();
});

test('a page of figures loads plotly.js from the copy beside it (nothing inlined, nothing fetched) and draws the plot', async () => {
  const dir = path.join(fx.root, 'curves');
  fs.mkdirSync(dir);
  const file = path.join(dir, 'curves.html');
  const fig = { data: [{ type: 'scatter', mode: 'lines', x: [1, 2, 3], y: [3, 1, 2], name: 'loss' }], layout: { title: { text: 'loss' } } };
  writePage(file, 'training', [fig]);
  expect(fs.statSync(file).size).toBeLessThan(20_000);
  expect(fs.statSync(path.join(dir, 'plotly.js')).size).toBe(fs.statSync(require.resolve('plotly.js-dist/plotly.js')).size);
  const copied = fs.statSync(path.join(dir, 'plotly.js')).mtimeMs;
  writePage(file, 'training again', [fig]); // a second page in the folder reuses the copy
  expect(fs.statSync(path.join(dir, 'plotly.js')).mtimeMs).toBe(copied);
  const page = await browser.newPage();
  const requests: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  await page.goto(`file://${file}`);
  await page.waitForSelector('.js-plotly-plot .scatterlayer .trace');
  expect(await page.textContent('.gtitle')).toBe('loss');
  expect(requests.every((u) => u.startsWith('file://'))).toBe(true);
  await page.close();
});
