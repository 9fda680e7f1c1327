/**
 * The extension's webviews: training curves, LR schedule, dataset gallery, image classification.
 * Each has a content security policy (own scripts only), uses the theme's colours, loads nothing
 * remote (uPlot ships inside the extension), and keeps its state (`setState`) so that a reload
 * restores it through a WebviewPanelSerializer.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { browseDatasetArgs, classifyArgs, configStem } from './core/args';
import { listCheckpoints, listScalarFiles } from './core/checkpoints';
import { webviewHtml } from './core/html';
import { parseScalars, RunScalars } from './core/scalars';
import type { Ext } from './extension';
import { runCommand } from './runner';

export const VIEW_TYPES = { curves: 'mmcls.curves', lr: 'mmcls.lrSchedule', dataset: 'mmcls.dataset', classify: 'mmcls.classify' } as const;

export interface CurvesState { workDirs: string[] }
export interface LrState { config: string }
export interface DatasetState { config: string; phase: string; mode: string }
export interface ClassifyState { image: string; config?: string; checkpoint?: string; result?: unknown }

type Msg = { type: string; [k: string]: unknown };

export class Webviews implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly ext: Ext) {
    const ser = (type: string, revive: (p: vscode.WebviewPanel, s: never) => void) =>
      vscode.window.registerWebviewPanelSerializer(type, {
        deserializeWebviewPanel: async (panel, state: unknown) => {
          if (state && typeof state === 'object') revive(panel, state as never);
          else panel.dispose();
        },
      });
    this.disposables.push(
      ser(VIEW_TYPES.curves, (p, s: CurvesState) => this.setupCurves(p, s)),
      ser(VIEW_TYPES.lr, (p, s: LrState) => this.setupLr(p, s)),
      ser(VIEW_TYPES.dataset, (p, s: DatasetState) => this.setupDataset(p, s)),
      ser(VIEW_TYPES.classify, (p, s: ClassifyState) => this.setupClassify(p, s)),
    );
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }

  private media(): vscode.Uri {
    return vscode.Uri.joinPath(this.ext.context.extensionUri, 'out', 'media');
  }

  private create(type: string, title: string, extraRoots: vscode.Uri[] = []): vscode.WebviewPanel {
    return vscode.window.createWebviewPanel(type, title, { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, this.options(extraRoots));
  }

  private options(extraRoots: vscode.Uri[]): vscode.WebviewOptions & vscode.WebviewPanelOptions {
    return { enableScripts: true, retainContextWhenHidden: false, localResourceRoots: [this.media(), ...extraRoots] };
  }

  private html(panel: vscode.WebviewPanel, title: string, script: string, body: string, chart = false): void {
    const w = panel.webview;
    const m = (f: string) => w.asWebviewUri(vscode.Uri.joinPath(this.media(), f)).toString();
    w.html = webviewHtml({
      cspSource: w.cspSource,
      title,
      styles: [...(chart ? [m('uPlot.min.css')] : []), m('common.css')],
      scripts: [...(chart ? [m('uPlot.iife.min.js')] : []), m('common.js'), m(script)],
      body,
    });
  }

  // ------------------------------------------------------------------ training curves

  async plotCurves(arg: unknown): Promise<void> {
    let workDirs: string[] = [];
    if (arg instanceof vscode.Uri && arg.scheme === 'file') {
      const p = arg.fsPath;
      if (p.endsWith('.py')) workDirs = [this.ext.workDirOf(p)];
      else if (path.basename(p) === 'scalars.json') workDirs = [path.dirname(path.dirname(path.dirname(p)))];
      else workDirs = [p];
    } else {
      const ed = vscode.window.activeTextEditor?.document;
      if (ed?.uri.scheme === 'file' && ed.languageId === 'python') workDirs = [this.ext.workDirOf(ed.uri.fsPath)];
      else {
        const picked = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, canSelectMany: true, title: 'Work directories to plot' });
        if (!picked?.length) return;
        workDirs = picked.map((u) => u.fsPath);
      }
    }
    const panel = this.create(VIEW_TYPES.curves, `Curves: ${workDirs.map((w) => path.basename(w)).join(', ')}`);
    this.setupCurves(panel, { workDirs });
  }

  private setupCurves(panel: vscode.WebviewPanel, state: CurvesState): void {
    panel.webview.options = this.options([]);
    this.html(panel, 'Training curves', 'curves.js', '<header><h2>Training curves</h2><span id="runs"></span><button id="add">Add run…</button></header><div id="msg"></div><div id="charts"></div>', true);
    let stamp = '';
    const send = (force: boolean) => {
      const runs: RunScalars[] = [];
      const stamps: string[] = [];
      for (const wd of state.workDirs) {
        const files = listScalarFiles(wd);
        if (!files.length) continue;
        const f = files[0];
        try {
          const st = fs.statSync(f);
          stamps.push(`${f}:${st.mtimeMs}:${st.size}`);
          runs.push(parseScalars(fs.readFileSync(f, 'utf8'), `${path.basename(wd)} (${path.basename(path.dirname(path.dirname(f)))})`));
        } catch {
          // being written
        }
      }
      const s = stamps.join('|');
      if (!force && s === stamp) return;
      stamp = s;
      void panel.webview.postMessage({ type: 'data', state, runs, missing: state.workDirs.filter((w) => !listScalarFiles(w).length) });
    };
    // Live: re-read while training writes (cheap: a stat per run every 2 s, a read when it changed).
    const timer = setInterval(() => panel.visible && send(false), 2000);
    panel.onDidDispose(() => clearInterval(timer));
    panel.onDidChangeViewState(() => panel.visible && send(true));
    panel.webview.onDidReceiveMessage(async (m: Msg) => {
      if (m.type === 'ready') send(true);
      if (m.type === 'add') {
        const picked = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, canSelectMany: true, title: 'Work directories to add' });
        if (picked?.length) {
          state.workDirs = [...new Set([...state.workDirs, ...picked.map((u) => u.fsPath)])];
          panel.title = `Curves: ${state.workDirs.map((w) => path.basename(w)).join(', ')}`;
          send(true);
        }
      }
      if (m.type === 'remove' && typeof m.workDir === 'string') {
        state.workDirs = state.workDirs.filter((w) => w !== m.workDir);
        send(true);
      }
    });
  }

  // ------------------------------------------------------------------ LR schedule

  async lrSchedule(config: string | undefined): Promise<void> {
    if (!config) return void vscode.window.showWarningMessage('Open a config file first.');
    this.setupLr(this.create(VIEW_TYPES.lr, `LR schedule: ${configStem(config)}`), { config });
  }

  private setupLr(panel: vscode.WebviewPanel, state: LrState): void {
    panel.webview.options = this.options([]);
    this.html(panel, 'LR schedule', 'lr.js', `<header><h2>Learning rate and momentum</h2><span id="info"></span><button id="reload">Reload</button></header><div id="msg">Computing the schedule…</div><div id="charts"></div>`, true);
    const load = async () => {
      void panel.webview.postMessage({ type: 'busy', state });
      const res = await runCommand(this.ext.worker(['lr-schedule', state.config]), this.ext.cwdFor(state.config));
      let data: unknown;
      try {
        data = JSON.parse(res.stdout.trim().split('\n').pop() ?? '');
      } catch {
        data = { ok: false, message: res.stderr.trim() || `exit code ${res.code}` };
      }
      void panel.webview.postMessage({ type: 'data', state, data });
    };
    panel.webview.onDidReceiveMessage((m: Msg) => {
      if (m.type === 'ready' || m.type === 'reload') void load();
    });
  }

  // ------------------------------------------------------------------ dataset gallery

  async browseDataset(config: string | undefined): Promise<void> {
    if (!config) return void vscode.window.showWarningMessage('Open a config file first.');
    this.setupDataset(this.create(VIEW_TYPES.dataset, `Dataset: ${configStem(config)}`, [this.browseRoot()]), { config, phase: 'train', mode: 'concat' });
  }

  private browseRoot(): vscode.Uri {
    return vscode.Uri.joinPath(this.ext.context.globalStorageUri, 'browse-dataset');
  }

  private setupDataset(panel: vscode.WebviewPanel, state: DatasetState): void {
    panel.webview.options = this.options([this.browseRoot()]);
    this.html(panel, 'Browse dataset', 'gallery.js', `<header><h2>Dataset</h2>
<label>Phase <select id="phase"><option>train</option><option>val</option><option>test</option></select></label>
<label>Show <select id="mode"><option value="concat">original | transformed</option><option value="original">original</option><option value="transformed">transformed</option><option value="pipeline">every pipeline step</option></select></label>
<button id="reload">Reload</button></header><div id="msg"></div><div id="grid" class="grid"></div>`);
    const load = async () => {
      const out = path.join(this.browseRoot().fsPath, `${configStem(state.config)}-${state.phase}-${state.mode}`);
      fs.rmSync(out, { recursive: true, force: true });
      fs.mkdirSync(out, { recursive: true });
      void panel.webview.postMessage({ type: 'busy', state });
      const count = vscode.workspace.getConfiguration('mmcls').get<number>('browseDataset.count', 24);
      const res = await runCommand(this.ext.cli(browseDatasetArgs(state.config, out, { phase: state.phase, count, mode: state.mode })), this.ext.cwdFor(state.config));
      const files = fs.existsSync(out) ? fs.readdirSync(out).filter((f) => /\.(png|jpe?g)$/i.test(f)).sort((a, b) => a.localeCompare(b, undefined, { numeric: true })) : [];
      void panel.webview.postMessage({
        type: 'data',
        state,
        images: files.map((f) => ({ name: f, src: panel.webview.asWebviewUri(vscode.Uri.file(path.join(out, f))).toString() })),
        error: res.code === 0 ? undefined : res.stderr.trim().split('\n').slice(-3).join('\n') || `exit code ${res.code}`,
      });
    };
    panel.webview.onDidReceiveMessage((m: Msg) => {
      if (m.type === 'reload' || m.type === 'ready') {
        if (typeof m.phase === 'string') state.phase = m.phase;
        if (typeof m.mode === 'string') state.mode = m.mode;
        void load();
      }
    });
  }

  // ------------------------------------------------------------------ classify image

  async classify(image: vscode.Uri | undefined): Promise<void> {
    if (!image) {
      const picked = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { Images: ['png', 'jpg', 'jpeg', 'bmp', 'gif', 'webp', 'tif', 'tiff'] }, title: 'Image to classify' });
      if (!picked?.length) return;
      image = picked[0];
    }
    const configs = await vscode.workspace.findFiles('**/configs/**/*.py', '**/{node_modules,_base_}/**', 500);
    const active = vscode.window.activeTextEditor?.document;
    const items = configs.map((u) => ({ label: vscode.workspace.asRelativePath(u), uri: u, ckpts: listCheckpoints(this.ext.workDirOf(u.fsPath)).length }));
    items.sort((a, b) => b.ckpts - a.ckpts || a.label.localeCompare(b.label));
    if (active && active.languageId === 'python' && active.uri.scheme === 'file') items.unshift({ label: vscode.workspace.asRelativePath(active.uri), uri: active.uri, ckpts: listCheckpoints(this.ext.workDirOf(active.uri.fsPath)).length });
    const cfgPick = await vscode.window.showQuickPick(items.map((i) => ({ ...i, description: i.ckpts ? `${i.ckpts} checkpoint(s)` : '' })), { title: 'Config of the model', matchOnDescription: true });
    if (!cfgPick) return;
    const config = cfgPick.uri.fsPath;
    const ckpts = listCheckpoints(this.ext.workDirOf(config));
    const ckItems: (vscode.QuickPickItem & { file?: string })[] = ckpts.map((c) => ({ label: path.basename(c.file), description: c.kind === 'periodic' ? '' : c.kind, file: c.file }));
    ckItems.push({ label: '$(folder-opened) Browse…', alwaysShow: true });
    const ck = await vscode.window.showQuickPick(ckItems, { title: 'Checkpoint' });
    if (!ck) return;
    let checkpoint = ck.file;
    if (!checkpoint) {
      const chosen = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { Checkpoints: ['safetensors', 'pth'] } });
      if (!chosen?.length) return;
      checkpoint = chosen[0].fsPath;
    }
    const panel = this.create(VIEW_TYPES.classify, `Classify: ${path.basename(image.fsPath)}`, [vscode.Uri.file(path.dirname(image.fsPath))]);
    this.setupClassify(panel, { image: image.fsPath, config, checkpoint });
  }

  private setupClassify(panel: vscode.WebviewPanel, state: ClassifyState): void {
    panel.webview.options = this.options([vscode.Uri.file(path.dirname(state.image))]);
    this.html(panel, 'Classify image', 'classify.js', `<header><h2>Classify image</h2><button id="reload">Run again</button></header><div id="msg"></div><div class="classify"><img id="img" alt=""><table id="top"></table></div>`);
    const run = async () => {
      const imgSrc = panel.webview.asWebviewUri(vscode.Uri.file(state.image)).toString();
      if (state.result && state.config && state.checkpoint) {
        void panel.webview.postMessage({ type: 'data', state, imgSrc, result: state.result });
        return;
      }
      void panel.webview.postMessage({ type: 'busy', state, imgSrc });
      if (!state.config || !state.checkpoint) return;
      const topk = vscode.workspace.getConfiguration('mmcls').get<number>('classify.topK', 5);
      const res = await runCommand(this.ext.cli(classifyArgs(state.config, state.checkpoint, state.image, topk, this.ext.settings())), this.ext.cwdFor(state.config));
      let result: unknown;
      try {
        result = JSON.parse(res.stdout.trim().split('\n').pop() ?? '');
      } catch {
        result = { error: res.stderr.trim().split('\n').slice(-3).join('\n') || `exit code ${res.code}` };
      }
      if (res.code !== 0 && !(result as { error?: string }).error) result = { error: res.stderr.trim() || `exit code ${res.code}` };
      state.result = result;
      void panel.webview.postMessage({ type: 'data', state, imgSrc, result });
    };
    panel.webview.onDidReceiveMessage((m: Msg) => {
      if (m.type === 'ready') void run();
      if (m.type === 'reload') {
        state.result = undefined;
        void run();
      }
    });
  }
}
