import * as fs from 'fs';
import * as yaml from 'js-yaml';
import { MmclsError } from '../errors';
import { PickledArray, loadPickle, plainPickle } from './pickle';

/** Reads a .json, .yaml/.yml or .pkl/.pickle file into plain data (NumPy arrays become number lists). */
export function loadStructuredFile(file: string): unknown {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw new MmclsError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`, {
      code: 'data.missing-file',
      location: { file },
      cause: e,
    });
  }
  const lower = file.toLowerCase();
  try {
    if (lower.endsWith('.json')) return JSON.parse(buf.toString('utf8'));
    if (lower.endsWith('.yaml') || lower.endsWith('.yml')) return yaml.load(buf.toString('utf8'), { schema: yaml.JSON_SCHEMA });
    if (lower.endsWith('.pkl') || lower.endsWith('.pickle')) return arraysToLists(plainPickle(loadPickle(buf, file)));
  } catch (e) {
    if (e instanceof MmclsError) throw e;
    const m = /position (\d+)/.exec((e as Error).message);
    let location: { file: string; line?: number; column?: number } = { file };
    if (m) {
      const before = buf.toString('utf8').slice(0, Number(m[1])).split('\n');
      location = { file, line: before.length, column: before[before.length - 1].length + 1 };
    }
    const ym = (e as { mark?: { line: number; column: number } }).mark;
    if (ym) location = { file, line: ym.line + 1, column: ym.column + 1 };
    throw new MmclsError(`cannot parse ${file}: ${(e as Error).message.split('\n')[0]}`, { code: 'data.bad-annotation', location, cause: e });
  }
  throw new MmclsError(`unsupported annotation file type ${file}: use .json, .yaml, .yml or .pkl (or a text file "path label" with CustomDataset)`, {
    code: 'data.bad-annotation',
    location: { file },
  });
}

function arraysToLists(v: unknown): unknown {
  if (v instanceof PickledArray) return v.shape.length <= 1 ? v.toNumbers() : v.toNumbers();
  if (Array.isArray(v)) return v.map(arraysToLists);
  if (v && typeof v === 'object' && !(v instanceof Uint8Array)) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[k] = arraysToLists(x);
    return o;
  }
  return v;
}
