/**
 * Language server benchmark: `npm run bench:lsp` (after `npm run build`).
 *
 * Generates a workspace of 600 MMClassification-shaped configs (the zoo of bench-config: bases
 * for models, datasets, schedules and runtime, primaries inheriting four bases, variants
 * inheriting the primaries), starts the compiled server over stdio as an editor does, and prints:
 * the time to index the workspace, p50/p95 of completion (each after typing a character),
 * hover, and edit-to-diagnostics (didChange until publishDiagnostics of that version), and the
 * server's memory (RSS now and peak). The machine's load average is printed beside the figures:
 * on a busy machine latencies grow with it.
 *
 *   node dist/scripts/bench-lsp.js [--count N] [--samples S] [--keep] [--json] [--source]
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { LspClient, uri } from '../test/server/lsp-client';
import { generateZoo } from './bench-config';

const TARGETS = { indexMs: 1500, completionP95: 30, diagnosticsP95: 150, rssMb: 300 };

interface Options {
  count: number;
  samples: number;
  keep: boolean;
  json: boolean;
  /** Run the server from the TypeScript sources (through tsx) instead of dist/. */
  source: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { count: 600, samples: 100, keep: false, json: false, source: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--keep') o.keep = true;
    else if (a === '--json') o.json = true;
    else if (a === '--source') o.source = true;
    else if ((a === '--count' || a === '--samples') && i + 1 < argv.length) {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 1) throw new Error(`${a} expects a positive integer`);
      if (a === '--count') o.count = n;
      else o.samples = n;
    } else throw new Error(`unknown argument '${a}'; usage: [--count N] [--samples S] [--keep] [--json] [--source]`);
  }
  return o;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

function memOf(pid: number): { rssMb: number; peakMb: number } {
  try {
    const st = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(st)?.[1] ?? NaN);
    return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
  } catch {
    return { rssMb: NaN, peakMb: NaN };
  }
}

/** CPU time (user + system) the server process has used, in ms (clock ticks of 10 ms). */
function cpuOf(pid: number): number {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) * 10;
  } catch {
    return NaN;
  }
}

function posOf(text: string, offset: number): { line: number; character: number } {
  const before = text.slice(0, offset);
  return { line: before.split('\n').length - 1, character: offset - (before.lastIndexOf('\n') + 1) };
}

/** Waits until the server has used no CPU for 300 ms (background re-checks done), at most `maxMs`. */
async function waitIdle(pid: number, maxMs = 60_000): Promise<void> {
  const t0 = Date.now();
  let last = cpuOf(pid);
  while (Date.now() - t0 < maxMs) {
    await new Promise((r) => setTimeout(r, 300));
    const c = cpuOf(pid);
    if (c === last) return;
    last = c;
  }
}

/** CPU ms per call of the LSP-free service in this process (no protocol, no other work): the cost a loaded machine multiplies. */
function serviceCpu(files: string[], root: string, samples: number): { completion: number; hover: number; diagnostics: number } {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { LanguageService } = require('../server/service/service') as typeof import('../server/service/service');
  const svc = new LanguageService({ roots: [root] });
  svc.indexWorkspace();
  const texts = files.map((f) => fs.readFileSync(f, 'utf8'));
  files.forEach((f, i) => {
    svc.open(f, texts[i]);
    svc.diagnostics(f);
  });
  const cpu = (fn: (i: number) => void): number => {
    const c0 = process.cpuUsage();
    for (let i = 0; i < samples; i++) fn(i);
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / 1000 / samples;
  };
  const completion = cpu((i) => {
    const k = i % files.length;
    const typed = `${texts[k]}\nmodel = dict(backbone=dict(${'x'.repeat((i % 3) + 1)}`;
    svc.change(files[k], typed);
    svc.completion(files[k], posOf(typed, typed.length));
  });
  files.forEach((f, i) => {
    svc.change(f, texts[i]);
    svc.diagnostics(f);
  });
  const hover = cpu((i) => {
    const k = i % files.length;
    const m = /^(model|train_dataloader|param_scheduler|optim_wrapper|_base_)\b/m.exec(texts[k]);
    svc.hover(files[k], posOf(texts[k], (m?.index ?? 0) + 2));
  });
  const diagnostics = cpu((i) => {
    const k = i % files.length;
    svc.change(files[k], `${texts[k]}\nlr_probe = ${i}\n`);
    svc.diagnostics(files[k]);
  });
  return { completion, hover, diagnostics };
}

