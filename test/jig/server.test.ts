/**
 * The jig's HTTP API on a real demo gallery over loopback: correct answers, and 4xx JSON (never a
 * crash) for oversized, non-image, truncated and huge-pixel uploads and for path-traversal URLs;
 * foreign Host names and cross-origin POSTs refused, HEAD answered, 414/431 for over-long requests,
 * 503 + Retry-After beyond the decode queue, and an aborted upload logged as one line.
 */
import SwaggerParser from '@apidevtools/swagger-parser';
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import sharp from 'sharp';
import * as zlib from 'zlib';
import { DEFAULT_LIMITS } from '../../lib/jig/image';
import { startJigServer, type RunningServer } from '../../lib/jig/server';
import { disposeFixture, makeFixture, type Fixture } from './fixture';

let fx: Fixture;
let srv: RunningServer;
const MAX_BYTES = 300_000;
const MAX_PIXELS = 2_000_000;

beforeAll(async () => {
  fx = await makeFixture();
  srv = await startJigServer(fx.gallery, { port: 0, limits: { maxBytes: MAX_BYTES, maxPixels: MAX_PIXELS, decodeSeconds: DEFAULT_LIMITS.decodeSeconds }, decodes: { concurrent: 2, queued: 64 } }); // room for the 50-search burst below
});
afterAll(async () => {
  await srv?.close();
  if (fx) await disposeFixture(fx);
});

interface Reply {
  status: number;
  type: string;
  body: Buffer;
}

/** Raw http.request, so the path reaches the server byte for byte (fetch would normalise "..").*/
function request(method: string, rawPath: string, body?: Buffer, headers: Record<string, string> = {}, server: RunningServer = srv): Promise<Reply & { headers: http.IncomingHttpHeaders }> {
  const url = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, method, path: rawPath, headers: { ...(body ? { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length } : {}), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body: Buffer.concat(chunks), headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const json = (r: Reply) => JSON.parse(r.body.toString('utf8')) as Record<string, unknown>;

interface SearchReply {
  k: number;
  ms: number;
  query: { format: string; width: number; height: number };
  matches: Array<{ index: number; key: string; label: string; domain: string; score: number }>;
}

test('search answers the top-k with the query picture among the first 5, scores descending', async () => {
  const q = fx.queries[3];
  const r = await request('POST', '/api/search?k=5', fs.readFileSync(q.file));
  expect(r.status).toBe(200);
  const body = json(r) as unknown as SearchReply;
  expect(body.query.format).toBe('jpeg');
  expect(body.matches).toHaveLength(5);
  expect(body.matches.map((m) => m.label)).toContain(q.label);
  for (let i = 1; i < 5; i++) expect(body.matches[i].score).toBeLessThanOrEqual(body.matches[i - 1].score);
  for (const m of body.matches) expect(fx.gallery.items[m.index].key).toBe(m.key);
});

/** curl itself, as a user would call the API: `curl -F file=@photo.jpg`. */
function curl(args: string[]): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-sS', '-w', '\n%{http_code}', ...args], (err, out) => {
      if (err) return reject(err);
      const cut = out.lastIndexOf('\n');
      resolve({ status: Number(out.slice(cut + 1)), body: JSON.parse(out.slice(0, cut)) as Record<string, unknown> });
    });
  });
}

test('a multipart/form-data upload (curl -F file=@...) answers exactly like the raw bytes; a form without a file names the accepted forms', async () => {
  const q = fx.queries[2];
  const raw = json(await request('POST', '/api/search?k=5', fs.readFileSync(q.file))) as unknown as SearchReply;
  const form = await curl(['-F', `file=@${q.file}`, `${srv.url}/api/search?k=5`]);
  expect(form.status).toBe(200);
  const got = form.body as unknown as SearchReply;
  expect(got.query).toEqual(raw.query);
  expect(got.matches.map((m) => [m.index, m.score])).toEqual(raw.matches.map((m) => [m.index, m.score]));
  const noFile = await curl(['-F', 'note=hello', `${srv.url}/api/search`]);
  expect(noFile.status).toBe(400);
  expect(String(noFile.body.error)).toMatch(/has no file field; send the image as the raw request body or as one multipart\/form-data file field/);
});

