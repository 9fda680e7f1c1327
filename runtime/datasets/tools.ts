// The work behind `mmcls browse-dataset` and `mmcls verify-dataset`.
import * as fs from 'fs';
import * as path from 'path';
import { MmclsError } from '../errors';
import { DATASETS } from '../registry';
import { loadConfig } from '../config';
import { DataInfo } from './base_dataset';
import { Image, isImage, emptyImage } from './image';
import { encodePng, readImage } from './imageio';
import { resize } from './imgops';
import { Rng } from './rng';
import { BaseTransform, Compose, RNG_KEY, Results } from './transforms/base';
import { LoadImageFromFile } from './transforms/loading';
import './register';

type Phase = 'train' | 'val' | 'test';

function datasetConfig(configFile: string, phase: string, cfgOptions: string[]): Record<string, unknown> {
  if (!['train', 'val', 'test'].includes(phase)) throw new MmclsError(`phase must be train, val or test, got ${JSON.stringify(phase)}`, { code: 'cli.bad-arg' });
  const cfg = loadConfig(configFile, { cfgOptions }).value as Record<string, unknown>;
  const key = `${phase as Phase}_dataloader`;
  const dl = cfg[key] as Record<string, unknown> | null | undefined;
  if (!dl || typeof dl !== 'object' || !dl.dataset || typeof dl.dataset !== 'object') {
    throw new MmclsError(`${configFile} has no ${key}.dataset`, { code: 'config.missing-key', location: { file: configFile } });
  }
  return JSON.parse(JSON.stringify(dl.dataset)) as Record<string, unknown>;
}

function findConfigPipelineKey(dsCfg: Record<string, unknown>): Record<string, unknown> {
  let d: Record<string, unknown> | undefined = dsCfg;
  while (d && !('pipeline' in d)) d = (d.dataset as Record<string, unknown> | undefined) ?? ((d.datasets as Record<string, unknown>[] | undefined)?.[0]);
  return d ?? dsCfg;
}

interface IndexedInfo {
  length: number;
  getDataInfo(i: number): DataInfo;
}

function asImage(v: unknown): Image | null {
  return isImage(v) ? v : null;
}

function toU8(img: Image): Image {
  if (img.data instanceof Uint8Array) return img;
  // Normalised images are stretched to [0, 255] so that they are visible at all.
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of img.data) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const inRange = lo >= 0 && hi <= 255;
  const scale = inRange || hi === lo ? 1 : 255 / (hi - lo);
  const off = inRange ? 0 : lo;
  const out = new Uint8Array(img.data.length);
  for (let i = 0; i < out.length; i++) out[i] = Math.max(0, Math.min(255, Math.round((img.data[i] - off) * scale)));
  return { ...img, data: out };
}

function to3(img: Image): Image {
  if (img.channels === 3) return img;
  const n = img.height * img.width;
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) for (let k = 0; k < 3; k++) out[i * 3 + k] = img.data[i * img.channels + (img.channels === 1 ? 0 : Math.min(k, img.channels - 1))];
  return { data: out, height: img.height, width: img.width, channels: 3 };
}

/** Images side by side, centred vertically on a white background with a 10-pixel gap. */
function hconcat(imgs: Image[]): Image {
  const gap = 10;
  const h = Math.max(...imgs.map((i) => i.height));
  const w = imgs.reduce((s, i) => s + i.width, 0) + gap * (imgs.length - 1);
  const out = emptyImage(h, w, 3);
  out.data.fill(255);
  let x0 = 0;
  for (const img of imgs) {
    const y0 = Math.floor((h - img.height) / 2);
    for (let y = 0; y < img.height; y++) out.data.set(img.data.subarray(y * img.width * 3, (y + 1) * img.width * 3), ((y0 + y) * w + x0) * 3);
    x0 += img.width + gap;
  }
  return out;
}

export interface BrowseOptions {
  outputDir?: string;
  phase?: string;
  showNumber?: number;
  mode?: string;
  rescaleFactor?: number;
  channelOrder?: string;
  cfgOptions?: string[];
  seed?: number;
}

