/**
 * `guie serve`: the jig as a small web app on Node's http module.
 *
 *   GET  /                   the page (page.ts)
 *   GET  /api                this API as an OpenAPI 3 document (openapi.ts)
 *   POST /api/search?k=5     body = the raw image bytes (any Content-Type) or multipart/form-data with one file field:
 *                            -> { k, ms, query: {format,width,height}, matches: [{index,key,label,domain,score}] }
 *   GET  /api/gallery?offset=0&limit=48   -> { total, items: [{index,key,label,domain}] }
 *   GET  /api/gallery/:id    JPEG thumbnail of gallery item `id` (a decimal index id, nothing else)
 *   GET  /api/stats          index statistics, limits and served-query counters
 *
 * Safety: binds 127.0.0.1 by default; no server paths in answers (the gallery source is named by its basename); uploads are bounded in bytes (413) and pixels (413), judged
 * by decoding (415 not an image, 400 corrupt/truncated); files are only reachable by index id. A Host header that names another
 * name is 403 (DNS rebinding: a web page whose name resolves to 127.0.0.1 cannot reach the API; IP literals are answered), and so is a POST from another
 * origin (browsers send Origin / Sec-Fetch-Site; a cross-origin form could otherwise make the server decode). At most
 * `decodes.concurrent` uploads decode at once and `decodes.queued` wait, images over `decodes.largePixels` in a lane of
 * their own (one at a time); beyond that 503 + Retry-After. Over-long URLs are 414,
 * over-long headers 431; HEAD answers every GET route.
 * Every failure is a JSON `{error}` with a 4xx/5xx status; a handler error never ends the process.
 */
import * as http from 'http';
import sharp from 'sharp';
import * as path from 'path';
import { isIP, type AddressInfo } from 'net';
import { DecodeLimiter } from './decode-limiter';
import { DecodePool } from './decode-pool';
import { HttpError } from './http-error';
import { ImageError } from './image';
import { DEFAULT_SERVE, type ServeOptions } from './serve-options';
import type { Gallery } from './gallery';
import { openApiDocument } from './openapi';
import { jigPageHtml } from './page';

const MAX_HEADER_BYTES = 16_384;
const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];

export interface RunningServer {
  server: http.Server;
  url: string;
  close(): Promise<void>;
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const data = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': data.length, 'Cache-Control': 'no-store', ...headers });
  res.end(data);
}

/** The name part of a Host header ("[::1]:8080" -> "[::1]", "Example.com." -> "example.com"). */
function hostName(header: string): string {
  const name = header.startsWith('[') ? header.slice(0, header.indexOf(']') + 1) : header.split(':')[0];
  return name.toLowerCase().replace(/\.$/, '');
}

/** 403 unless the Host names this server, and, for a POST, the request comes from its own origin (or from no browser page at all). */
function checkOrigin(req: http.IncomingMessage, opts: ServeOptions): void {
  const host = req.headers.host;
  if (!host) throw new HttpError(400, 'no Host header');
  const bound = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const names = [...LOOPBACK_NAMES, bound.toLowerCase(), ...opts.allowedHosts.map((h) => h.toLowerCase())];
  // an IP literal cannot be a rebinding attack (that needs a name the attacker's DNS answers); names must be listed
  const name = hostName(host);
  if (!opts.allowedHosts.includes('*') && isIP(name.replace(/^\[|\]$/g, '')) === 0 && !names.includes(name)) {
    throw new HttpError(403, `Host "${host.slice(0, 128)}" is not this server (answered: ${names.join(', ')}; guie serve --allow-host <name> adds one)`);
  }
  if (req.method !== 'POST') return;
  const origin = req.headers.origin;
  let originHost: string | null = null;
  try {
    originHost = origin && origin !== 'null' ? new URL(origin).host : null;
  } catch {
    /* a malformed Origin is refused below */
  }
  const crossSite = req.headers['sec-fetch-site'] === 'cross-site';
  if ((origin !== undefined && originHost?.toLowerCase() !== host.toLowerCase()) || crossSite) {
    throw new HttpError(403, `cross-origin POST refused (Origin ${String(origin).slice(0, 128)}); the page at / and clients without an Origin (curl, scripts) may search`);
  }
}

/** Width x height from the image header (0 when it has none: the decode then says why). */
async function headerPixels(body: Buffer): Promise<number> {
  try {
    const m = await sharp(body, { limitInputPixels: false }).metadata();
    return (m.width ?? 0) * (m.height ?? 0);
  } catch {
    return 0;
  }
}

/**
 * Reads the body up to `maxBytes`. Past the limit the rest is drained unbuffered, so the client
 * can finish sending and read the 413, unless it keeps going far beyond (then the socket is cut).
 */
