/**
 * Downloads pretrained CLIP weights (safetensors) from the Hugging Face hub on a user's machine:
 * streamed to `<dest>.partial` (resumed with an HTTP Range request), header checked, then renamed
 * into place. HF_ENDPOINT points at a mirror, HF_TOKEN authorises gated repositories.
 */
import * as fs from 'fs';
import * as path from 'path';
import { progress } from '../util/progress';
import { SafetensorsFile } from './safetensors';
import type { WeightLayout } from './weight-names';

export interface PretrainedSource {
  repo: string;
  file: string;
  layout: WeightLayout;
}

/** Config name -> hub file. LAION OpenCLIP towers (exact GELU) and OpenAI's (QuickGELU, HF layout). */
export const PRETRAINED: Record<string, PretrainedSource> = {
  'ViT-H-14': { repo: 'laion/CLIP-ViT-H-14-laion2B-s32B-b79K', file: 'open_clip_model.safetensors', layout: 'openclip' },
  'ViT-L-14': { repo: 'laion/CLIP-ViT-L-14-laion2B-s32B-b82K', file: 'open_clip_model.safetensors', layout: 'openclip' },
  'ViT-B-16': { repo: 'laion/CLIP-ViT-B-16-laion2B-s34B-b88K', file: 'open_clip_model.safetensors', layout: 'openclip' },
  'ViT-B-32': { repo: 'laion/CLIP-ViT-B-32-laion2B-s34B-b79K', file: 'open_clip_model.safetensors', layout: 'openclip' },
  'ViT-B-32-quickgelu': { repo: 'openai/clip-vit-base-patch32', file: 'model.safetensors', layout: 'hf' },
  'ViT-B-16-quickgelu': { repo: 'openai/clip-vit-base-patch16', file: 'model.safetensors', layout: 'hf' },
  'ViT-L-14-quickgelu': { repo: 'openai/clip-vit-large-patch14', file: 'model.safetensors', layout: 'hf' },
  'ViT-L-14-336': { repo: 'openai/clip-vit-large-patch14-336', file: 'model.safetensors', layout: 'hf' },
};

export function pretrainedUrl(model: string, env: NodeJS.ProcessEnv = process.env): string {
  const src = PRETRAINED[model];
  if (!src) throw new Error(`no known pretrained weights for "${model}" (known: ${Object.keys(PRETRAINED).join(', ')}); pass a URL instead`);
  const endpoint = (env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/$/, '');
  return `${endpoint}/${src.repo}/resolve/main/${src.file}`;
}

export interface DownloadOptions {
  model: string;
  /** Destination file. */
  dest: string;
  /** Overrides the hub URL (a mirror, another checkpoint). */
  url?: string;
  progressMode?: 'bar' | 'lines' | 'silent';
}

function describe(e: unknown): string {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  return err.cause?.code ?? err.cause?.message ?? err.message;
}

/** Downloads (or resumes) the weights; returns the destination. An existing valid file is kept. */
export async function downloadWeights(opts: DownloadOptions): Promise<string> {
  const url = opts.url ?? pretrainedUrl(opts.model);
  const { dest } = opts;
  if (fs.existsSync(dest)) {
    SafetensorsFile.open(dest).close(); // throws if the existing file is damaged
    return dest;
  }
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  const partial = `${dest}.partial`;
  const have = fs.existsSync(partial) ? fs.statSync(partial).size : 0;
  const headers: Record<string, string> = have > 0 ? { Range: `bytes=${have}-` } : {};
  if (process.env.HF_TOKEN) headers.Authorization = `Bearer ${process.env.HF_TOKEN}`;
  let res: Response;
  try {
    res = await fetch(url, { headers, redirect: 'follow' });
  } catch (e) {
    throw new Error(
      `cannot download ${opts.model} weights from ${url}: ${describe(e)}. This machine looks offline or the host is unreachable: ` +
        `download the file on a machine with internet access and pass its path (--weights), or set HF_ENDPOINT to a reachable mirror.`,
    );
  }
  if (!res.ok || !res.body) throw new Error(`cannot download ${opts.model} weights from ${url}: HTTP ${res.status} ${res.statusText}`);
  const resumed = res.status === 206;
  const total = Number(res.headers.get('content-length') ?? 0) + (resumed ? have : 0);
  const fd = fs.openSync(partial, resumed ? 'a' : 'w');
  const bar = progress({ label: `download ${opts.model}`, total: Math.max(total, 1), mode: opts.progressMode });
  let done = resumed ? have : 0;
  try {
    const reader = res.body.getReader();
    for (;;) {
      const { done: end, value } = await reader.read();
      if (end) break;
      fs.writeSync(fd, value);
      done += value.length;
      bar.update(done, { MB: (done / 1e6).toFixed(0) });
    }
    fs.fsyncSync(fd);
  } catch (e) {
    throw new Error(`download of ${url} interrupted after ${done} bytes (${describe(e)}); run again to resume from ${partial}`);
  } finally {
    fs.closeSync(fd);
    bar.stop();
  }
  if (total > 0 && done !== total) throw new Error(`download of ${url} ended at ${done} of ${total} bytes; run again to resume from ${partial}`);
  try {
    SafetensorsFile.open(partial).close();
  } catch (e) {
    fs.rmSync(partial, { force: true }); // a complete but wrong answer (an HTML login page): resuming it would never help
    throw e;
  }
  fs.renameSync(partial, dest);
  return dest;
}
