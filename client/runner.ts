/**
 * Child processes of the `mmcls` CLI: train/test runs (tracked, with progress and a clean stop)
 * and one-shot commands whose output the extension shows. Heavy work never runs in the extension
 * host.
 */
import { ChildProcess, spawn } from 'child_process';
import { Invocation, formatCommandLine } from './core/args';
import { JobKind, JobTracker } from './core/jobs';
import { LineSplitter, ProgressEvent, parseProgressLine } from './core/progress';

export interface Log {
  appendLine(s: string): void;
}

export interface RunHandle {
  id: number;
  child: ChildProcess;
  /** Resolves when the process ended (after the last event was applied). */
  done: Promise<{ code: number | null; signal: string | null }>;
  /** SIGINT: the runtime saves a checkpoint and exits (a second call sends SIGTERM). */
  stop(): void;
}

/** Starts a tracked train/test run; progress events update `tracker`, other output goes to `log`. */
export function startRun(tracker: JobTracker, kind: JobKind, config: string, workDir: string, inv: Invocation, cwd: string, log: Log, onEvent?: (e: ProgressEvent) => void): RunHandle {
  const job = tracker.start(kind, config, workDir);
  log.appendLine(`[${job.id}] $ ${formatCommandLine(inv.command, inv.args)}`);
  const child = spawn(inv.command, inv.args, { cwd, env: { ...process.env, ...inv.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = new LineSplitter();
  const err = new LineSplitter();
  const onOut = (lines: string[]) => {
    for (const l of lines) {
      const e = parseProgressLine(l);
      if (e) {
        tracker.apply(job.id, e);
        onEvent?.(e);
        if (e.event === 'error') log.appendLine(`[${job.id}] error: ${e.message}`);
      } else if (l.trim()) log.appendLine(`[${job.id}] ${l}`);
    }
  };
  const onErr = (lines: string[]) => {
    for (const l of lines) log.appendLine(`[${job.id}] ${l}`);
  };
  child.stdout?.on('data', (d: Buffer) => onOut(out.push(d)));
  child.stderr?.on('data', (d: Buffer) => onErr(err.push(d)));
  let stops = 0;
  const done = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    child.on('error', (e) => {
      log.appendLine(`[${job.id}] could not start: ${e.message}`);
      tracker.apply(job.id, { event: 'error', message: `could not start ${inv.command}: ${e.message}` });
    });
    child.on('close', (code, signal) => {
      onOut(out.flush());
      onErr(err.flush());
      log.appendLine(`[${job.id}] exited with ${code ?? signal}`);
      tracker.exited(job.id, code, signal);
      resolve({ code, signal });
    });
  });
  return {
    id: job.id,
    child,
    done,
    stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      tracker.requestStop(job.id);
      child.kill(stops++ === 0 ? 'SIGINT' : 'SIGTERM');
    },
  };
}

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a one-shot CLI command to completion; `cancel` kills it. */
export function runCommand(inv: Invocation, cwd: string, cancel?: { onCancellationRequested(f: () => void): unknown }): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = spawn(inv.command, inv.args, { cwd, env: { ...process.env, ...inv.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    cancel?.onCancellationRequested(() => child.kill('SIGTERM'));
    child.on('error', (e) => resolve({ code: -1, stdout, stderr: stderr + e.message }));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
