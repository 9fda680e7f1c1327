/**
 * The VS Code extension: starts the config language server, and runs training, testing, FLOPs,
 * dataset browsing, schedule plotting and inference as child processes of the bundled `mmcls`
 * CLI, showing their progress and results.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { LanguageClient, LanguageClientOptions, ServerOptions, TransportKind } from 'vscode-languageclient/node';
import { FlopsTableArgs, SHOW_FLOPS_TABLE_COMMAND, ServerSettings } from '../server/protocol';
import { RunSettings, cliInvocation, configStem, flopsArgs, testArgs, trainArgs, workDirFor } from './core/args';
import { listCheckpoints } from './core/checkpoints';
import { Job, JobTracker, jobLabel, jobSummary, statusBarText } from './core/jobs';
import { describeIter, formatMetrics, percentDone } from './core/progress';
import { MergedConfigFeature } from './merged';
import { RunHandle, runCommand, startRun } from './runner';
import { TextDocs } from './textdocs';
import { Webviews } from './webviews';

let client: LanguageClient | undefined;

export interface Ext {
  context: vscode.ExtensionContext;
  log: vscode.OutputChannel;
  tracker: JobTracker;
  runs: Map<number, RunHandle>;
  /** `node <cli.js> ...args` with the user's settings. */
  cli(args: string[]): { command: string; args: string[]; env: Record<string, string> };
  /** `node <tasks.js> ...args` (client/tasks.ts). */
  worker(args: string[]): { command: string; args: string[]; env: Record<string, string> };
  settings(): RunSettings;
  cwdFor(file: string): string;
  workDirOf(config: string): string;
  textDocs: TextDocs;
  webviews?: Webviews;
}

function cfg(): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration('mmcls');
}

/** A config path from a command's argument (explorer / editor title pass a Uri) or the active editor. */
export function configFromArg(arg: unknown): string | undefined {
  if (arg instanceof vscode.Uri && arg.scheme === 'file') return arg.fsPath;
  const ed = vscode.window.activeTextEditor;
  if (ed && ed.document.uri.scheme === 'file' && ed.document.languageId === 'python') return ed.document.uri.fsPath;
  return undefined;
}

function looksLikeConfig(doc: vscode.TextDocument): boolean {
  if (doc.uri.scheme !== 'file' || doc.languageId !== 'python') return false;
  if (/[\\/]configs[\\/]/.test(doc.uri.fsPath)) return true;
  return /^_base_\s*=/m.test(doc.getText(new vscode.Range(0, 0, Math.min(doc.lineCount, 400), 0)));
}