test('GET /api is a valid OpenAPI 3 document (swagger-parser) naming every route the server answers', async () => {
  const r = await request('GET', '/api');
  expect(r.status).toBe(200);
  const doc = json(r);
  const checked = (await SwaggerParser.validate(structuredClone(doc) as never)) as unknown as { openapi: string; paths: Record<string, Record<string, unknown>> };
  expect(checked.openapi).toMatch(/^3\./);
  expect(Object.keys(checked.paths).sort()).toEqual(['/api', '/api/gallery', '/api/gallery/{id}', '/api/search', '/api/stats']);
  expect(Object.keys(checked.paths['/api/search'].post as Record<string, unknown>)).toContain('requestBody');
  for (const p of ['/api', '/api/gallery', '/api/stats']) expect((await request('GET', p)).status).toBe(200);
  expect((await request('GET', '/api/gallery/0')).status).toBe(200);
});

test('gallery thumbnails by index id; listing and stats', async () => {
  const t = await request('GET', '/api/gallery/7');
  expect(t.status).toBe(200);
  expect(t.type).toBe('image/jpeg');
  expect((await sharp(t.body).metadata()).format).toBe('jpeg');
  const list = json(await request('GET', '/api/gallery?offset=10&limit=5')) as { total: number; items: Array<{ index: number; key: string }> };
  expect(list.total).toBe(fx.gallery.size);
  expect(list.items.map((i) => i.index)).toEqual([10, 11, 12, 13, 14]);
  expect(list.items[0].key).toBe(fx.gallery.items[10].key);
  const stats = json(await request('GET', '/api/stats'));
  expect(stats.size).toBe(60);
  expect(stats.labels).toBe(20);
  expect(stats.dim).toBe(64);
});

test('an upload over the byte limit is 413', async () => {
  const noise = Buffer.from(Array.from({ length: 400 * 400 * 3 }, (_, i) => (i * 7919) % 251));
  const png = await sharp(noise, { raw: { width: 400, height: 400, channels: 3 } }).png({ compressionLevel: 0 }).toBuffer();
  expect(png.length).toBeGreaterThan(MAX_BYTES);
  const r = await request('POST', '/api/search', png);
  expect(r.status).toBe(413);
  expect(String(json(r).error)).toMatch(/300000-byte limit/);
});

test('an image over the pixel limit is 413 before decoding', async () => {
  const big = await sharp({ create: { width: 2000, height: 1500, channels: 3, background: '#808080' } }).png().toBuffer();
  expect(big.length).toBeLessThan(MAX_BYTES);
  const r = await request('POST', '/api/search', big);
  expect(r.status).toBe(413);
  expect(String(json(r).error)).toMatch(/2000x1500 exceeds the 2000000-pixel limit/);
  // a header past libvips' own 268-megapixel ceiling is the same 413, not "not a supported image" (415)
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(body) >>> 0);
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(20000, 0);
  ihdr.writeUInt32BE(20000, 4);
  ihdr[8] = 8; // 8-bit
  ihdr[9] = 2; // RGB
  const huge = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(Buffer.alloc(1000))), chunk('IEND', Buffer.alloc(0))]);
  const h = await request('POST', '/api/search', huge);
  expect(h.status).toBe(413);
  expect(String(json(h).error)).toMatch(/20000x20000 exceeds the 2000000-pixel limit/);
});

