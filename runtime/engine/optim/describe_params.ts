import * as tf from '@tensorflow/tfjs-core';
import { ParamDescriptor } from './default_constructor';

/**
 * The shape of a model module as the parameter description needs it (runtime/nn's `Module` fits):
 * modules with their dotted names, each one's own parameters, and its class names.
 */
export interface DescribableModule {
  namedModules(): Array<[string, DescribableModule]>;
  ownParameters(): Array<[string, { variable: tf.Variable }]>;
  /** The class and its base classes (`['BatchNorm2d', '_BatchNorm', ...]`). */
  layerNames?(): string[];
  /** Conv2d: input channels and groups (a depth-wise convolution has them equal). */
  inChannels?: number;
  groups?: number;
}

// MMEngine's `isinstance(module, (_BatchNorm, _InstanceNorm, GroupNorm, LayerNorm))`.
const NORM_CLASSES = new Set([
  '_BatchNorm',
  'BatchNorm1d',
  'BatchNorm2d',
  'BatchNorm3d',
  'SyncBatchNorm',
  '_InstanceNorm',
  'InstanceNorm1d',
  'InstanceNorm2d',
  'InstanceNorm3d',
  'GroupNorm',
  'LayerNorm',
  'LayerNorm2d',
]);
const DCN_CLASSES = new Set(['DeformConv2d', 'ModulatedDeformConv2d', 'DeformConv2dPack', 'ModulatedDeformConv2dPack']);

function classNames(m: DescribableModule): string[] {
  if (typeof m.layerNames === 'function') return m.layerNames();
  const names: string[] = [];
  let proto = Object.getPrototypeOf(m);
  while (proto && proto !== Object.prototype) {
    names.push(proto.constructor.name);
    proto = Object.getPrototypeOf(proto);
  }
  return names;
}

/**
 * Describes a model's parameters for the optimizer-wrapper constructor, as MMEngine's
 * `add_params` classifies them: norm layers, depth-wise convolutions (`Conv2d` with
 * `in_channels == groups`, as MMEngine tests it), convolutions inside deformable convolutions.
 * Each parameter once, in `named_parameters()` order.
 */
export function describeParams(model: DescribableModule): ParamDescriptor[] {
  const out: ParamDescriptor[] = [];
  const seen = new Set<tf.Variable>();
  const modules = model.namedModules();
  const dcnPrefixes = modules.filter(([, m]) => classNames(m).some((n) => DCN_CLASSES.has(n))).map(([name]) => name);
  for (const [mname, m] of modules) {
    const names = classNames(m);
    let kind: ParamDescriptor['kind'] = 'other';
    if (names.some((n) => NORM_CLASSES.has(n))) kind = 'norm';
    else if (names.includes('Conv2d') && m.inChannels !== undefined && m.inChannels === m.groups) kind = 'dwconv';
    if (names.includes('Conv2d') && mname.includes('conv_offset') && dcnPrefixes.some((p) => mname.startsWith(`${p}.`))) kind = 'dcn_offset';
    for (const [pname, p] of m.ownParameters()) {
      if (seen.has(p.variable)) continue;
      seen.add(p.variable);
      out.push({ name: mname ? `${mname}.${pname}` : pname, variable: p.variable, kind });
    }
  }
  return out;
}