/** Writes PNG images of a config's dataset; returns how many and where. */
export async function browseDataset(configFile: string, o: BrowseOptions = {}): Promise<{ written: number; total: number; outputDir: string; files: string[] }> {
  const mode = o.mode ?? 'transformed';
  if (!['original', 'transformed', 'concat', 'pipeline'].includes(mode)) throw new MmclsError(`mode must be original, transformed, concat or pipeline, got ${JSON.stringify(mode)}`, { code: 'cli.bad-arg' });
  const order = (o.channelOrder ?? 'BGR').toUpperCase();
  if (order !== 'BGR' && order !== 'RGB') throw new MmclsError(`channel order must be BGR or RGB, got ${JSON.stringify(o.channelOrder)}`, { code: 'cli.bad-arg' });
  const r = o.rescaleFactor;
  if (r !== undefined && !(r > 0)) throw new MmclsError(`rescale factor must be a positive number, got ${r}`, { code: 'cli.bad-arg' });
  if (o.showNumber !== undefined && !(Number.isInteger(o.showNumber) && o.showNumber >= 0)) throw new MmclsError(`show number must be an int >= 0, got ${o.showNumber}`, { code: 'cli.bad-arg' });
  const phase = o.phase ?? 'train';
  const dsCfg = datasetConfig(configFile, phase, o.cfgOptions ?? []);
  const holder = findConfigPipelineKey(dsCfg);
  const pipelineCfg = (holder.pipeline as Record<string, unknown>[] | undefined) ?? [];
  holder.pipeline = [];
  const dataset = DATASETS.build<IndexedInfo>(dsCfg);
  if (typeof dataset.getDataInfo !== 'function') throw new MmclsError('browse-dataset: this dataset type has no sample list', { code: 'cli.bad-arg' });
  const pipeline = new Compose({ transforms: pipelineCfg });
  const outputDir = o.outputDir ?? path.join('browse_dataset', path.basename(configFile).replace(/\.py$/, ''));
  fs.mkdirSync(outputDir, { recursive: true });
  const total = dataset.length;
  const n = Math.min(total, o.showNumber ?? total);
  const files: string[] = [];
  const index: string[] = ['file\tsample_idx\timg_path\tgt_label\tclass\tshows'];
  const classes = (dataset as unknown as { metainfo?: Record<string, unknown> }).metainfo?.classes as string[] | undefined;
  const scale = (img: Image) => (r && r !== 1 ? resize(img, Math.max(1, Math.round(img.width * r)), Math.max(1, Math.round(img.height * r)), 'bilinear') : img);
  for (let i = 0; i < n; i++) {
    const info = dataset.getDataInfo(i);
    let results: Results | null = { ...info, sample_idx: i, [RNG_KEY]: new Rng(o.seed ?? 0, 0, i, i) };
    const steps: { name: string; img: Image }[] = [];
    const inMemory = asImage(info.img);
    if (inMemory) steps.push({ name: 'original', img: inMemory });
    for (const t of pipeline.transforms as BaseTransform[]) {
      results = await t.call(results!);
      if (results === null) break;
      const img = asImage(results.img) ?? asImage(results.inputs);
      // PackClsInputs only moves the image to `inputs`: not a step worth showing again
      if (!img || (!isImage(results.img) && img === steps[steps.length - 1]?.img)) continue;
      if (t instanceof LoadImageFromFile && !steps.length) steps.push({ name: 'original', img });
      else steps.push({ name: t.constructor.name, img });
    }
    if (!steps.length) continue;
    let chosen: Image[];
    let shows: string;
    if (mode === 'original') {
      chosen = [steps[0].img];
      shows = steps[0].name;
    } else if (mode === 'transformed') {
      chosen = [steps[steps.length - 1].img];
      shows = steps[steps.length - 1].name;
    } else if (mode === 'concat') {
      chosen = [steps[0].img, steps[steps.length - 1].img];
      shows = `${steps[0].name} | ${steps[steps.length - 1].name}`;
    } else {
      chosen = steps.map((s) => s.img);
      shows = steps.map((s) => s.name).join(' | ');
    }
    const img = chosen.length === 1 ? scale(toU8(chosen[0])) : hconcat(chosen.map((c) => to3(scale(toU8(c)))));
    const base = typeof info.img_path === 'string' ? path.basename(info.img_path).replace(/\.[^.]*$/, '') : `sample`;
    const file = path.join(outputDir, `${String(i).padStart(5, '0')}_${base}.png`);
    fs.writeFileSync(file, await encodePng(img, order === 'RGB' ? 'rgb' : 'bgr'));
    files.push(file);
    const label = info.gt_label;
    const labels = typeof label === 'number' ? [label] : Array.isArray(label) ? (label as number[]) : [];
    index.push([path.basename(file), i, info.img_path ?? '', labels.join(','), labels.map((l) => classes?.[l] ?? '').join(','), shows].join('\t'));
  }
  fs.writeFileSync(path.join(outputDir, 'index.tsv'), `${index.join('\n')}\n`);
  return { written: files.length, total, outputDir, files };
}

export interface VerifyOptions {
  outPath?: string;
  phase?: string;
  numProcess?: number;
  cfgOptions?: string[];
  onProgress?: (done: number, total: number) => void;
}

/** Decodes every image of a config's dataset; lists the broken ones in outPath. */
export async function verifyDataset(configFile: string, o: VerifyOptions = {}): Promise<{ samples: number; checked: number; broken: { path: string; reason: string }[]; outPath: string }> {
  const dsCfg = datasetConfig(configFile, o.phase ?? 'train', o.cfgOptions ?? []);
  const holder = findConfigPipelineKey(dsCfg);
  const pipelineCfg = (holder.pipeline as Record<string, unknown>[] | undefined) ?? [];
  const load = pipelineCfg.find((t) => t && t.type === 'LoadImageFromFile');
  const colorType = ((load?.color_type as string | undefined) ?? 'color') as 'color';
  holder.pipeline = [];
  const dataset = DATASETS.build<IndexedInfo>(dsCfg);
  const n = dataset.length;
  const paths: string[] = [];
  for (let i = 0; i < n; i++) {
    const p = dataset.getDataInfo(i).img_path;
    if (typeof p === 'string') paths.push(p);
  }
  const unique = [...new Set(paths)];
  const broken: { path: string; reason: string }[] = [];
  const conc = Math.max(1, Math.floor(o.numProcess ?? 1));
  let next = 0;
  let done = 0;
  const worker = async () => {
    for (;;) {
      const k = next++;
      if (k >= unique.length) return;
      try {
        await readImage(unique[k], { flag: colorType });
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        broken.push({ path: unique[k], reason: msg.replace(`cannot read image ${unique[k]}: `, '') });
      }
      o.onProgress?.(++done, unique.length);
    }
  };
  await Promise.all(Array.from({ length: conc }, worker));
  broken.sort((a, b) => unique.indexOf(a.path) - unique.indexOf(b.path));
  const outPath = o.outPath ?? 'brokenfiles.log';
  fs.writeFileSync(outPath, broken.map((b) => `${b.path}\n`).join(''));
  return { samples: n, checked: unique.length, broken, outPath };
}