test('non-image bytes are 415, an empty body 400, whatever the name or type says', async () => {
  const r = await request('POST', '/api/search', Buffer.from('GIF89a but really just text, not an image at all'));
  expect(r.status).toBe(415);
  expect(String(json(r).error)).toMatch(/not a supported image.*; send the image as the raw request body or as one multipart\/form-data file field/);
  const e = await request('POST', '/api/search', Buffer.alloc(0));
  expect(e.status).toBe(400);
  // a 195-byte SVG that takes minutes to render is refused before any renderer runs
  const t0 = Date.now();
  const svg = await request('POST', '/api/search', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="6000" height="6000"><filter id="f"><feGaussianBlur stdDeviation="400"/></filter><rect width="6000" height="6000" fill="red" filter="url(#f)"/></svg>'));
  expect(svg.status).toBe(415);
  expect(String(json(svg).error)).toMatch(/an SVG \(vector\) image: not rendered/);
  expect(Date.now() - t0).toBeLessThan(2000);
});

test('a truncated JPEG is 400 (corrupt), not a crash', async () => {
  const full = fs.readFileSync(fx.queries[0].file);
  const r = await request('POST', '/api/search', full.subarray(0, Math.floor(full.length * 0.6)));
  expect(r.status).toBe(400);
  expect(String(json(r).error)).toMatch(/corrupt or truncated jpeg/);
});

test.each([
  '/api/gallery/../../etc/passwd',
  '/api/gallery/..%2F..%2Fetc%2Fpasswd',
  '/api/gallery/%2e%2e/%2e%2e/etc/passwd',
  '/api/gallery/%2E%2E%5C%2E%2E%5Cetc%5Cpasswd',
  '/api/gallery/0/../../../etc/passwd',
  '/api/gallery//etc/passwd',
  '/api/gallery/abc',
  '/api/gallery/-1',
  '/api/gallery/1e2',
  '/api/gallery/0x1',
  '/api/gallery/99999',
  '/api/gallery/3.0',
  '/../../../../etc/passwd',
  '/api/gallery/' + '9'.repeat(5000),
])('gallery URL %s is a 4xx JSON error and leaks nothing', async (p) => {
  const r = await request('GET', p);
  expect(r.status).toBeGreaterThanOrEqual(400);
  expect(r.status).toBeLessThan(500);
  expect(r.type).toMatch(/application\/json/);
  expect(r.body.toString()).not.toMatch(/root:|\/bin\/(ba)?sh/);
  expect(typeof json(r).error).toBe('string');
});

test('wrong methods and bad parameters are 4xx', async () => {
  expect((await request('GET', '/api/search')).status).toBe(405);
  expect((await request('POST', '/api/gallery/1', Buffer.from('x'))).status).toBe(405);
  expect((await request('POST', '/api/search?k=0', fs.readFileSync(fx.queries[0].file))).status).toBe(400);
  expect((await request('POST', '/api/search?k=abc', fs.readFileSync(fx.queries[0].file))).status).toBe(400);
});

test('50 concurrent searches are all answered, each identical to its sequential answer', async () => {
  const picks = Array.from({ length: 50 }, (_, i) => fx.queries[i % fx.queries.length]);
  const bodies = picks.map((q) => fs.readFileSync(q.file));
  const expected = new Map<string, string[]>();
  for (const q of fx.queries) {
    const r = json(await request('POST', '/api/search?k=5', fs.readFileSync(q.file))) as unknown as SearchReply;
    expected.set(q.key, r.matches.map((m) => m.key));
  }
  const replies = await Promise.all(bodies.map((b) => request('POST', '/api/search?k=5', b)));
  let hits = 0;
  replies.forEach((r, i) => {
    expect(r.status).toBe(200);
    const body = json(r) as unknown as SearchReply;
    expect(body.matches.map((m) => m.key)).toEqual(expected.get(picks[i].key));
    if (body.matches.some((m) => m.label === picks[i].label)) hits++;
  });
  expect(hits).toBe(50);
  // ... and the server is still healthy afterwards, having counted the rejected uploads above.
  const stats = json(await request('GET', '/api/stats')) as { served: { searches: number; rejected: number } };
  expect(stats.served.searches).toBeGreaterThanOrEqual(50 + fx.queries.length);
  expect(stats.served.rejected).toBeGreaterThan(10);
});

test('a Host name other than this server is 403 (DNS rebinding); loopback names and IP literals are answered', async () => {
  const port = new URL(srv.url).port;
  const foreign = await request('GET', '/api/stats', undefined, { Host: `evil.example:${port}` });
  expect(foreign.status).toBe(403);
  expect(String(json(foreign).error)).toMatch(/Host "evil\.example:\d+" is not this server .*--allow-host/);
  const searched = await request('POST', '/api/search', fs.readFileSync(fx.queries[0].file), { Host: 'rebind.attacker.test' });
  expect(searched.status).toBe(403);
  for (const host of [`localhost:${port}`, `LOCALHOST:${port}`, `127.0.0.1:${port}`, '192.168.1.5:80', '[::1]']) expect((await request('GET', '/api/stats', undefined, { Host: host })).status).toBe(200);
  // --allow-host adds a name
  const named = await startJigServer(fx.gallery, { port: 0, allowedHosts: ['jig.lan'] });
  try {
    expect((await request('GET', '/api/stats', undefined, { Host: 'jig.lan:8080' }, named)).status).toBe(200);
    expect((await request('GET', '/api/stats', undefined, { Host: 'other.lan' }, named)).status).toBe(403);
  } finally {
    await named.close();
  }
});

test('a POST from another origin is 403 (a web page cannot make the server search); same-origin and Origin-less POSTs are answered', async () => {
  const body = fs.readFileSync(fx.queries[1].file);
  const cross = await request('POST', '/api/search', body, { Origin: 'http://evil.example', 'Content-Type': 'text/plain' });
  expect(cross.status).toBe(403);
  expect(String(json(cross).error)).toMatch(/cross-origin POST refused \(Origin http:\/\/evil\.example\)/);
  expect((await request('POST', '/api/search', body, { 'Sec-Fetch-Site': 'cross-site' })).status).toBe(403);
  expect((await request('POST', '/api/search', body, { Origin: 'null' })).status).toBe(403); // sandboxed frames and file:// pages
  expect((await request('POST', '/api/search', body, { Origin: srv.url, 'Sec-Fetch-Site': 'same-origin' })).status).toBe(200);
  expect((await request('POST', '/api/search', body)).status).toBe(200);
});

test('HEAD answers every GET route with its headers and no body', async () => {
  for (const p of ['/', '/api', '/api/stats', '/api/gallery', '/api/gallery/0']) {
    const get = await request('GET', p);
    const head = await request('HEAD', p);
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(head.headers['content-length']).toBe(String(get.body.length));
    expect(head.type).toBe(get.type);
  }
  expect((await request('HEAD', '/api/search')).status).toBe(405);
});

test('an over-long URL is 414 and over-long headers 431, each a JSON error', async () => {
  const longUrl = await request('GET', '/api/gallery?offset=' + '1'.repeat(9000));
  expect(longUrl.status).toBe(414);
  expect(String(json(longUrl).error)).toMatch(/request target of 9\d{3} bytes is over the 8192-byte limit/);
  const bigHeader = await request('GET', '/api/stats', undefined, { 'X-Padding': 'x'.repeat(20_000) });
  expect(bigHeader.status).toBe(431);
  expect(String(json(bigHeader).error)).toMatch(/request headers over the 16384-byte limit/);
  expect((await request('GET', '/api/stats')).status).toBe(200); // and the server goes on
});

/**
 * Holds every embed of `gallery` until `release()`: a search then keeps its decode slot for as long as the test
 * wants, so which upload waits and which is refused no longer depends on how fast decoding is.
 */
function gateEmbeds(gallery: Fixture['gallery']): { entered: () => Promise<void>; release: () => void; restore: () => void } {
  const embedder = gallery.embedder;
  const original = embedder.embed.bind(embedder);
  let open!: () => void;
  const gate = new Promise<void>((go) => (open = go));
  let arrived!: () => void;
  const first = new Promise<void>((go) => (arrived = go));
  embedder.embed = async (images) => {
    arrived();
    await gate;
    return original(images);
  };
  return { entered: () => first, release: () => open(), restore: () => (embedder.embed = original) };
}

/** Polls /api/stats until its queue reads `want` (the server's own count of running and waiting uploads). */
async function queueReaches(server: RunningServer, want: (q: { running: number; waiting: number; large: { running: number; waiting: number } }) => boolean): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const q = json(await request('GET', '/api/stats', undefined, {}, server)).queue as Parameters<typeof want>[0];
    if (want(q)) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('the decode queue never reached the state the test waits for');
}