const now = (): number => Number(process.hrtime.bigint()) / 1e6;

async function main(opts: Options): Promise<void> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'mmcls-bench-lsp-'));
  const files = generateZoo(path.join(root, 'configs'), opts.count);
  const load0 = os.loadavg();
  const client = new LspClient(root, !opts.source);
  const pid = client.proc.pid as number;
  try {
    // Index: initialized -> the server's "indexed N configs in X ms" log line.
    const indexed = new Promise<{ n: number; ms: number }>((resolve) => {
      const t = setInterval(() => {
        const m = /indexed (\d+) configs in (\d+) ms/.exec(client.logs.join(''));
        if (m) {
          clearInterval(t);
          resolve({ n: Number(m[1]), ms: Number(m[2]) });
        }
      }, 2);
    });
    const tStart = now();
    await client.initialize(root);
    const idx = await indexed;
    const indexWall = now() - tStart;

    // Open a spread of configs (variants and primaries): first diagnostics of each.
    const open = files.filter((_, i) => i % Math.max(1, Math.floor(files.length / 30)) === 0).slice(0, 30);
    const texts = new Map<string, string>();
    const firstDiag: number[] = [];
    for (const f of open) {
      const t = fs.readFileSync(f, 'utf8');
      texts.set(f, t);
      const t0 = now();
      await client.open(f, t);
      firstDiag.push(now() - t0);
    }

    // Completion after typing: `model = dict(backbone=dict(` then one more character each time.
    const completion: number[] = [];
    const hover: number[] = [];
    const diagnostics: number[] = [];
    const S = opts.samples;
    const cpu: Record<string, number> = {};
    let c0 = cpuOf(pid);
    for (let i = 0; i < S; i++) {
      const f = open[i % open.length];
      const base = texts.get(f) as string;
      const typed = `${base}\nmodel = dict(backbone=dict(${'x'.repeat((i % 3) + 1)}`;
      texts.set(f, base);
      void client.change(f, typed);
      const t0 = now();
      await client.request('textDocument/completion', { textDocument: { uri: uri(f) }, position: posOf(typed, typed.length) });
      completion.push(now() - t0);
      await client.change(f, base);
    }
    cpu.completion = (cpuOf(pid) - c0) / S;
    // Let the background re-checks of dependents finish before the next phase.
    await waitIdle(pid);
    c0 = cpuOf(pid);
    // Hover on an inherited key (`model`/`train_dataloader` lines) of each open config.
    for (let i = 0; i < S; i++) {
      const f = open[i % open.length];
      const t = texts.get(f) as string;
      const m = /^(model|train_dataloader|param_scheduler|optim_wrapper|_base_)\b/m.exec(t);
      const p = posOf(t, (m?.index ?? 0) + 2);
      const t0 = now();
      await client.request('textDocument/hover', { textDocument: { uri: uri(f) }, position: p });
      hover.push(now() - t0);
    }
    cpu.hover = (cpuOf(pid) - c0) / S;
    await waitIdle(pid);
    c0 = cpuOf(pid);
    // Edit -> diagnostics of that version (the server waits 30 ms for more typing first).
    for (let i = 0; i < S; i++) {
      const f = open[i % open.length];
      const base = texts.get(f) as string;
      const edited = `${base}\nlr_probe = ${i}\n`;
      const t0 = now();
      await client.change(f, edited);
      diagnostics.push(now() - t0);
      texts.set(f, edited);
    }
    cpu.diagnostics = (cpuOf(pid) - c0) / S;
    const mem = memOf(pid);
    const load1 = os.loadavg();
    const inProcess = serviceCpu(open, root, S);
    const result = {
      configs: files.length,
      indexed: idx.n,
      index_ms: idx.ms,
      index_wall_ms: Math.round(indexWall),
      first_diagnostics_ms: { p50: pct(firstDiag, 50), p95: pct(firstDiag, 95) },
      completion_ms: { p50: pct(completion, 50), p95: pct(completion, 95) },
      hover_ms: { p50: pct(hover, 50), p95: pct(hover, 95) },
      edit_to_diagnostics_ms: { p50: pct(diagnostics, 50), p95: pct(diagnostics, 95) },
      server_cpu_ms_per_sample: { completion: cpu.completion, hover: cpu.hover, edit_to_diagnostics: cpu.diagnostics },
      service_cpu_ms_per_call: inProcess,
      rss_mb: Math.round(mem.rssMb),
      peak_rss_mb: Math.round(mem.peakMb),
      load_average: { before: load0.map((x) => Math.round(x * 100) / 100), after: load1.map((x) => Math.round(x * 100) / 100) },
      cpus: os.cpus().length,
      samples: S,
    };
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(result)}\n`);
      return;
    }
    const f1 = (x: number) => x.toFixed(1);
    const ok = (v: number, target: number) => (v <= target ? 'ok' : 'OVER');
    const lines = [
      `language server on ${result.configs} generated configs (${result.indexed} indexed as configs), ${S} samples each`,
      `load average ${load0.map((x) => x.toFixed(2)).join(' ')} -> ${load1.map((x) => x.toFixed(2)).join(' ')} on ${result.cpus} CPUs`,
      `index:                  ${idx.ms} ms (server), ${Math.round(indexWall)} ms from initialize to indexed     target < ${TARGETS.indexMs} ms: ${ok(idx.ms, TARGETS.indexMs)}`,
      `first diagnostics:      p50 ${f1(result.first_diagnostics_ms.p50)} ms  p95 ${f1(result.first_diagnostics_ms.p95)} ms (open, cold)`,
      `completion:             p50 ${f1(result.completion_ms.p50)} ms  p95 ${f1(result.completion_ms.p95)} ms     target p95 < ${TARGETS.completionP95} ms: ${ok(result.completion_ms.p95, TARGETS.completionP95)}`,
      `hover:                  p50 ${f1(result.hover_ms.p50)} ms  p95 ${f1(result.hover_ms.p95)} ms`,
      `edit -> diagnostics:    p50 ${f1(result.edit_to_diagnostics_ms.p50)} ms  p95 ${f1(result.edit_to_diagnostics_ms.p95)} ms (30 ms debounce included)     target < ${TARGETS.diagnosticsP95} ms: ${ok(result.edit_to_diagnostics_ms.p95, TARGETS.diagnosticsP95)}`,
      `server CPU per sample: completion ${f1(cpu.completion)} ms (edit, completion, revert with diagnostics), hover ${f1(cpu.hover)} ms, edit -> diagnostics ${f1(cpu.diagnostics)} ms (10 ms clock ticks)`,
      `service CPU per call (in process, no protocol): completion ${inProcess.completion.toFixed(2)} ms (after an edit), hover ${inProcess.hover.toFixed(2)} ms, edit -> diagnostics ${inProcess.diagnostics.toFixed(2)} ms`,
      `memory:                 RSS ${result.rss_mb} MB, peak ${result.peak_rss_mb} MB     target < ${TARGETS.rssMb} MB: ${ok(result.peak_rss_mb, TARGETS.rssMb)}`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await client.stop();
    if (opts.keep) process.stderr.write(`workspace kept in ${root}\n`);
    else fs.rmSync(root, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main(parseArgs(process.argv.slice(2))).catch((err) => {
    console.error(`bench-lsp: ${(err as Error).stack ?? String(err)}`);
    process.exitCode = 1;
  });
}