async function saveIfDirty(file: string): Promise<void> {
  const doc = vscode.workspace.textDocuments.find((d) => d.uri.scheme === 'file' && d.uri.fsPath === file);
  if (doc?.isDirty) await doc.save();
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const log = vscode.window.createOutputChannel('MMClassification');
  const tracker = new JobTracker();
  const bundled = (name: string) => context.asAbsolutePath(path.join('out', name));
  const execPath = process.execPath;
  const envFor = (): Record<string, string> => {
    const env: Record<string, string> = {};
    const schema = bundled('schema.json');
    if (fs.existsSync(schema)) env.MMCLS_REGISTRY_SCHEMA = schema;
    return env;
  };
  const ext: Ext = {
    context,
    log,
    tracker,
    runs: new Map(),
    textDocs: new TextDocs(),
    cli: (args) => {
      const custom = (cfg().get<string>('cliPath') ?? '').trim();
      return cliInvocation(args, { nodePath: cfg().get<string>('nodePath'), execPath, cliScript: custom || bundled('mmcls.js'), extraEnv: envFor() });
    },
    worker: (args) => cliInvocation(args, { nodePath: cfg().get<string>('nodePath'), execPath, cliScript: bundled('tasks.js'), extraEnv: envFor() }),
    settings: () => ({
      device: cfg().get<string>('device') ?? 'auto',
      workDirRoot: cfg().get<string>('workDirRoot') ?? 'work_dirs',
      extraTrainArgs: cfg().get<string[]>('train.extraArgs') ?? [],
    }),
    cwdFor: (file) => vscode.workspace.getWorkspaceFolder(vscode.Uri.file(file))?.uri.fsPath ?? path.dirname(file),
    workDirOf: (config) => workDirFor(config, vscode.workspace.getWorkspaceFolder(vscode.Uri.file(config))?.uri.fsPath, ext.settings().workDirRoot),
  };
  context.subscriptions.push(log, vscode.workspace.registerTextDocumentContentProvider(TextDocs.scheme, ext.textDocs));

  // ------------------------------------------------------------------ status bar and context keys
  const status = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 10);
  status.command = 'mmcls.showRuns';
  context.subscriptions.push(status);
  const refreshStatus = () => {
    const active = tracker.active();
    const text = statusBarText(active);
    void vscode.commands.executeCommand('setContext', 'mmcls.runningJobs', active.length > 0);
    if (!text) return status.hide();
    status.text = text;
    status.tooltip = active.map((j) => `${jobLabel(j)}: ${jobSummary(j)}`).join('\n') + '\nClick to show or stop runs.';
    status.show();
  };
  context.subscriptions.push(tracker.onChange(refreshStatus));
  const updateIsConfig = () => {
    const doc = vscode.window.activeTextEditor?.document;
    void vscode.commands.executeCommand('setContext', 'mmcls.isConfig', !!doc && looksLikeConfig(doc));
  };
  context.subscriptions.push(vscode.window.onDidChangeActiveTextEditor(updateIsConfig), vscode.workspace.onDidSaveTextDocument(updateIsConfig));
  updateIsConfig();

  // ------------------------------------------------------------------ language server
  if (cfg().get<boolean>('languageServer.enable', true)) {
    const module = bundled('server.js');
    const serverOptions: ServerOptions = {
      run: { module, transport: TransportKind.ipc, options: { env: { ...process.env, ...envFor() } } },
      debug: { module, transport: TransportKind.ipc, options: { env: { ...process.env, ...envFor() }, execArgv: ['--nolazy', '--inspect=6019'] } },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: 'file', language: 'python' }],
      synchronize: { configurationSection: 'mmcls' },
      // The server reads the same settings again on didChangeConfiguration (the whole `mmcls` section).
      initializationOptions: { configGlobs: cfg().get<string[]>('configGlobs') ?? [], semanticHighlighting: { enable: cfg().get<boolean>('semanticHighlighting.enable', true) } } satisfies ServerSettings,
      outputChannel: log,
    };
    client = new LanguageClient('mmcls', 'MMClassification config server', serverOptions, clientOptions);
    try {
      await client.start();
    } catch (e) {
      log.appendLine(`The config language server did not start: ${(e as Error).message}`);
    }
  }
  const merged = new MergedConfigFeature(() => client, ext);
  context.subscriptions.push(merged);

  // ------------------------------------------------------------------ commands
  const reg = (id: string, f: (...a: unknown[]) => unknown) => context.subscriptions.push(vscode.commands.registerCommand(id, f));
  reg('mmcls.train', (a) => trainCommand(ext, configFromArg(a)));
  reg('mmcls.test', (a) => testCommand(ext, configFromArg(a)));
  reg('mmcls.stopRun', () => pickRun(ext, true));
  reg('mmcls.showRuns', () => pickRun(ext, false));
  reg('mmcls.showMergedConfig', (a) => merged.show(configFromArg(a)));
  reg('mmcls.showFlops', (a) => flopsCommand(ext, configFromArg(a)));
  reg(SHOW_FLOPS_TABLE_COMMAND, (a) => {
    const t = a as FlopsTableArgs | undefined;
    if (t?.table) return ext.textDocs.show(`${t.title || 'FLOPs'}`, t.table);
  });
  const webviews = new Webviews(ext);
  ext.webviews = webviews;
  context.subscriptions.push(webviews);
  reg('mmcls.plotCurves', (a) => webviews.plotCurves(a));
  reg('mmcls.visualizeLr', (a) => webviews.lrSchedule(configFromArg(a)));
  reg('mmcls.browseDataset', (a) => webviews.browseDataset(configFromArg(a)));
  reg('mmcls.classifyImage', (a) => webviews.classify(a instanceof vscode.Uri ? a : undefined));
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}

// -------------------------------------------------------------------------------- train / test

function needConfig(config: string | undefined): config is string {
  if (!config) void vscode.window.showWarningMessage('Open a config file (a Python file under configs/ or one that assigns _base_) first.');
  return !!config;
}