function readBody(req: http.IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? NaN);
    const tooBig = () => new HttpError(413, `upload exceeds the ${maxBytes}-byte limit`);
    if (declared > 8 * maxBytes) {
      reject(tooBig());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= maxBytes) chunks.push(c);
      else if (size > 8 * maxBytes) req.destroy();
    });
    req.on('end', () => (size > maxBytes ? reject(tooBig()) : resolve(Buffer.concat(chunks))));
    req.on('error', () => reject(new HttpError(400, ABORTED)));
    req.on('close', () => (req.complete ? undefined : reject(new HttpError(400, ABORTED))));
  });
}

const ABORTED = 'upload aborted by the client';
const UPLOAD_FORMS = 'send the image as the raw request body or as one multipart/form-data file field (curl -F file=@photo.jpg)';

/** The image bytes of an upload: the body itself, or the first file of a multipart/form-data body (parsed by Node's built-in fetch). */
async function uploadBytes(req: http.IncomingMessage, body: Buffer): Promise<Buffer> {
  const type = req.headers['content-type'] ?? '';
  if (!/^multipart\/form-data\b/i.test(type)) return body;
  let form: FormData;
  try {
    form = await new Response(new Uint8Array(body), { headers: { 'Content-Type': type } }).formData();
  } catch (e) {
    throw new HttpError(400, `malformed multipart/form-data upload (${(e as Error).message}); ${UPLOAD_FORMS}`);
  }
  for (const value of form.values()) if (typeof value !== 'string') return Buffer.from(await value.arrayBuffer());
  throw new HttpError(400, `multipart/form-data upload has no file field; ${UPLOAD_FORMS}`);
}

function intParam(params: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
  const raw = params.get(name);
  if (raw === null) return fallback;
  if (!/^\d{1,9}$/.test(raw)) throw new HttpError(400, `query parameter ${name}="${raw}" is not a non-negative integer`);
  const v = Number(raw);
  if (v < min || v > max) throw new HttpError(400, `query parameter ${name}=${v} is outside ${min}..${max}`);
  return v;
}

/** The request handler: routes match the raw path exactly, so "..", "%2e" and the like never route anywhere. */
export function jigHandler(gallery: Gallery, opts: ServeOptions, decoders: DecodePool): http.RequestListener {
  const page = Buffer.from(jigPageHtml({ title: `GUIE jig — ${gallery.stats().embedder}`, k: opts.k, maxBytes: opts.limits.maxBytes }));
  const counters = { searches: 0, rejected: 0, totalMs: 0 };
  const api = openApiDocument(opts, `GUIE jig — ${gallery.stats().embedder}`);
  const ordinary = new DecodeLimiter(opts.decodes);
  const large = new DecodeLimiter({ concurrent: 1, queued: opts.decodes.queued }, `large uploads (over ${opts.decodes.largePixels} pixels)`);

  const search = async (req: http.IncomingMessage, res: http.ServerResponse, params: URLSearchParams) => {
    const k = intParam(params, 'k', opts.k, 1, opts.maxK);
    // a client that hangs up stops its decode: the process doing it is killed, not left to finish for nobody
    const gone = new AbortController();
    res.on('close', () => res.writableFinished || gone.abort());
    const embed = async (body: Buffer) => {
      const t0 = performance.now();
      const q = await decoders.decode(body, gallery.embedder.preprocess, opts.limits, 'upload', gone.signal).catch((e: unknown) => {
        if (gone.signal.aborted) throw new HttpError(400, ABORTED);
        throw e instanceof ImageError && e.status === 415 ? new ImageError(415, `${e.message}; ${UPLOAD_FORMS}`) : e;
      });
      const [matches] = await gallery.search(await gallery.embedder.embed([q.rgb]), k);
      return { q, matches, ms: performance.now() - t0 };
    };
    // the slot is taken before the body is read: a refused or waiting upload holds no buffer; an image whose
    // header says it is large gives the slot back and waits in the large lane (its body held, the queue bounded)
    type Embedded = Awaited<ReturnType<typeof embed>>;
    const first = await ordinary.run(async (): Promise<{ large: Buffer } | { done: Embedded }> => {
      const body = await uploadBytes(req, await readBody(req, opts.limits.maxBytes));
      return (await headerPixels(body)) > opts.decodes.largePixels ? { large: body } : { done: await embed(body) };
    });
    const { q, matches, ms } = 'done' in first ? first.done : await large.run(() => embed(first.large));
    counters.searches++;
    counters.totalMs += ms;
    return { k, ms, query: { format: q.format, width: q.width, height: q.height }, matches };
  };

  return (req, res) => {
    const raw = req.url ?? '/';
    const qi = raw.indexOf('?');
    const pathname = qi < 0 ? raw : raw.slice(0, qi);
    const params = new URLSearchParams(qi < 0 ? '' : raw.slice(qi + 1));
    const method = req.method ?? 'GET';
    const allow = (m: string) => {
      if (method !== m && !(m === 'GET' && method === 'HEAD')) throw new HttpError(405, `${pathname} takes ${m}${m === 'GET' ? ' (or HEAD)' : ''}, not ${method}`);
    };
    const handle = async () => {
      if (raw.length > opts.maxUrlBytes) throw new HttpError(414, `request target of ${raw.length} bytes is over the ${opts.maxUrlBytes}-byte limit`);
      checkOrigin(req, opts);
      if (pathname === '/') {
        allow('GET');
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': page.length });
        res.end(page);
      } else if (pathname === '/api') {
        allow('GET');
        sendJson(res, 200, api);
      } else if (pathname === '/api/search') {
        allow('POST');
        sendJson(res, 200, await search(req, res, params));
      } else if (pathname === '/api/stats') {
        allow('GET');
        sendJson(res, 200, { ...gallery.stats(), source: path.basename(gallery.info.source), limits: opts.limits, served: { searches: counters.searches, rejected: counters.rejected, meanMs: counters.searches ? counters.totalMs / counters.searches : 0 }, decoders: decoders.stats(), queue: { ...ordinary.state(), large: large.state() } });
      } else if (pathname === '/api/gallery') {
        allow('GET');
        const offset = intParam(params, 'offset', 0, 0, gallery.size);
        const limit = intParam(params, 'limit', 48, 1, 500);
        const items = gallery.items.slice(offset, offset + limit).map((it, j) => ({ index: offset + j, ...it }));
        sendJson(res, 200, { total: gallery.size, offset, items });
      } else if (pathname.startsWith('/api/gallery/')) {
        allow('GET');
        const id = pathname.slice('/api/gallery/'.length);
        const thumb = /^\d{1,9}$/.test(id) ? gallery.thumbnail(Number(id)) : undefined;
        if (!thumb) throw new HttpError(/^\d{1,9}$/.test(id) ? 404 : 400, `gallery id must be an integer 0..${gallery.size - 1}, got "${id.slice(0, 64)}"`);
        res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Content-Length': thumb.length, 'Cache-Control': 'max-age=3600' });
        res.end(thumb);
      } else {
        throw new HttpError(404, `no route ${method} ${pathname.slice(0, 128)}`);
      }
    };
    handle().catch((e: unknown) => {
      const status = e instanceof HttpError || e instanceof ImageError ? e.status : 500;
      if (status < 500 || e instanceof HttpError) counters.rejected++;
      if (e instanceof HttpError && e.message === ABORTED) console.error(`guie serve: ${method} ${pathname.slice(0, 128)}: ${ABORTED}`);
      else if (status >= 500 && !(e instanceof HttpError)) console.error(`guie serve: ${method} ${pathname}: ${e instanceof Error ? e.stack : String(e)}`);
      const message = (status < 500 || e instanceof HttpError) && e instanceof Error ? e.message : 'internal error';
      if (res.headersSent) res.destroy();
      else if (!res.destroyed) {
        // After a 413 or 503 the rest of the upload is not worth reading: close the connection.
        if (status === 413 || status === 503) res.setHeader('Connection', 'close');
        sendJson(res, status, { error: message }, e instanceof HttpError ? e.headers : {});
      }
      // Drain an unread upload (e.g. a 404/405 POST) so the client can read the answer.
      req.resume();
    });
  };
}

