/** Checkpoints of a work dir and the run folders holding `vis_data/scalars.json` (no vscode import). */
import * as fs from 'fs';
import * as path from 'path';

export interface CheckpointEntry {
  file: string;
  /** `latest`, `best` or `periodic`. */
  kind: 'latest' | 'best' | 'periodic';
  mtimeMs: number;
}

const CKPT = /\.(safetensors|pth)$/i;

/**
 * Checkpoints in `workDir`: the one `last_checkpoint` names first, then best ones, then the others,
 * newest first within each group.
 */
export function listCheckpoints(workDir: string): CheckpointEntry[] {
  let names: string[];
  try {
    names = fs.readdirSync(workDir);
  } catch {
    return [];
  }
  let latest: string | undefined;
  try {
    const t = fs.readFileSync(path.join(workDir, 'last_checkpoint'), 'utf8').trim();
    if (t) latest = path.resolve(workDir, t);
  } catch {
    // no last_checkpoint
  }
  const out: CheckpointEntry[] = [];
  for (const n of names) {
    if (!CKPT.test(n)) continue;
    const file = path.join(workDir, n);
    let st: fs.Stats;
    try {
      st = fs.statSync(file);
    } catch {
      continue;
    }
    if (!st.isFile()) continue;
    const kind = latest && path.resolve(file) === latest ? 'latest' : /^best_/.test(n) ? 'best' : 'periodic';
    out.push({ file, kind, mtimeMs: st.mtimeMs });
  }
  const rank = { latest: 0, best: 1, periodic: 2 } as const;
  out.sort((a, b) => rank[a.kind] - rank[b.kind] || b.mtimeMs - a.mtimeMs || a.file.localeCompare(b.file));
  return out;
}

/** `<workDir>/<timestamp>/vis_data/scalars.json` files, newest run first. */
export function listScalarFiles(workDir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(workDir);
  } catch {
    return [];
  }
  const out: { file: string; m: number }[] = [];
  for (const n of names) {
    const f = path.join(workDir, n, 'vis_data', 'scalars.json');
    try {
      out.push({ file: f, m: fs.statSync(f).mtimeMs });
    } catch {
      // not a run folder
    }
  }
  // Timestamps (YYYYMMDD_HHMMSS) sort by name; the modification time breaks ties.
  out.sort((a, b) => path.basename(path.dirname(path.dirname(b.file))).localeCompare(path.basename(path.dirname(path.dirname(a.file)))) || b.m - a.m);
  return out.map((o) => o.file);
}