test('beyond the decode queue a search is 503 with Retry-After at once; the one decoding and the one waiting are answered', async () => {
  const busy = await startJigServer(fx.gallery, { port: 0, decodes: { concurrent: 1, queued: 1 } });
  const gate = gateEmbeds(fx.gallery);
  try {
    const bodies = fx.queries.slice(0, 4).map((q) => fs.readFileSync(q.file));
    const decoding = request('POST', '/api/search?k=3', bodies[0], {}, busy);
    await gate.entered(); // the first upload holds the one slot, inside its embed
    const waiting = request('POST', '/api/search?k=3', bodies[1], {}, busy);
    await queueReaches(busy, (q) => q.running === 1 && q.waiting === 1);
    const refused = await Promise.all([request('POST', '/api/search?k=3', bodies[2], {}, busy), request('POST', '/api/search?k=3', bodies[3], {}, busy)]);
    for (const r of refused) {
      expect(r.status).toBe(503);
      expect(r.headers['retry-after']).toBe('1');
      expect(String(json(r).error)).toBe('busy: 1 uploads decoding and 1 waiting; try again shortly');
    }
    gate.release();
    expect([(await decoding).status, (await waiting).status]).toEqual([200, 200]);
    await queueReaches(busy, (q) => q.running === 0 && q.waiting === 0);
    // the queue drained: a search afterwards is answered
    expect((await request('POST', '/api/search?k=3', bodies[2], {}, busy)).status).toBe(200);
  } finally {
    gate.release();
    gate.restore();
    await busy.close();
  }
});

