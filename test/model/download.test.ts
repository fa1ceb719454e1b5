/** downloadWeights against a real loopback HTTP server (Range resume, validation) and an unreachable host. */
import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as os from 'os';
import * as path from 'path';
import { downloadWeights, pretrainedUrl } from '../../lib/model/download';
import { Vit } from '../../lib/model/vit';
import { getVitConfig } from '../../lib/model/vit-config';
import { loadVit, saveVit } from '../../lib/model/weights';

let dir = '';
let body: Buffer;
let server: http.Server;
let base = '';
const ranges: string[] = [];

beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vit-dl-'));
  const src = path.join(dir, 'src.safetensors');
  const vit = Vit.random(getVitConfig('test-tiny'), 5);
  saveVit(vit, src);
  vit.dispose();
  body = fs.readFileSync(src);
  server = http.createServer((req, res) => {
    if (req.url === '/junk.safetensors') return res.end('<html>login required</html>');
    if (req.url !== '/w.safetensors') return res.writeHead(404).end();
    const m = /bytes=(\d+)-/.exec(req.headers.range ?? '');
    ranges.push(req.headers.range ?? '');
    if (m) {
      const from = Number(m[1]);
      res.writeHead(206, { 'content-length': body.length - from, 'content-range': `bytes ${from}-${body.length - 1}/${body.length}` });
      return res.end(body.subarray(from));
    }
    res.writeHead(200, { 'content-length': body.length });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  fs.rmSync(dir, { recursive: true, force: true });
});

test('offline: a clear error naming the model, URL and what to do', async () => {
  // a loopback port nobody listens on: connection refused, as on a machine without network
  const probe = http.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const closed = (probe.address() as AddressInfo).port;
  await new Promise((r) => probe.close(r));
  const dest = path.join(dir, 'h.safetensors');
  await expect(downloadWeights({ model: 'ViT-H-14', dest, url: `http://127.0.0.1:${closed}/open_clip_model.safetensors`, progressMode: 'silent' })).rejects.toThrow(
    /cannot download ViT-H-14 weights from http:\/\/127\.0\.0\.1:\d+\/open_clip_model\.safetensors: ECONNREFUSED\. This machine looks offline .*pass its path \(--weights\)/,
  );
  // port 9 (discard) is refused by fetch itself; same guidance
  await expect(downloadWeights({ model: 'ViT-H-14', dest, url: 'http://127.0.0.1:9/open_clip_model.safetensors', progressMode: 'silent' })).rejects.toThrow(
    /cannot download ViT-H-14 weights from http:\/\/127\.0\.0\.1:9\/open_clip_model\.safetensors: bad port\. This machine looks offline/,
  );
  expect(fs.existsSync(dest)).toBe(false);
});

test('hub URL per model, HF_ENDPOINT mirror, unknown model', () => {
  expect(pretrainedUrl('ViT-H-14', {})).toBe('https://huggingface.co/laion/CLIP-ViT-H-14-laion2B-s32B-b79K/resolve/main/open_clip_model.safetensors');
  expect(pretrainedUrl('ViT-B-32-quickgelu', { HF_ENDPOINT: 'http://mirror.local/' })).toBe('http://mirror.local/openai/clip-vit-base-patch32/resolve/main/model.safetensors');
  expect(() => pretrainedUrl('test-tiny', {})).toThrow(/no known pretrained weights for "test-tiny"/);
});

test('downloads, resumes a partial file with a Range request, and the result loads', async () => {
  const dest = path.join(dir, 'tiny.safetensors');
  fs.writeFileSync(`${dest}.partial`, body.subarray(0, 1000)); // an interrupted earlier run
  ranges.length = 0;
  await downloadWeights({ model: 'test-tiny', dest, url: `${base}/w.safetensors`, progressMode: 'silent' });
  expect(ranges).toEqual(['bytes=1000-']);
  expect(fs.readFileSync(dest).equals(body)).toBe(true);
  expect(fs.existsSync(`${dest}.partial`)).toBe(false);
  const { vit, layout } = loadVit(dest, getVitConfig('test-tiny'));
  expect(layout).toBe('openclip');
  vit.dispose();
  // a second call keeps the valid file without a request
  await downloadWeights({ model: 'test-tiny', dest, url: `${base}/w.safetensors`, progressMode: 'silent' });
  expect(ranges.length).toBe(1);
});

test('HTTP errors and non-safetensors answers are reported, nothing lands at the destination', async () => {
  const dest = path.join(dir, 'bad.safetensors');
  await expect(downloadWeights({ model: 'x', dest, url: `${base}/missing`, progressMode: 'silent' })).rejects.toThrow(/cannot download x weights from http:\/\/127\.0\.0\.1:\d+\/missing: HTTP 404/);
  await expect(downloadWeights({ model: 'x', dest, url: `${base}/junk.safetensors`, progressMode: 'silent' })).rejects.toThrow(/bad\.safetensors\.partial: not a valid safetensors file/);
  expect(fs.existsSync(dest)).toBe(false);
  expect(fs.existsSync(`${dest}.partial`)).toBe(false);
});