/** Starts the server and resolves once it listens (after one warm-up search, so the first user query is not the slow one). */
export async function startJigServer(gallery: Gallery, options: Partial<Omit<ServeOptions, 'decodes'>> & { decodes?: Partial<ServeOptions['decodes']> } = {}): Promise<RunningServer> {
  const opts: ServeOptions = { ...DEFAULT_SERVE, ...options, decodes: { ...DEFAULT_SERVE.decodes, ...options.decodes } };
  await gallery.search(new Float32Array(gallery.embedder.dim), 1);
  // one decoder per ordinary slot and one for the large lane: the limiters above never ask for more at once
  const decoders = new DecodePool({ processes: opts.decodes.concurrent + 1, deadlineMs: opts.limits.decodeSeconds * 1000, recycleBytes: opts.decodes.recycleBytes });
  await decoders.ready();
  const server = http.createServer({ requestTimeout: 30_000, headersTimeout: 10_000, maxHeaderSize: MAX_HEADER_BYTES }, jigHandler(gallery, opts, decoders));
  server.on('clientError', (e: NodeJS.ErrnoException, socket) => {
    // headers (or a request line) beyond Node's parser limit: say so before closing, as HTTP asks
    if (e.code === 'HPE_HEADER_OVERFLOW' && socket.writable) {
      const body = JSON.stringify({ error: `request headers over the ${MAX_HEADER_BYTES}-byte limit` });
      socket.end(`HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    } else socket.destroy();
  });
  return new Promise((resolve, reject) => {
    server.once('error', (e) => (decoders.close(), reject(e)));
    server.listen(opts.port, opts.host, () => {
      const { address, port } = server.address() as AddressInfo;
      const host = address.includes(':') ? `[${address}]` : address;
      resolve({
        server,
        url: `http://${host}:${port}`,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            decoders.close();
            server.close(() => done());
          }),
      });
    });
  });
}
