/**
 * Tracking several train/test runs at once: what each one reported last and how it ended. Fed with
 * the parsed progress events and the child process's exit; no vscode import (unit-tested).
 */
import * as path from 'path';
import { ProgressEvent, describeIter, formatEta, formatMetrics, percentDone } from './progress';

export type JobKind = 'train' | 'test';
export type JobState = 'running' | 'stopping' | 'succeeded' | 'failed' | 'stopped';

export interface Job {
  readonly id: number;
  readonly kind: JobKind;
  /** Absolute path of the config file. */
  readonly config: string;
  /** The run folder (from the command line, then from the `start` event). */
  workDir: string;
  state: JobState;
  readonly startedAt: number;
  endedAt?: number;
  epoch?: number;
  iter?: number;
  maxIters?: number;
  loss?: number;
  lr?: number;
  etaS?: number;
  backend?: string;
  /** Metrics of the last validation. */
  valMetrics?: Record<string, unknown>;
  /** Final metrics (`done` / `test`). */
  metrics?: Record<string, unknown>;
  /** Newest checkpoint written (or the best / final one `done` names). */
  checkpoint?: string;
  error?: { message: string; code?: string; file?: string; line?: number; column?: number };
  exitCode?: number | null;
  signal?: string | null;
  /** Command that resumes an interrupted run. */
  resumeCommand?: string;
}

export type JobListener = (job: Job) => void;

export class JobTracker {
  private nextId = 1;
  private readonly jobs = new Map<number, Job>();
  private readonly listeners: JobListener[] = [];

  constructor(private readonly now: () => number = Date.now) {}

  onChange(listener: JobListener): { dispose(): void } {
    this.listeners.push(listener);
    return { dispose: () => void this.listeners.splice(this.listeners.indexOf(listener) >>> 0, 1) };
  }

  private changed(job: Job): Job {
    for (const l of [...this.listeners]) l(job);
    return job;
  }

  start(kind: JobKind, config: string, workDir: string): Job {
    const job: Job = { id: this.nextId++, kind, config, workDir, state: 'running', startedAt: this.now() };
    this.jobs.set(job.id, job);
    return this.changed(job);
  }

  get(id: number): Job | undefined {
    return this.jobs.get(id);
  }

  all(): Job[] {
    return [...this.jobs.values()];
  }

  /** Runs not finished yet (running or stopping), oldest first. */
  active(): Job[] {
    return this.all().filter((j) => j.state === 'running' || j.state === 'stopping');
  }

  /** Runs of one config that have not finished. */
  activeFor(config: string): Job[] {
    const c = path.resolve(config);
    return this.active().filter((j) => path.resolve(j.config) === c);
  }

  apply(id: number, e: ProgressEvent): Job | undefined {
    const job = this.jobs.get(id);
    if (!job) return undefined;
    switch (e.event) {
      case 'start':
        job.workDir = e.work_dir || job.workDir;
        job.maxIters = e.max_iters;
        job.backend = e.backend;
        break;
      case 'iter':
        job.epoch = e.epoch;
        job.iter = e.iter;
        job.maxIters = e.max_iters;
        job.loss = e.loss;
        job.lr = e.lr;
        job.etaS = e.eta_s;
        break;
      case 'val':
        job.valMetrics = e.metrics;
        break;
      case 'test':
        job.metrics = e.metrics;
        if (e.checkpoint) job.checkpoint = e.checkpoint;
        break;
      case 'checkpoint':
        job.checkpoint = e.path;
        break;
      case 'interrupted':
        if (e.checkpoint) job.checkpoint = e.checkpoint;
        job.resumeCommand = e.resume_command;
        job.state = 'stopping';
        break;
      case 'done':
        job.metrics = e.metrics;
        if (e.work_dir) job.workDir = e.work_dir;
        if (e.checkpoint) job.checkpoint = e.checkpoint;
        break;
      case 'error':
        job.error = { message: e.message, code: e.code, file: e.file, line: e.line, column: e.column };
        break;
    }
    return this.changed(job);
  }

  /** The user asked to stop the run (the process gets SIGINT: it saves a checkpoint and exits). */
  requestStop(id: number): Job | undefined {
    const job = this.jobs.get(id);
    if (!job || (job.state !== 'running' && job.state !== 'stopping')) return undefined;
    job.state = 'stopping';
    return this.changed(job);
  }

  /** The process ended: exit 0 succeeded; a stop asked for (or exit 130/143, a signal) stopped; else failed. */
  exited(id: number, code: number | null, signal: string | null): Job | undefined {
    const job = this.jobs.get(id);
    if (!job) return undefined;
    job.exitCode = code;
    job.signal = signal;
    job.endedAt = this.now();
    if (code === 0 && !job.error) job.state = 'succeeded';
    else if (job.state === 'stopping' || code === 130 || code === 143 || signal === 'SIGINT' || signal === 'SIGTERM') job.state = 'stopped';
    else job.state = 'failed';
    return this.changed(job);
  }

  /** Forgets finished runs (keeps the newest `keep`). */
  prune(keep = 20): void {
    const done = this.all().filter((j) => j.state !== 'running' && j.state !== 'stopping');
    for (const j of done.slice(0, Math.max(0, done.length - keep))) this.jobs.delete(j.id);
  }
}

/** Short label of a run: `train lenet5_mini`. */
export function jobLabel(job: Job): string {
  return `${job.kind} ${path.basename(job.config).replace(/\.py$/, '')}`;
}

/** One line describing where a run is: for the progress notification and the run picker. */
export function jobSummary(job: Job): string {
  switch (job.state) {
    case 'running':
    case 'stopping': {
      const head = job.state === 'stopping' ? 'stopping (saving a checkpoint)… ' : '';
      if (job.iter !== undefined && job.maxIters !== undefined && job.loss !== undefined) {
        return head + describeIter({ epoch: job.epoch ?? 0, iter: job.iter, max_iters: job.maxIters, loss: job.loss, lr: job.lr ?? NaN, eta_s: job.etaS ?? NaN });
      }
      return head || 'starting…';
    }
    case 'succeeded': {
      const m = formatMetrics(job.metrics ?? job.valMetrics);
      return m ? `finished: ${m}` : 'finished';
    }
    case 'stopped':
      return job.checkpoint ? `stopped; checkpoint ${path.basename(job.checkpoint)}` : 'stopped';
    case 'failed':
      return `failed${job.error ? `: ${job.error.message}` : job.exitCode !== undefined ? ` (exit ${job.exitCode ?? job.signal})` : ''}`;
  }
}

/** Status-bar text for the running jobs, or undefined when none runs. */
export function statusBarText(active: Job[]): string | undefined {
  if (active.length === 0) return undefined;
  if (active.length === 1) {
    const j = active[0];
    const pct = j.iter !== undefined && j.maxIters ? ` ${Math.floor(percentDone(j.iter, j.maxIters))}%` : '';
    const eta = j.etaS !== undefined && Number.isFinite(j.etaS) ? ` ETA ${formatEta(j.etaS)}` : '';
    return `$(sync~spin) ${jobLabel(j)}${pct}${eta}`;
  }
  return `$(sync~spin) ${active.length} mmcls runs`;
}
