import { MmclsError } from '../errors';
import { Module, ShapeContext, ShapeValue } from '../nn/module';

/**
 * FLOPs, parameters and activations by shape inference (nothing is computed on tensors), with the
 * conventions of MMEngine's analysis (fvcore): one multiply-add of a convolution, linear layer or
 * matrix product counts one flop; eval batch norm 2 per element with affine (1 without); layer and
 * group norm 5 (4); adaptive average pooling one per input element; element-wise ops, activations,
 * softmax, additions and other pooling 0. Activations are the output elements of convolutions,
 * linear layers and matrix products.
 */

export interface ModuleComplexity {
  /** Dotted module name (`''` is the whole model). */
  name: string;
  /** Number of dots plus one (`''` is 0, `backbone` 1, `backbone.layer1` 2, ...). */
  depth: number;
  /** Class name. */
  type: string;
  flops: number;
  params: number;
  activations: number;
  /** Whether the shape pass reached this module (MMEngine shows uncalled modules with blank FLOPs). */
  called: boolean;
}

export interface ComplexityResult {
  /** [C, H, W] as the user gave it. */
  inputShape: number[];
  flops: number;
  params: number;
  activations: number;
  /** FLOPs per operator kind (`conv`, `linear`, `matmul`, `batch_norm`, `layer_norm`, `adaptive_avg_pool2d`, ...). */
  byOperator: Record<string, number>;
  /** Every module up to `maxDepth`, in named_modules() order. */
  modules: ModuleComplexity[];
  /** Output shape(s) of the analysed forward pass (PyTorch layout). */
  outputShape: ShapeValue;
}

class Counter implements ShapeContext {
  readonly stack: Module[] = [];
  readonly flops = new Map<Module, number>();
  readonly acts = new Map<Module, number>();
  readonly called = new Set<Module>();
  readonly byOperator: Record<string, number> = {};

  enter(m: Module): void {
    this.stack.push(m);
    this.called.add(m);
  }

  exit(m: Module): void {
    const top = this.stack.pop();
    if (top !== m) throw new Error('shape inference: unbalanced module stack');
  }

  add(op: string, flops: number, activations: number): void {
    this.byOperator[op] = (this.byOperator[op] ?? 0) + flops;
    const seen = new Set<Module>();
    for (const m of this.stack) {
      if (seen.has(m)) continue;
      seen.add(m);
      this.flops.set(m, (this.flops.get(m) ?? 0) + flops);
      this.acts.set(m, (this.acts.get(m) ?? 0) + activations);
    }
  }
}

export interface AnalyzeOptions {
  /** Deepest module rows to report (3 as MMCls's get_flops). @default 3 */
  maxDepth?: number;
  /** Batch size of the analysed input. @default 1 */
  batchSize?: number;
}

/**
 * Analyses `model` (typically an ImageClassifier, whose shape pass is `extract_feat`: backbone and
 * neck) for an input of shape [C, H, W]. The model stays untouched; it should be in eval mode for
 * batch-norm counting as MMCls does it (train-mode batch norm counts 4-5 per element).
 */
export function analyzeComplexity(model: Module, inputShape: number[], options: AnalyzeOptions = {}): ComplexityResult {
  if (inputShape.length !== 3 || inputShape.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new MmclsError(`input shape must be [C, H, W] with positive integers, got [${inputShape.join(', ')}]`, {
      code: 'analysis.bad-shape',
    });
  }
  const maxDepth = options.maxDepth ?? 3;
  const counter = new Counter();
  const outputShape = model.inferShape([options.batchSize ?? 1, ...inputShape], counter);
  const modules: ModuleComplexity[] = [];
  for (const [name, m] of model.namedModules()) {
    const depth = name === '' ? 0 : name.split('.').length;
    if (depth > maxDepth) continue;
    modules.push({
      name,
      depth,
      type: m.typeName,
      flops: counter.flops.get(m) ?? 0,
      params: m.numParameters(),
      activations: counter.acts.get(m) ?? 0,
      called: counter.called.has(m),
    });
  }
  return {
    inputShape: [...inputShape],
    flops: counter.flops.get(model) ?? 0,
    params: model.numParameters(),
    activations: counter.acts.get(model) ?? 0,
    byOperator: counter.byOperator,
    modules,
    outputShape,
  };
}