async function finishMessage(ext: Ext, job: Job): Promise<void> {
  const name = jobLabel(job);
  const actions: string[] = [];
  const wdExists = fs.existsSync(job.workDir);
  if (wdExists) actions.push('Open work directory');
  if (job.kind === 'train' && wdExists) actions.push('Plot curves');
  if (job.state === 'succeeded') {
    const m = formatMetrics(job.metrics ?? job.valMetrics);
    const pick = await vscode.window.showInformationMessage(`mmcls: ${name} finished${m ? `: ${m}` : ''}`, ...actions);
    return handleAction(ext, job, pick);
  }
  if (job.state === 'stopped') {
    const pick = await vscode.window.showInformationMessage(`mmcls: ${name} stopped${job.checkpoint ? `; checkpoint ${path.basename(job.checkpoint)} saved` : ''}.`, ...(job.kind === 'train' ? ['Resume'] : []), ...actions);
    return handleAction(ext, job, pick);
  }
  const err = job.error;
  const more = err?.file ? ['Go to error'] : [];
  const pick = await vscode.window.showErrorMessage(`mmcls: ${name} failed: ${err?.message ?? `exit code ${job.exitCode ?? job.signal}`}`, 'Show log', ...more);
  if (pick === 'Show log') ext.log.show(true);
  if (pick === 'Go to error' && err?.file) {
    const pos = new vscode.Position(Math.max(0, (err.line ?? 1) - 1), Math.max(0, (err.column ?? 1) - 1));
    await vscode.window.showTextDocument(vscode.Uri.file(err.file), { selection: new vscode.Range(pos, pos) });
  }
}

async function handleAction(ext: Ext, job: Job, pick: string | undefined): Promise<void> {
  if (pick === 'Open work directory') {
    const uri = vscode.Uri.file(job.workDir);
    if (vscode.workspace.getWorkspaceFolder(uri)) await vscode.commands.executeCommand('revealInExplorer', uri);
    else await vscode.commands.executeCommand('revealFileInOS', uri);
  } else if (pick === 'Plot curves') await ext.webviews?.plotCurves(vscode.Uri.file(job.workDir));
  else if (pick === 'Resume') await trainCommand(ext, job.config, true);
}

export async function trainCommand(ext: Ext, config: string | undefined, resume = false): Promise<Job | undefined> {
  if (!needConfig(config)) return undefined;
  await saveIfDirty(config);
  const running = ext.tracker.activeFor(config).filter((j) => j.kind === 'train');
  if (running.length) {
    const pick = await vscode.window.showWarningMessage(`${path.basename(config)} is already training (run ${running[0].id}). Start another run into the same work directory?`, 'Start another', 'Cancel');
    if (pick !== 'Start another') return undefined;
  }
  const workDir = ext.workDirOf(config);
  const inv = ext.cli(trainArgs(config, workDir, ext.settings(), resume ? { resume: true } : {}));
  const handle = startRun(ext.tracker, 'train', config, workDir, inv, ext.cwdFor(config), ext.log);
  ext.runs.set(handle.id, handle);
  if (vscode.workspace.getConfiguration('mmcls').get<boolean>('train.openCurves')) void ext.webviews?.plotCurves(vscode.Uri.file(workDir));
  void progressNotification(ext, handle, `Training ${configStem(config)}`);
  await handle.done;
  ext.runs.delete(handle.id);
  const job = ext.tracker.get(handle.id);
  if (job) void finishMessage(ext, job);
  return job;
}

function progressNotification(ext: Ext, handle: RunHandle, title: string): Thenable<void> {
  return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, (progress, token) => {
    token.onCancellationRequested(() => {
      handle.stop();
      ext.log.appendLine(`[${handle.id}] stop requested: the run saves a checkpoint and exits`);
    });
    let shown = 0;
    const update = (job: Job) => {
      if (job.id !== handle.id) return;
      if (job.state === 'stopping') return progress.report({ message: 'stopping: saving a checkpoint…' });
      if (job.iter !== undefined && job.maxIters) {
        const pct = percentDone(job.iter, job.maxIters);
        progress.report({ message: describeIter({ epoch: job.epoch ?? 0, iter: job.iter, max_iters: job.maxIters, loss: job.loss ?? NaN, lr: job.lr ?? NaN, eta_s: job.etaS ?? NaN }), increment: Math.max(0, pct - shown) });
        shown = Math.max(shown, pct);
      } else progress.report({ message: 'starting…' });
    };
    const sub = ext.tracker.onChange(update);
    progress.report({ message: 'starting…' });
    return handle.done.then(() => sub.dispose());
  });
}