// 40 megapixels of 16-bit interlaced PNG in 0.36 MB: within every limit, about 0.6-1.3 s to decode here
let bigPng: Buffer | undefined;
const slowPng = async () => (bigPng ??= await sharp({ create: { width: 6300, height: 6300, channels: 3, background: '#7a8a9a' } }).toColourspace('rgb16').png({ compressionLevel: 9, progressive: true }).toBuffer());

test('an image whose header says it is large decodes in its own lane: an ordinary search meanwhile is answered before it, a second large one waits its turn', async () => {
  // one slot for ordinary uploads: without the lane, the small search below would wait for the big decode to finish
  const laned = await startJigServer(fx.gallery, { port: 0, decodes: { concurrent: 1, queued: 1, largePixels: 1_000_000 } });
  try {
    const big = await slowPng();
    const finished: string[] = [];
    const send = (name: string, body: Buffer) => request('POST', '/api/search?k=3', body, {}, laned).then((r) => (finished.push(name), r));
    const first = send('big 1', big);
    await new Promise((r) => setTimeout(r, 100)); // its header is read by now (milliseconds), its decode is far from done
    const [second, small] = await Promise.all([send('big 2', big), send('small', fs.readFileSync(fx.queries[0].file))]);
    const done = await first;
    expect([done.status, second.status, small.status]).toEqual([200, 200, 200]);
    expect(json(small).matches).toHaveLength(3);
    expect(json(done).query).toMatchObject({ width: 6300, height: 6300 });
    expect(finished).toEqual(['small', 'big 1', 'big 2']); // the small search never queued behind a big decode
    // the lane is bounded too: with it busy and its one waiting place taken, a third large upload is told to retry
    const gate = gateEmbeds(fx.gallery);
    try {
      const b1 = send('b1', big);
      await gate.entered();
      const b2 = send('b2', big);
      await queueReaches(laned, (q) => q.large.running === 1 && q.large.waiting === 1);
      const b3 = await send('b3', big);
      expect(b3.status).toBe(503);
      expect(String(json(b3).error)).toBe('busy: 1 large uploads (over 1000000 pixels) decoding and 1 waiting; try again shortly');
      gate.release();
      expect([(await b1).status, (await b2).status]).toEqual([200, 200]);
    } finally {
      gate.release();
      gate.restore();
    }
  } finally {
    await laned.close();
  }
});

test('a decode past its deadline is killed with its process: 413 at the deadline, a search meanwhile is answered, the next upload decodes in a fresh process', async () => {
  const big = await slowPng();
  const strict = await startJigServer(fx.gallery, { port: 0, limits: { ...DEFAULT_LIMITS, decodeSeconds: 0.25 }, decodes: { concurrent: 1, queued: 1, largePixels: 1_000_000 } });
  try {
    const t0 = performance.now();
    const slow = request('POST', '/api/search?k=3', big, {}, strict).then((r) => ({ r, ms: performance.now() - t0 }));
    const small = await request('POST', '/api/search?k=3', fs.readFileSync(fx.queries[0].file), {}, strict);
    const { r, ms } = await slow;
    expect(small.status).toBe(200);
    expect(r.status).toBe(413);
    expect(String(json(r).error)).toMatch(/^upload: decoding took over 0\.25 s: too much work for one image/);
    // the decode itself takes 0.6 s or more (the lane test above finishes it): the answer came at the deadline
    expect(ms).toBeLessThan(550);
    const after = await request('POST', '/api/search?k=3', fs.readFileSync(fx.queries[1].file), {}, strict);
    expect(after.status).toBe(200);
    expect(json(await request('GET', '/api/stats', undefined, {}, strict)).decoders).toMatchObject({ processes: 2, started: 3, timedOut: 1, crashed: 0 });
  } finally {
    await strict.close();
  }
});