/** fvcore's `_format_size`: 3 decimals, trailing zeros dropped, K/M/G/T/P. */
export function formatSize(x: number, sigFigs = 3): string {
  const fmt = (v: number): string => {
    let s = v.toFixed(sigFigs);
    if (s.includes('.')) s = s.replace(/0+$/, '').replace(/\.$/, '');
    return s;
  };
  const a = Math.abs(x);
  if (a > 1e14) return `${fmt(x / 1e15)}P`;
  if (a > 1e11) return `${fmt(x / 1e12)}T`;
  if (a > 1e8) return `${fmt(x / 1e9)}G`;
  if (a > 1e5) return `${fmt(x / 1e6)}M`;
  if (a > 1e2) return `${fmt(x / 1e3)}K`;
  return String(x);
}

/** The summary block of get_flops. */
export function formatSummary(r: ComplexityResult): string {
  const line = '='.repeat(30);
  return [
    line,
    `Input shape: (${r.inputShape.join(', ')})`,
    `Flops: ${formatSize(r.flops)}`,
    `Params: ${formatSize(r.params)}`,
    `Activation: ${formatSize(r.activations)}`,
    line,
  ].join('\n');
}

interface Stat {
  params: string;
  flops: string;
  acts: string;
}

/**
 * The per-module table of get_flops (fvcore's `flop_count_table`, markdown pipes): modules with all
 * statistics zero are left out, chains of single children are collapsed into one row, parameters
 * are shown with their PyTorch shapes, and uncalled modules have blank FLOPs and activations.
 */
export function formatTable(model: Module, r: ComplexityResult, maxDepth = 3): string {
  // Every module (any depth) and parameter, by name.
  const counterRows = new Map<string, ModuleComplexity>();
  for (const m of r.modules) counterRows.set(m.name, m);
  const full = analyzeAll(model, r);
  // Direct children of each name, in order (a name's parent is the name without its last part).
  const kids = new Map<string, string[]>();
  for (const n of full.keys()) {
    if (n === '') continue;
    const parent = n.includes('.') ? n.slice(0, n.lastIndexOf('.')) : '';
    const list = kids.get(parent);
    if (list) list.push(n);
    else kids.set(parent, [n]);
  }
  const childrenOf = (prefix: string): string[] => kids.get(prefix) ?? [];
  const fastForward = (name: string): string => {
    for (;;) {
      const kids = childrenOf(name);
      if (kids.length !== 1) return name;
      const a = full.get(name)!;
      const b = full.get(kids[0])!;
      if (a.params !== b.params || a.flops !== b.flops || a.acts !== b.acts) return name;
      name = kids[0];
    }
  };
  const rows: string[][] = [];
  const root = fastForward('');
  const rootStat = full.get(root)!;
  rows.push([root || 'model', rootStat.params, rootStat.flops, rootStat.acts]);
  const fill = (level: number, prefix: string): void => {
    if (level > maxDepth) return;
    for (const child of childrenOf(prefix)) {
      const name = fastForward(child);
      const s = full.get(name)!;
      rows.push([name, s.params, s.flops, s.acts]);
      fill(level + 1, name);
    }
  };
  fill(1, root);
  const headers = ['module', '#parameters or shape', '#flops', '#activations'];
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const fmtRow = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [fmtRow(headers), `|${widths.map((w) => `:${'-'.repeat(w + 1)}`).join('|')}|`, ...rows.map(fmtRow)].join('\n');
}

/** Statistics of every module and parameter (formatted), zero-only modules removed. */
function analyzeAll(model: Module, r: ComplexityResult): Map<string, Stat> {
  const counter = new Counter();
  model.inferShape([1, ...r.inputShape], counter);
  const out = new Map<string, Stat>();
  const raw = new Map<string, { params: number; flops: number; acts: number; called: boolean; module: Module }>();
  for (const [name, m] of model.namedModules()) {
    raw.set(name, { params: m.numParameters(), flops: counter.flops.get(m) ?? 0, acts: counter.acts.get(m) ?? 0, called: counter.called.has(m), module: m });
  }
  for (const [name, v] of raw) {
    if (name !== '' && v.params === 0 && v.flops === 0 && v.acts === 0) continue;
    const leaf = v.module.children().length === 0;
    out.set(name, {
      params: formatSize(v.params),
      flops: v.called ? formatSize(v.flops) : '',
      acts: v.called ? formatSize(v.acts) : '',
    });
    // Parameters of leaf modules and a module's own parameters are listed with their shapes.
    const own = v.module.ownParameters();
    if (own.length && (leaf || own.length)) {
      for (const [pname, p] of own) {
        const shape = p.torchShape;
        out.set(name ? `${name}.${pname}` : pname, { params: `(${shape.join(', ')}${shape.length === 1 ? ',' : ''})`, flops: '', acts: '' });
      }
    }
  }
  return out;
}
