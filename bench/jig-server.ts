/**
 * `guie serve` under load on loopback: query latency p50/p95 and queries/s at several
 * concurrency levels, against its peer measured in the same run: the same search called
 * in-process (decode + embed + exact top-k, no HTTP). The server runs in a child process so
 * client and server do not share an event loop. Bounded request counts; stops by itself.
 * Then the same one-at-a-time searches while `--hostile` clients keep uploading 36-megapixel PNGs
 * (a few KiB each, within every limit, about half a second of decoding apiece): the last line is
 * `ratio <p95 under attack / quiet p95>` (goal: at most 2).
 *
 *   node dist/bench/jig-server.js [--pictures 200] [--requests 200] [--concurrency 1,4,16] [--hostile 4]
 */
import { fork, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { initBackend } from '../lib/device';
import { buildDemoGallery } from '../lib/jig/demo-gallery';
import { DemoEmbedder } from '../lib/jig/demo-embedder';
import { listImageFolder, openGallery } from '../lib/jig/gallery';
import { startJigServer } from '../lib/jig/server';
import sharp from 'sharp';
import { PROJECT_ROOT } from '../lib/util/paths';
import { mapLimit } from '../lib/util/map-limit';

const DIR = path.join(PROJECT_ROOT, 'outputs', 'jig', 'bench');

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

interface Run {
  name: string;
  n: number;
  p50: number;
  p95: number;
  qps: number;
}

function summarise(name: string, ms: number[], wallMs: number): Run {
  const s = [...ms].sort((a, b) => a - b);
  return { name, n: ms.length, p50: pct(s, 50), p95: pct(s, 95), qps: (ms.length / wallMs) * 1000 };
}

/** `total` requests through `concurrency` workers, each waiting for its answer before the next. */
async function load(url: string, bodies: Buffer[], total: number, concurrency: number): Promise<Run> {
  const t0 = performance.now();
  const ms = await mapLimit(Array.from({ length: total }, (_, i) => bodies[i % bodies.length]), concurrency, async (body) => {
    const t = performance.now();
    const res = await fetch(`${url}/api/search?k=5`, { method: 'POST', body, headers: { 'Content-Type': 'image/jpeg' } });
    const json = (await res.json()) as { matches?: unknown[] };
    if (res.status !== 200 || json.matches?.length !== 5) throw new Error(`bad answer: ${res.status} ${JSON.stringify(json).slice(0, 200)}`);
    return performance.now() - t;
  });
  return summarise(`http c=${concurrency}`, ms, performance.now() - t0);
}

async function serveChild(gallery: string): Promise<void> {
  await initBackend();
  const g = await openGallery(gallery, new DemoEmbedder(), { cacheDir: path.join(DIR, 'cache'), progressMode: 'silent' });
  const srv = await startJigServer(g, { port: 0 });
  process.send!({ url: srv.url });
}

async function main(): Promise<void> {
  if (process.argv[2] === '--child') return serveChild(process.argv[3]);
  const pictures = Number(arg('pictures', '200'));
  const requests = Number(arg('requests', '200'));
  const levels = arg('concurrency', '1,4,16').split(',').map(Number);
  await initBackend();
  const demo = await buildDemoGallery(path.join(DIR, 'demo'), { pictures, views: 3, queryViews: 1 });
  const gallery = await openGallery(demo.gallery, new DemoEmbedder(), { cacheDir: path.join(DIR, 'cache'), progressMode: 'silent' });
  const bodies = listImageFolder(demo.queries).map((q) => fs.readFileSync(q.file));
  console.log(`gallery: ${gallery.size} images (${gallery.stats().embedder}), ${bodies.length} distinct queries (${(bodies.reduce((s, b) => s + b.length, 0) / bodies.length / 1024).toFixed(0)} KiB avg), ${requests} requests per level`);

  // Peer: the same work in-process, sequentially.
  const direct: number[] = [];
  await gallery.search(await gallery.embedEncoded([bodies[0]]), 5); // warm-up (ORT session)
  const t0 = performance.now();
  for (let i = 0; i < requests; i++) {
    const t = performance.now();
    await gallery.search(await gallery.embedEncoded([bodies[i % bodies.length]]), 5);
    direct.push(performance.now() - t);
  }
  const peer = summarise('in-process', direct, performance.now() - t0);
  await gallery.dispose();

  const child: ChildProcess = fork(__filename, ['--child', demo.gallery], { stdio: 'inherit' });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      child.once('message', (m: { url: string }) => resolve(m.url));
      child.once('exit', (code) => reject(new Error(`server child exited with ${code}`)));
    });
    await load(url, bodies, Math.min(20, requests), 1); // warm-up
    const runs = [peer];
    for (const c of levels) runs.push(await load(url, bodies, requests, c));
    console.log(['run'.padEnd(14), 'n'.padStart(5), 'p50 ms'.padStart(8), 'p95 ms'.padStart(8), 'q/s'.padStart(8), 'q/s vs peer'.padStart(12)].join(' '));
    for (const r of runs) console.log([r.name.padEnd(14), String(r.n).padStart(5), r.p50.toFixed(1).padStart(8), r.p95.toFixed(1).padStart(8), r.qps.toFixed(1).padStart(8), (r.qps / peer.qps).toFixed(2).padStart(12)].join(' '));
    const c1 = runs.find((r) => r.name === 'http c=1');
    if (c1) console.log(`HTTP overhead at c=1: p50 ${(c1.p50 - peer.p50).toFixed(1)} ms (${(c1.p50 / peer.p50).toFixed(2)}x the in-process p50)`);

    // under attack: hostile clients upload decode-heavy images without pause while one client searches as usual
    const hostile = Number(arg('hostile', '4'));
    const bomb = await sharp({ create: { width: 6000, height: 6000, channels: 3, background: '#7a8a9a' } }).png({ compressionLevel: 9 }).toBuffer();
    const quiet = await load(url, bodies, requests, 1);
    let attacking = true;
    const outcomes = new Map<number, number>();
    const attacker = async () => {
      while (attacking) {
        const res = await fetch(`${url}/api/search?k=5`, { method: 'POST', body: bomb, headers: { 'Content-Type': 'image/png' } });
        await res.arrayBuffer();
        outcomes.set(res.status, (outcomes.get(res.status) ?? 0) + 1);
        if (res.status === 503) await new Promise((r) => setTimeout(r, 50));
      }
    };
    const attackers = Array.from({ length: hostile }, attacker);
    await new Promise((r) => setTimeout(r, 500)); // the attack is under way before the first measured search
    const attacked = await load(url, bodies, requests, 1);
    attacking = false;
    await Promise.all(attackers);
    console.log(`one client searching while ${hostile} clients upload ${(bomb.length / 1024).toFixed(0)} KiB 6000x6000 PNGs (answers: ${[...outcomes].map(([c, n]) => `${n}x ${c}`).join(', ')}):`);
    for (const r of [quiet, attacked]) console.log(`  ${r === quiet ? 'quiet   ' : 'attacked'} p50 ${r.p50.toFixed(1)} ms, p95 ${r.p95.toFixed(1)} ms, ${r.qps.toFixed(1)} q/s`);
    console.log(`ratio ${(attacked.p95 / quiet.p95).toFixed(2)}`);
  } finally {
    child.kill();
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.stack : String(e));
  process.exit(1);
});