export async function testCommand(ext: Ext, config: string | undefined, checkpoint?: string): Promise<Job | undefined> {
  if (!needConfig(config)) return undefined;
  await saveIfDirty(config);
  const workDir = ext.workDirOf(config);
  if (!checkpoint) {
    const items: (vscode.QuickPickItem & { file?: string })[] = listCheckpoints(workDir).map((c) => ({
      label: path.basename(c.file),
      description: c.kind === 'latest' ? 'latest' : c.kind === 'best' ? 'best' : '',
      detail: new Date(c.mtimeMs).toLocaleString(),
      file: c.file,
    }));
    items.push({ label: '$(folder-opened) Browse…', alwaysShow: true });
    const pick = await vscode.window.showQuickPick(items, { title: `Checkpoint to test ${path.basename(config)} with`, placeHolder: items.length > 1 ? workDir : `No checkpoints in ${workDir}: browse for one` });
    if (!pick) return undefined;
    checkpoint = pick.file;
    if (!checkpoint) {
      const chosen = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { Checkpoints: ['safetensors', 'pth'] }, defaultUri: vscode.Uri.file(fs.existsSync(workDir) ? workDir : ext.cwdFor(config)) });
      if (!chosen?.length) return undefined;
      checkpoint = chosen[0].fsPath;
    }
  }
  const handle = startRun(ext.tracker, 'test', config, workDir, ext.cli(testArgs(config, checkpoint, workDir, ext.settings())), ext.cwdFor(config), ext.log);
  ext.runs.set(handle.id, handle);
  void progressNotification(ext, handle, `Testing ${configStem(config)} with ${path.basename(checkpoint)}`);
  await handle.done;
  ext.runs.delete(handle.id);
  const job = ext.tracker.get(handle.id);
  if (job) {
    if (job.metrics) ext.log.appendLine(`[${job.id}] test metrics of ${path.basename(checkpoint)}: ${formatMetrics(job.metrics)}`);
    void finishMessage(ext, job);
  }
  return job;
}

async function pickRun(ext: Ext, stopOnly: boolean): Promise<void> {
  const jobs = stopOnly ? ext.tracker.active() : ext.tracker.all().reverse();
  if (!jobs.length) {
    void vscode.window.showInformationMessage(stopOnly ? 'No mmcls run is running.' : 'No mmcls runs yet.');
    return;
  }
  const pick = await vscode.window.showQuickPick(
    jobs.map((j) => ({ label: `${j.id}: ${jobLabel(j)}`, description: j.state, detail: jobSummary(j), job: j })),
    { title: stopOnly ? 'Stop which run? (it saves a checkpoint first)' : 'mmcls runs' },
  );
  if (!pick) return;
  const j = pick.job;
  if (j.state === 'running' || j.state === 'stopping') {
    const act = stopOnly ? 'Stop' : await vscode.window.showQuickPick(['Stop', 'Show log', 'Open work directory'], { title: jobLabel(j) });
    if (act === 'Stop') ext.runs.get(j.id)?.stop();
    else if (act === 'Show log') ext.log.show(true);
    else if (act) await handleAction(ext, j, act);
  } else await finishMessage(ext, j);
}

// -------------------------------------------------------------------------------- FLOPs

async function flopsCommand(ext: Ext, config: string | undefined): Promise<void> {
  if (!needConfig(config)) return;
  await saveIfDirty(config);
  const args = flopsArgs(config, 'table');
  const res = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `FLOPs of ${configStem(config)}`, cancellable: true }, (_p, token) =>
    runCommand(ext.cli(args), ext.cwdFor(config), token),
  );
  if (res.code !== 0) {
    ext.log.appendLine(res.stderr);
    void vscode.window.showErrorMessage(`mmcls flops failed: ${res.stderr.trim().split('\n').slice(-1)[0] ?? `exit ${res.code}`}`, 'Show log').then((p) => p && ext.log.show(true));
    return;
  }
  await ext.textDocs.show(`FLOPs of ${configStem(config)}`, res.stdout);
}
