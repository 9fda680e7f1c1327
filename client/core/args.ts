/**
 * Command lines of the `mmcls` CLI that the extension runs as child processes, and where runs
 * write. No vscode import (unit-tested).
 */
import * as path from 'path';

export interface RunSettings {
  /** `mmcls.device`: auto, wasm or cpu (auto passes nothing: the config's env_cfg.device or auto). */
  device: string;
  /** `mmcls.workDirRoot`: relative to the workspace folder, or absolute. */
  workDirRoot: string;
  /** `mmcls.train.extraArgs`. */
  extraTrainArgs: string[];
}

export const DEFAULT_SETTINGS: RunSettings = { device: 'auto', workDirRoot: 'work_dirs', extraTrainArgs: [] };

/** `resnet18_8xb32_in1k` for `.../resnet18_8xb32_in1k.py` (MMClassification names work dirs so). */
export function configStem(config: string): string {
  return path.basename(config).replace(/\.py$/i, '');
}

/**
 * `<folder>/<workDirRoot>/<config name>`: the work dir `tools/train.py` picks by default, rooted at the
 * workspace folder (or at the config's folder outside any workspace).
 */
export function workDirFor(config: string, workspaceFolder: string | undefined, workDirRoot: string): string {
  const base = workspaceFolder ?? path.dirname(config);
  const root = workDirRoot.trim() || 'work_dirs';
  return path.resolve(base, root, configStem(config));
}

function deviceArgs(device: string): string[] {
  const d = device.trim();
  return d && d !== 'auto' ? ['--device', d] : [];
}

export function trainArgs(config: string, workDir: string, s: RunSettings, opts: { resume?: string | true } = {}): string[] {
  const a = ['train', config, '--work-dir', workDir, '--progress', 'json', ...deviceArgs(s.device)];
  if (opts.resume === true) a.push('--resume');
  else if (typeof opts.resume === 'string') a.push('--resume', opts.resume);
  return [...a, ...s.extraTrainArgs];
}

export function testArgs(config: string, checkpoint: string, workDir: string, s: RunSettings): string[] {
  return ['test', config, checkpoint, '--work-dir', workDir, '--progress', 'json', ...deviceArgs(s.device)];
}

export function flopsArgs(config: string, format: 'json' | 'table' = 'json', shape?: number[]): string[] {
  const a = ['flops', config, '--format', format];
  if (shape && shape.length) a.push('--shape', ...shape.map(String));
  return a;
}

export function browseDatasetArgs(config: string, outDir: string, opts: { phase?: string; count?: number; mode?: string } = {}): string[] {
  return ['browse-dataset', config, '--output-dir', outDir, '--phase', opts.phase ?? 'train', '--show-number', String(opts.count ?? 24), '--mode', opts.mode ?? 'concat'];
}

export function classifyArgs(config: string, checkpoint: string, image: string, topk: number, s: RunSettings): string[] {
  return ['classify', config, checkpoint, image, '--topk', String(topk), '--format', 'json', ...deviceArgs(s.device)];
}

export interface Invocation {
  command: string;
  args: string[];
  env: Record<string, string>;
}

/**
 * How to start the CLI: `node <cli.js> ...args`. Without a configured Node.js, the editor's own
 * executable runs it as plain Node (`ELECTRON_RUN_AS_NODE=1`; harmless when it already is Node, as
 * in a remote or web extension host).
 */
export function cliInvocation(args: string[], o: { nodePath?: string; execPath: string; cliScript: string; extraEnv?: Record<string, string> }): Invocation {
  const env: Record<string, string> = { ...(o.extraEnv ?? {}) };
  const node = o.nodePath && o.nodePath.trim() ? o.nodePath.trim() : o.execPath;
  if (!(o.nodePath && o.nodePath.trim())) env.ELECTRON_RUN_AS_NODE = '1';
  return { command: node, args: [o.cliScript, ...args], env };
}

/** `a b 'c d'` for the output channel (a readable command line, not for a shell). */
export function formatCommandLine(command: string, args: string[]): string {
  return [command, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}
