/**
 * The workspace index: which files are configs, and which config inherits which. Built by reading
 * each file's `_base_` statement only (parsing, no evaluation), updated per file on change.
 */
import * as fs from 'fs';
import * as path from 'path';
import { parsePython } from '../../runtime/config';
import { baseEntries } from './own-keys';

const SKIP_DIRS = new Set(['node_modules', '.git', 'dist', '__pycache__', '.venv', 'venv', 'work_dirs', '.mypy_cache']);
const MAX_FILES = 50_000;

/** `configs/**\/*.py`-style glob to a regular expression over POSIX paths relative to a root. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*') {
      if (glob[i + 1] === '*') {
        i++;
        if (glob[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else re += '.*';
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '{') {
      const end = glob.indexOf('}', i);
      if (end > i) {
        re += `(?:${glob.slice(i + 1, end).split(',').map((s) => s.replace(/[.+^$()|[\]\\]/g, '\\$&')).join('|')})`;
        i = end;
      } else re += '\\{';
    } else re += c.replace(/[.+^$()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

const BASE_RE = /^_base_\s*=/m;

/**
 * `_base_` entries of the usual literal forms (`'a.py'`, `['a.py', "b.py"]`, comments and
 * trailing commas allowed) without parsing the file; undefined for anything else (the caller
 * parses then). Indexing a workspace reads every config, so this is its hot path.
 */
export function quickBases(text: string): string[] | undefined {
  const m = /^_base_\s*=\s*/m.exec(text);
  if (!m) return [];
  let i = m.index + m[0].length;
  const str = (): string | undefined => {
    const q = text[i];
    if (q !== "'" && q !== '"') return undefined;
    if (text.startsWith(q.repeat(3), i)) return undefined;
    const end = text.indexOf(q, i + 1);
    if (end < 0) return undefined;
    const s = text.slice(i + 1, end);
    if (s.includes('\\') || s.includes('\n') || s.includes('{') || s.includes('::')) return undefined;
    i = end + 1;
    return s;
  };
  const first = text[i];
  if (first === "'" || first === '"') {
    const s = str();
    if (s === undefined) return undefined;
    const rest = /^[ \t]*(#[^\n]*)?(\n|$)/.exec(text.slice(i));
    return rest ? [s] : undefined;
  }
  if (first !== '[' && first !== '(') return undefined;
  const close = first === '[' ? ']' : ')';
  i++;
  const out: string[] = [];
  for (;;) {
    while (i < text.length) {
      const c = text[i];
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === ',') i++;
      else if (c === '#') {
        const nl = text.indexOf('\n', i);
        i = nl < 0 ? text.length : nl;
      } else break;
    }
    if (i >= text.length) return undefined;
    if (text[i] === close) return out;
    const s = str();
    if (s === undefined) return undefined;
    out.push(s);
  }
}

export class WorkspaceIndex {
  /** Config file -> its resolved base files. */
  private readonly basesOf = new Map<string, string[]>();
  /** Base file -> files naming it in `_base_`. */
  private readonly dependentsOf = new Map<string, Set<string>>();
  private globs: RegExp[] = [];

  constructor(
    private roots: string[] = [],
    /** Open editor buffers (current text), else undefined. */
    private readonly overlay: (file: string) => string | undefined = () => undefined,
  ) {}

  setRoots(roots: string[]): void {
    this.roots = roots.map((r) => path.resolve(r));
  }

  /** The workspace folder holding `file` (the innermost), where training from the editor runs. */
  rootOf(file: string): string | undefined {
    let best: string | undefined;
    for (const r of this.roots) {
      const rel = path.relative(r, file);
      if (!rel.startsWith('..') && !path.isAbsolute(rel) && (!best || r.length > best.length)) best = r;
    }
    return best;
  }

  setGlobs(globs: string[]): void {
    this.globs = globs.filter((g) => typeof g === 'string' && g.length > 0).map(globToRegExp);
  }