test('decoder processes killed from outside (the OOM killer) are replaced: the upload one held fails with 500, the next is answered', async () => {
  const big = await slowPng();
  // this process's decoder children, from /proc (field 4 of stat is the parent pid)
  const children = () =>
    fs.readdirSync('/proc').filter((p) => {
      try {
        const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === process.pid && fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('decode-child.js');
      } catch {
        return false; // not a process, or gone meanwhile
      }
    });
  const others = children(); // the decoders of this file's shared server
  const own = await startJigServer(fx.gallery, { port: 0, decodes: { concurrent: 1, queued: 1, largePixels: 1_000_000 } });
  try {
    const before = children().filter((p) => !others.includes(p));
    expect(before).toHaveLength(2);
    const held = request('POST', '/api/search?k=3', big, {}, own);
    await queueReaches(own, (q) => q.large.running === 1);
    await new Promise((r) => setTimeout(r, 100)); // the upload has reached its decoder
    for (const pid of before) process.kill(Number(pid), 'SIGKILL');
    const r = await held;
    expect(r.status).toBe(500);
    expect(json(r).error).toBe('internal error');
    const after = await request('POST', '/api/search?k=3', fs.readFileSync(fx.queries[0].file), {}, own);
    expect(after.status).toBe(200);
    expect(json(await request('GET', '/api/stats', undefined, {}, own)).decoders).toMatchObject({ processes: 2, crashed: 2 });
    expect(children().filter((p) => before.includes(p))).toEqual([]);
  } finally {
    await own.close();
  }
});

test('a burst of huge uploads is decoded outside the server process, and a decoder that grew past its budget is replaced, giving the memory back', async () => {
  // 36 megapixels each, a 108 MB raw decode: before decoders were processes, each one stayed in the server's heap
  const huge = await sharp({ create: { width: 6000, height: 6000, channels: 3, background: '#406080' } }).png({ compressionLevel: 9 }).toBuffer();
  const pooled = await startJigServer(fx.gallery, { port: 0, limits: { ...DEFAULT_LIMITS, maxBytes: 2 ** 22 }, decodes: { concurrent: 2, queued: 8, largePixels: 1e9, recycleBytes: 200 * 2 ** 20 } });
  try {
    const before = process.memoryUsage().rss;
    const replies = await Promise.all(Array.from({ length: 6 }, () => request('POST', '/api/search?k=3', huge, {}, pooled)));
    const grown = process.memoryUsage().rss - before;
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(grown).toBeLessThan(100 * 2 ** 20);
    const stats = json(await request('GET', '/api/stats', undefined, {}, pooled)).decoders as { processes: number; recycled: number; crashed: number };
    expect(stats.recycled).toBeGreaterThanOrEqual(1); // each of those decodes takes a process over 200 MB
    expect(stats).toMatchObject({ processes: 3, crashed: 0 });
  } finally {
    await pooled.close();
  }
});

test('an upload the client aborts is logged as one line without a stack, and the server goes on', async () => {
  const lines: string[] = [];
  const spy = jest.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
  try {
    const url = new URL(srv.url);
    await new Promise<void>((resolve) => {
      const req = http.request({ host: url.hostname, port: url.port, method: 'POST', path: '/api/search', headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': 100_000 } });
      req.on('error', () => resolve());
      req.write(Buffer.alloc(1000, 7));
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 200);
    });
    for (let i = 0; i < 50 && lines.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
  } finally {
    spy.mockRestore();
  }
  expect(lines).toEqual(['guie serve: POST /api/search: upload aborted by the client']);
  expect((await request('GET', '/api/stats')).status).toBe(200);
});

test('a client that hangs up while its image decodes stops the decode: its process is killed at once, one log line, the next search is answered', async () => {
  const big = await slowPng();
  const own = await startJigServer(fx.gallery, { port: 0, decodes: { concurrent: 1, queued: 1, largePixels: 1_000_000 } });
  const lines: string[] = [];
  const spy = jest.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
  try {
    const url = new URL(own.url);
    const req = http.request({ host: url.hostname, port: url.port, method: 'POST', path: '/api/search', headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': big.length } });
    req.on('error', () => undefined);
    req.end(big);
    await queueReaches(own, (q) => q.large.running === 1);
    await new Promise((r) => setTimeout(r, 100)); // in its decoder now, with 0.5 s or more of decoding left
    const t0 = performance.now();
    req.destroy();
    let stats: Record<string, unknown> = {};
    for (let i = 0; i < 100 && stats.cancelled !== 1; i++) {
      await new Promise((r) => setTimeout(r, 10));
      stats = json(await request('GET', '/api/stats', undefined, {}, own)).decoders as Record<string, unknown>;
    }
    expect(performance.now() - t0).toBeLessThan(400);
    expect(stats).toMatchObject({ cancelled: 1, processes: 2, started: 3, crashed: 0 });
    expect((await request('POST', '/api/search?k=3', fs.readFileSync(fx.queries[0].file), {}, own)).status).toBe(200);
  } finally {
    spy.mockRestore();
    await own.close();
  }
  expect(lines).toEqual(['guie serve: POST /api/search: upload aborted by the client']);
});