  /** Whether a file is a config: a .py under a `configs` folder, one that assigns `_base_`, or one matching `mmcls.configGlobs`. */
  isConfig(file: string, text?: string): boolean {
    if (!file.endsWith('.py')) return false;
    const parts = file.split(/[\\/]/);
    if (parts.includes('configs') || parts.includes('_base_')) return true;
    // A file some config names as its base is a config too, wherever it is.
    if (this.dependentsOf.get(path.resolve(file))?.size) return true;
    if (this.matchesGlob(file)) return true;
    const t = text ?? this.read(file);
    return t !== undefined && BASE_RE.test(t);
  }

  private matchesGlob(file: string): boolean {
    if (!this.globs.length) return false;
    for (const root of this.roots) {
      const rel = path.relative(root, file).split(path.sep).join('/');
      if (rel.startsWith('..')) continue;
      if (this.globs.some((g) => g.test(rel))) return true;
    }
    return this.globs.some((g) => g.test(file.split(path.sep).join('/')));
  }

  private read(file: string): string | undefined {
    const o = this.overlay(file);
    if (o !== undefined) return o;
    try {
      return fs.readFileSync(file, 'utf8');
    } catch {
      return undefined;
    }
  }

  /** Walks the roots and indexes every config. Returns the number of configs. */
  build(): number {
    for (const root of this.roots) {
      const stack = [root];
      let seen = 0;
      while (stack.length) {
        const dir = stack.pop() as string;
        let entries: fs.Dirent[];
        try {
          entries = fs.readdirSync(dir, { withFileTypes: true });
        } catch {
          continue;
        }
        for (const e of entries) {
          if (++seen > MAX_FILES) break;
          const p = path.join(dir, e.name);
          if (e.isDirectory()) {
            if (!SKIP_DIRS.has(e.name) && !e.name.startsWith('.')) stack.push(p);
          } else if (e.isFile() && e.name.endsWith('.py')) {
            const text = this.read(p);
            if (text !== undefined && this.isConfig(p, text)) this.update(p, text);
          }
        }
      }
    }
    return this.basesOf.size;
  }

  /** Re-reads one file's `_base_` (text given: an editor buffer; undefined: from disk; null: deleted). */
  update(file: string, text?: string | null): void {
    file = path.resolve(file);
    const old = this.basesOf.get(file) ?? [];
    for (const b of old) this.dependentsOf.get(b)?.delete(file);
    if (text === null) {
      this.basesOf.delete(file);
      return;
    }
    const t = text ?? this.read(file);
    if (t === undefined) {
      this.basesOf.delete(file);
      return;
    }
    let bases: string[] = [];
    if (BASE_RE.test(t)) {
      const quick = quickBases(t);
      if (quick) bases = quick.map((rel) => path.resolve(path.dirname(file), rel));
      else {
        try {
          bases = baseEntries(parsePython(t).module, file).map((b) => b.file);
        } catch {
          bases = [];
        }
      }
    }
    this.basesOf.set(file, bases);
    for (const b of bases) {
      let s = this.dependentsOf.get(b);
      if (!s) this.dependentsOf.set(b, (s = new Set()));
      s.add(file);
    }
  }

  remove(file: string): void {
    this.update(file, null);
  }

  has(file: string): boolean {
    return this.basesOf.has(path.resolve(file));
  }

  files(): string[] {
    return [...this.basesOf.keys()];
  }

  bases(file: string): string[] {
    return this.basesOf.get(path.resolve(file)) ?? [];
  }

  /** Files that name `file` in their `_base_` directly. */
  directDependents(file: string): string[] {
    return [...(this.dependentsOf.get(path.resolve(file)) ?? [])].filter((f) => this.basesOf.has(f)).sort();
  }

  /** Every file that inherits `file`, directly or through other bases (breadth first). */
  dependents(file: string): string[] {
    const start = path.resolve(file);
    const seen = new Set<string>([start]);
    const out: string[] = [];
    const queue = [start];
    while (queue.length) {
      const f = queue.shift() as string;
      for (const d of this.directDependents(f)) {
        if (seen.has(d)) continue;
        seen.add(d);
        out.push(d);
        queue.push(d);
      }
    }
    return out;
  }
}
