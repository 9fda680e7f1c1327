import { Arg, Comprehension, Expr, Module, Range, Stmt, StrPart, TextTemplate } from './ast';
import { FormatSpecError, formatValue, roundFloat, roundHalfEven, toFixedPy } from './format';
import { Budget, LIMITS } from './limits';
import { parseSource } from './parser';
import { decodeEscapes } from './strings';
import {
  DictEntry, isFloat, isInt, isNumber, listOrigins, mkFloat, num, Origin, PyBuiltin, PyDict, PyFloat, PyModule, PyRange,
  PySet, PyTuple, PyValue, repr, str, typeName, UnhashableError, ValueDepthError, ValueSizeError, hashKey, assertMutable,
} from './values';

/** An error raised while evaluating, at a position of the file being evaluated. */
export class EvalError extends Error {
  constructor(message: string, readonly code: string, readonly range: Range, readonly fatal = false) {
    super(message);
  }
}

export interface EvalContext {
  file: string;
  /** The merged values of the base files (MMEngine's `_base_` ConfigDict). */
  base: PyDict;
  env: Record<string, string | undefined>;
  predefined: Record<string, string>;
  budget: Budget;
  /** Called when the file reads the environment (`{{$NAME:default}}`). */
  onEnv?: () => void;
}

export interface ModuleResult {
  /** Module namespace in assignment order (module objects included; the loader filters). */
  globals: PyDict;
  errors: EvalError[];
}

const FORBIDDEN_BUILTINS = new Set([
  'open', 'eval', 'exec', 'compile', '__import__', 'getattr', 'setattr', 'delattr', 'hasattr', 'globals', 'locals',
  'vars', 'input', 'print', 'type', 'isinstance', 'issubclass', 'object', 'super', 'memoryview', 'breakpoint', 'exit',
  'quit', 'help', 'dir', 'id', 'hash', 'iter', 'next', 'map', 'filter', 'callable', 'property', 'classmethod',
  'staticmethod', 'frozenset', 'bytes', 'bytearray', 'complex', 'slice', 'format', 'chr', 'ord', 'hex', 'oct', 'bin',
  'ascii', 'aiter', 'anext', 'license', 'credits', 'copyright',
]);

const DICT_METHODS = new Set(['items', 'keys', 'values', 'get', 'copy', 'update', 'pop', 'setdefault']);
const LIST_METHODS = new Set(['index', 'count', 'copy', 'append', 'extend', 'insert']);
const TUPLE_METHODS = new Set(['index', 'count']);
const STR_METHODS = new Set([
  'format', 'join', 'split', 'rsplit', 'replace', 'upper', 'lower', 'strip', 'lstrip', 'rstrip', 'startswith', 'endswith',
  'zfill', 'count', 'find', 'isdigit', 'title', 'capitalize',
]);

type Scope = Map<string, PyValue>;
let BUILTINS: Map<string, PyBuiltin> | undefined;

export class Evaluator {
  private depth = 0;
  readonly globals = new PyDict();
  private readonly builtins: Map<string, PyBuiltin>;

  constructor(readonly ctx: EvalContext) {
    this.builtins = BUILTINS ?? (BUILTINS = makeBuiltins());
  }

  // ---- errors ----------------------------------------------------------------------------------
  fail(message: string, code: string, at: Range): never {
    throw new EvalError(message, code, pick(at));
  }
  limit(message: string, at: Range): never {
    throw new EvalError(message, 'config.limit', pick(at), true);
  }
  charge(n: number, at: Range): void {
    const m = this.ctx.budget.charge(n);
    if (m) this.limit(m, at);
  }
  checkSize(n: number, at: Range, what = 'value'): void {
    if (n > LIMITS.maxItems) {
      this.limit(`${what} too large: ${n.toLocaleString('en-US')} items (config values are limited to ${LIMITS.maxItems.toLocaleString('en-US')})`, at);
    }
  }
  checkInt(v: number, at: Range): number {
    if (!Number.isSafeInteger(v)) {
      this.limit('integer too large: config values are limited to integers of magnitude below 2**53', at);
    }
    return v;
  }
  origin(r: Range, keyRange?: Range): Origin {
    return keyRange ? { file: this.ctx.file, range: r, keyRange } : { file: this.ctx.file, range: r };
  }

  // ---- statements ------------------------------------------------------------------------------
  runModule(module: Module): ModuleResult {
    const errors: EvalError[] = [];
    this.runBody(module.body, errors);
    return { globals: this.globals, errors };
  }

  private runBody(body: Stmt[], errors: EvalError[]): void {
    for (const s of body) {
      try {
        this.exec(s, errors);
      } catch (e) {
        const err = this.wrap(e, s);
        errors.push(err);
        if (err.fatal) throw err;
      }
    }
  }

  /** Turns JS-level failures from value helpers into positioned errors. */
  wrap(e: unknown, at: Range): EvalError {
    if (e instanceof EvalError) return e;
    if (e instanceof ValueDepthError) return new EvalError(e.message, 'config.limit', pick(at), true);
    if (e instanceof ValueSizeError) return new EvalError('value too large to turn into text', 'config.limit', pick(at), true);
    if (e instanceof UnhashableError) return new EvalError(`TypeError: ${e.message}`, 'config.type-error', pick(at));
    if (e instanceof RangeError) {
      if (/string length|array length/i.test(e.message)) {
        return new EvalError('value too large: the text or list built here exceeds what a config may hold', 'config.limit', pick(at), true);
      }
      return new EvalError('expression too deeply nested to evaluate', 'config.limit', pick(at), true);
    }
    throw e;
  }

  private exec(s: Stmt, errors: EvalError[]): void {
    this.charge(1, s);
    switch (s.type) {
      case 'Assign': {
        // MMEngine removes `_base_ = ...` before running the file; the loader reads it separately.
        if (s.targets.length === 1 && s.targets[0].type === 'Name' && s.targets[0].id === '_base_') return;
        const value = this.eval(s.value, null);
        for (const t of s.targets) this.assign(t, value, s.value, null);
        return;
      }
      case 'AnnAssign':
        if (s.value) this.assign(s.target, this.eval(s.value, null), s.value, null);
        return;
      case 'AugAssign': {
        const t = s.target;
        if (t.type === 'Name') {
          const old = this.lookup(t.id, t, null);
          this.assign(t, this.binop(s.op, old, this.eval(s.value, null), s, true), s, null);
        } else if (t.type === 'Subscript') {
          const obj = this.eval(t.value, null);
          const idx = this.eval(t.index, null);
          const old = this.subscript(obj, idx, t);
          this.setItem(obj, idx, this.binop(s.op, old, this.eval(s.value, null), s, true), t, s);
        } else if (t.type === 'Attribute') {
          const obj = this.eval(t.value, null);
          const old = this.getattr(obj, t.attr, t);
          this.setAttr(obj, t.attr, this.binop(s.op, old, this.eval(s.value, null), s, true), t, s);
        }
        return;
      }
      case 'ExprStmt':
        this.eval(s.value, null);
        return;
      case 'Pass':
        return;
      case 'Delete':
        for (const t of s.targets) this.delete(t);
        return;
      case 'Import':
        for (const n of s.names) {
          if (n.name !== 'copy') {
            this.fail(
              `import of '${n.name}' is not allowed: config files are read without running code, and only \`import copy\` is supported`,
              'config.unsupported', n.range,
            );
          }
          this.globals.set(n.asname ?? 'copy', new PyModule('copy'), this.origin(n.range));
        }
        return;
      case 'ImportFrom':
        this.fail(
          `'from ${s.module} import ...' is not allowed: config files are read without running code, and only \`import copy\` is supported`,
          'config.unsupported', s,
        );
        return;
      case 'If': {
        const branch = this.truthy(this.eval(s.test, null)) ? s.body : s.orelse;
        this.runBody(branch, errors);
        return;
      }
      case 'Unsupported':
        this.fail(
          `'${s.keyword}' statements are not supported in config files (configs are read, not executed); write plain assignments instead`,
          'config.unsupported', s,
        );
    }
  }

  private assign(target: Expr, value: PyValue, valueNode: Range, scope: Scope | null): void {
    switch (target.type) {
      case 'Name':
        this.checkName(target.id, target);
        if (scope) scope.set(target.id, value);
        else this.globals.set(target.id, value, this.origin(valueNode, target));
        return;
      case 'Tuple':
      case 'List': {
        const items = this.iterate(value, valueNode);
        const starAt = target.elts.findIndex((e) => e.type === 'Starred');
        if (starAt < 0) {
          if (items.length !== target.elts.length) {
            this.fail(
              items.length > target.elts.length
                ? `ValueError: too many values to unpack (expected ${target.elts.length})`
                : `ValueError: not enough values to unpack (expected ${target.elts.length}, got ${items.length})`,
              'config.value-error', target,
            );
          }
          target.elts.forEach((t, i) => this.assign(t, items[i], valueNode, scope));
        } else {
          const after = target.elts.length - starAt - 1;
          if (items.length < target.elts.length - 1) {
            this.fail(`ValueError: not enough values to unpack (expected at least ${target.elts.length - 1}, got ${items.length})`, 'config.value-error', target);
          }
          target.elts.forEach((t, i) => {
            if (i < starAt) this.assign(t, items[i], valueNode, scope);
            else if (i === starAt) this.assign((t as Expr & { type: 'Starred' }).value, items.slice(starAt, items.length - after), valueNode, scope);
            else this.assign(t, items[items.length - (target.elts.length - i)], valueNode, scope);
          });
        }
        return;
      }
      case 'Subscript': {
        const obj = this.eval(target.value, scope);
        const idx = this.eval(target.index, scope);
        this.setItem(obj, idx, value, target, valueNode);
        return;
      }
      case 'Attribute': {
        const obj = this.eval(target.value, scope);
        this.setAttr(obj, target.attr, value, target, valueNode);
        return;
      }
      default:
        this.fail('cannot assign to this expression', 'config.syntax', target);
    }
  }

  private delete(t: Expr): void {
    if (t.type === 'Name') {
      this.checkName(t.id, t);
      if (!this.globals.delete(t.id)) this.fail(`NameError: name '${t.id}' is not defined`, 'config.name-error', t);
      return;
    }
    if (t.type === 'Subscript') {
      const obj = this.eval(t.value, null);
      if (t.index.type === 'Slice') this.fail('deleting slices is not supported in config files', 'config.unsupported', t.index);
      const idx = this.eval(t.index, null);
      if (obj instanceof PyDict) {
        this.hashable(idx, t);
        if (!obj.has(idx)) this.fail(`KeyError: ${this.toRepr(idx, t)}`, 'config.key-error', t);
        assertMutable(obj);
        obj.delete(idx);
      } else if (Array.isArray(obj) && !(obj instanceof PyTuple)) {
        const i = this.index(obj.length, idx, t, 'list assignment index out of range');
        assertMutable(obj);
        obj.splice(i, 1);
        listOrigins.get(obj)?.splice(i, 1);
      } else {
        this.fail(`TypeError: '${typeName(obj)}' object does not support item deletion`, 'config.type-error', t);
      }
      return;
    }
    if (t.type === 'Attribute') {
      const obj = this.eval(t.value, null);
      this.checkAttrName(t.attr, t.attrRange);
      if (obj instanceof PyDict && obj.configDict && obj.getStr(t.attr)) {
        assertMutable(obj);
        obj.delete(t.attr);
        return;
      }
      this.fail(`AttributeError: '${typeName(obj)}' object has no attribute '${t.attr}'`, 'config.attribute-error', t.attrRange);
    }
  }

  private setItem(obj: PyValue, idx: PyValue, value: PyValue, at: Range, valueNode: Range): void {
    if (obj instanceof PyDict) {
      this.hashable(idx, at);
      assertMutable(obj);
      obj.set(idx, value, this.origin(valueNode, at));
    } else if (Array.isArray(obj) && !(obj instanceof PyTuple)) {
      const i = this.index(obj.length, idx, at, 'list assignment index out of range');
      assertMutable(obj);
      obj[i] = value;
      const o = listOrigins.get(obj);
      if (o) o[i] = this.origin(valueNode);
    } else {
      this.fail(`TypeError: '${typeName(obj)}' object does not support item assignment`, 'config.type-error', at);
    }
  }

  private setAttr(obj: PyValue, name: string, value: PyValue, at: Expr & { type: 'Attribute' }, valueNode: Range): void {
    this.checkAttrName(name, at.attrRange);
    if (obj instanceof PyDict && obj.configDict) {
      assertMutable(obj);
      obj.set(name, value, this.origin(valueNode, at.attrRange));
      return;
    }
    this.fail(`AttributeError: '${typeName(obj)}' object has no attribute '${name}'`, 'config.attribute-error', at);
  }

  private checkName(id: string, at: Range): void {
    if (id.startsWith('__') && id.endsWith('__')) {
      this.fail(`the name '${id}' is not allowed in config files (double-underscore names reach into Python internals)`, 'config.unsupported', at);
    }
  }
  private checkAttrName(name: string, at: Range): void {
    if (name.startsWith('_') && name.startsWith('__')) {
      this.fail(`access to the attribute '${name}' is not allowed in config files (double-underscore attributes reach into Python internals)`, 'config.unsupported', at);
    }
  }

  // ---- expressions -----------------------------------------------------------------------------
  eval(e: Expr, scope: Scope | null): PyValue {
    if (++this.depth > LIMITS.maxDepth) {
      this.depth = 0;
      this.limit(`expression too deeply nested (more than ${LIMITS.maxDepth} levels)`, e);
    }
    const m = this.ctx.budget.charge(1);
    if (m) this.limit(m, e);
    try {
      return this.evalInner(e, scope);
    } finally {
      this.depth--;
    }
  }

  private evalInner(e: Expr, scope: Scope | null): PyValue {
    switch (e.type) {
      case 'Constant':
        if (e.isFloat) return mkFloat(e.value as number);
        if (typeof e.value === 'number') return this.checkInt(e.value, e);
        return e.value;
      case 'Str':
        if (e.bytes) this.fail('bytes literals are not supported in config files', 'config.unsupported', e);
        return this.evalStr(e.parts, scope);
      case 'Name':
        return this.lookup(e.id, e, scope);
      case 'BaseRef':
        return this.baseRef(e.path, e);
      case 'Template':
        return this.evalTemplateInCode(e.template, e);
      case 'Attribute': {
        const obj = this.eval(e.value, scope);
        this.checkAttrName(e.attr, e.attrRange);
        return this.getattr(obj, e.attr, e);
      }
      case 'Subscript': {
        const obj = this.eval(e.value, scope);
        if (e.index.type === 'Slice') return this.slice(obj, e.index, scope);
        return this.subscript(obj, this.eval(e.index, scope), e);
      }
      case 'Slice':
        this.fail('a slice is only allowed inside [...]', 'config.syntax', e);
        break;
      case 'Call':
        return this.call(e, scope);
      case 'BinOp':
        return this.binop(e.op, this.eval(e.left, scope), this.eval(e.right, scope), e, false);
      case 'UnaryOp':
        return this.unary(e.op, this.eval(e.operand, scope), e);
      case 'BoolOp': {
        let v: PyValue = null;
        for (const x of e.values) {
          v = this.eval(x, scope);
          if (e.op === 'and' ? !this.truthy(v) : this.truthy(v)) return v;
        }
        return v;
      }
      case 'Compare': {
        let left = this.eval(e.left, scope);
        for (let i = 0; i < e.ops.length; i++) {
          const right = this.eval(e.comparators[i], scope);
          if (!this.compareOp(e.ops[i], left, right, e)) return false;
          left = right;
        }
        return true;
      }
      case 'IfExp':
        return this.truthy(this.eval(e.test, scope)) ? this.eval(e.body, scope) : this.eval(e.orelse, scope);
      case 'List': {
        const out = this.evalElts(e.elts, scope, e);
        return out;
      }
      case 'Tuple':
        return PyTuple.from_(this.evalElts(e.elts, scope, e));
      case 'Set': {
        const s = new PySet();
        for (const x of this.evalElts(e.elts, scope, e)) {
          this.hashable(x, e);
          s.add(x);
        }
        return s;
      }
      case 'Dict': {
        const d = new PyDict();
        for (const it of e.items) {
          if (it.key === null) {
            const m = this.eval(it.value, scope);
            if (!(m instanceof PyDict)) this.fail(`TypeError: '${typeName(m)}' object is not a mapping`, 'config.type-error', it.value);
            for (const en of m.entries()) d.set(en.key, en.value, en.origin);
          } else {
            const k = this.eval(it.key, scope);
            this.hashable(k, it.key);
            if (k === '__proto__') this.fail("the key '__proto__' is not allowed in config files", 'config.unsupported', it.key);
            d.set(k, this.eval(it.value, scope), this.origin(it.value, it.key));
          }
          this.checkSize(d.size, e, 'dict');
        }
        this.charge(d.size, e);
        return d;
      }
      case 'Starred':
        this.fail("can't use starred expression here", 'config.syntax', e);
        break;
      case 'ListComp':
      case 'SetComp':
      case 'GeneratorExp': {
        const items: PyValue[] = [];
        const origins: Origin[] = [];
        const o = this.origin(e.elt);
        this.comprehension(e.generators, 0, new Map(scope ?? []), e, (sc) => {
          items.push(this.eval(e.elt, sc));
          origins.push(o);
          this.checkSize(items.length, e, 'list');
          this.charge(1, e);
        });
        if (e.type === 'SetComp') {
          const s = new PySet();
          for (const x of items) {
            this.hashable(x, e.elt);
            s.add(x);
          }
          return s;
        }
        listOrigins.set(items, origins);
        return items;
      }
      case 'DictComp': {
        const d = new PyDict();
        this.comprehension(e.generators, 0, new Map(scope ?? []), e, (sc) => {
          const k = this.eval(e.key, sc);
          this.hashable(k, e.key);
          if (k === '__proto__') this.fail("the key '__proto__' is not allowed in config files", 'config.unsupported', e.key);
          d.set(k, this.eval(e.value, sc), this.origin(e.value, e.key));
          this.checkSize(d.size, e, 'dict');
          this.charge(1, e);
        });
        return d;
      }
      case 'Lambda':
        this.fail('lambda functions are not supported in config files (configs are read, not executed)', 'config.unsupported', e);
        break;
      case 'NamedExpr':
        this.fail("assignment expressions (':=') are not supported in config files", 'config.unsupported', e);
        break;
      case 'Error':
        this.fail('invalid syntax', 'config.syntax', e);
    }
    this.fail('unsupported expression', 'config.unsupported', e);
  }

  private evalElts(elts: Expr[], scope: Scope | null, at: Range): PyValue[] {
    const out: PyValue[] = [];
    const origins: (Origin | undefined)[] = [];
    for (const x of elts) {
      if (x.type === 'Starred') {
        const v = this.eval(x.value, scope);
        const items = this.iterate(v, x.value);
        const srcO = Array.isArray(v) ? listOrigins.get(v) : undefined;
        items.forEach((it, i) => {
          out.push(it);
          origins.push(srcO?.[i]);
        });
        this.checkSize(out.length, at, 'list');
      } else {
        out.push(this.eval(x, scope));
        origins.push(this.origin(x));
      }
    }
    this.charge(out.length, at);
    listOrigins.set(out, origins);
    return out;
  }

  private comprehension(gens: Comprehension[], i: number, scope: Scope, at: Range, body: (s: Scope) => void): void {
    if (i === gens.length) {
      body(scope);
      return;
    }
    const g = gens[i];
    // The first iterable is evaluated in the enclosing scope, as Python does.
    const items = this.iterate(this.eval(g.iter, scope), g.iter);
    for (const it of items) {
      this.assign(g.target, it, g.iter, scope);
      let ok = true;
      for (const cond of g.ifs) {
        if (!this.truthy(this.eval(cond, scope))) {
          ok = false;
          break;
        }
      }
      this.charge(1, at);
      if (ok) this.comprehension(gens, i + 1, scope, at, body);
    }
  }

  lookup(id: string, at: Range, scope: Scope | null): PyValue {
    if (scope && scope.has(id)) return scope.get(id) as PyValue;
    this.checkName(id, at);
    if (id === '_base_') return this.ctx.base;
    const g = this.globals.getStr(id);
    if (g) return g.value;
    const b = this.builtins.get(id);
    if (b) return b;
    if (FORBIDDEN_BUILTINS.has(id)) {
      this.fail(`'${id}' is not available in config files (configs are read without running code)`, 'config.unsupported', at);
    }
    this.fail(`NameError: name '${id}' is not defined`, 'config.name-error', at);
  }

  private baseRef(path: (string | number)[], at: Range): PyValue {
    let v: PyValue = this.ctx.base;
    let shown = '_base_';
    for (const k of path) {
      let next: PyValue | undefined;
      if (v instanceof PyDict) {
        const en = v.get(k);
        next = en?.value;
        if (next === undefined && typeof k === 'number') next = v.get(String(k))?.value;
      } else if (Array.isArray(v)) {
        const i = typeof k === 'number' ? k : /^-?\d+$/.test(k) ? Number(k) : NaN;
        if (Number.isInteger(i) && i >= -v.length && i < v.length) next = v[i < 0 ? v.length + i : i];
      }
      if (next === undefined) {
        this.fail(
          `${shown} has no ${typeof k === 'number' ? `item [${k}]` : `key '${k}'`}: the base files do not define it`,
          'config.base-ref', at,
        );
      }
      shown += typeof k === 'number' ? `[${k}]` : `.${k}`;
      v = next;
    }
    return this.deepcopy(v, at);
  }

  private templateText(t: TextTemplate, at: Range): string {
    if (!t.env) return this.ctx.predefined[t.name] ?? '';
    this.ctx.onEnv?.();
    const v = this.ctx.env[t.name];
    if (v !== undefined) return v;
    if (!t.default) {
      this.fail(`\`${t.name}\` cannot be found in the environment: set ${t.name} or give a default value ({{$${t.name}:default}})`, 'config.env', at);
    }
    return t.default;
  }

  /** A placeholder in code: MMEngine pastes its text into the source, so we parse that text. */
  private evalTemplateInCode(t: TextTemplate, at: Range): PyValue {
    const text = this.templateText(t, at);
    const parsed = parseSource(text);
    const body = parsed.module.body;
    if (parsed.errors.length > 0 || body.length !== 1 || body[0].type !== 'ExprStmt') {
      this.fail(`the text ${JSON.stringify(text)} substituted for this placeholder is not a Python value`, 'config.syntax', at);
    }
    // Evaluate with positions pinned to the placeholder.
    const saved = this.depth;
    try {
      return this.evalPinned((body[0] as Stmt & { type: 'ExprStmt' }).value, at);
    } finally {
      this.depth = saved;
    }
  }
  private evalPinned(e: Expr, at: Range): PyValue {
    try {
      return this.eval(e, null);
    } catch (err) {
      if (err instanceof EvalError) throw new EvalError(err.message, err.code, pick(at), err.fatal);
      throw err;
    }
  }

  evalStr(parts: StrPart[], scope: Scope | null): string {
    let out = '';
    for (const p of parts) {
      switch (p.kind) {
        case 'text':
          out += p.value;
          break;
        case 'template':
          out += decodeEscapes(this.templateText(p.template, p.range));
          break;
        case 'ref':
          out += this.toStr(this.baseRef(p.path, p.range), p.range);
          break;
        case 'expr': {
          let v = this.eval(p.expr, scope);
          if (p.conversion === 'r' || p.conversion === 'a') v = this.toRepr(v, p.expr);
          else if (p.conversion === 's') v = this.toStr(v, p.expr);
          const spec = p.spec ? this.evalStr(p.spec, scope) : '';
          out += this.format(v, spec, p.expr);
          break;
        }
      }
      if (out.length > LIMITS.maxItems) this.limit('string too long', parts.length ? (parts[0] as { range?: Range }).range ?? { line: 1, column: 1, endLine: 1, endColumn: 1 } : { line: 1, column: 1, endLine: 1, endColumn: 1 });
    }
    return out;
  }

  toStr(v: PyValue, at: Range): string {
    try {
      const out = str(v, { left: LIMITS.maxItems });
      if (typeof v !== 'string') this.charge(out.length >> 3, at);
      return out;
    } catch (e) {
      throw this.wrap(e, at);
    }
  }
  toRepr(v: PyValue, at: Range): string {
    try {
      const out = repr(v, { left: LIMITS.maxItems });
      this.charge(out.length >> 3, at);
      return out;
    } catch (e) {
      throw this.wrap(e, at);
    }
  }

  /** `format(v, spec)`. */
  format(v: PyValue, spec: string, at: Range): string {
    const width = /^(?:[\s\S]?[<>=^])?[+\- ]?z?#?0?(\d+)/.exec(spec);
    if (width && Number(width[1]) > LIMITS.maxItems) this.limit(`format width too large: ${width[1]} (at most ${LIMITS.maxItems})`, at);
    try {
      if (typeof v === 'string') return formatValue(v, 'str', spec, v);
      if (typeof v === 'boolean') return formatValue(v ? 1 : 0, 'bool', spec, v ? 'True' : 'False');
      if (isNumber(v)) return formatValue(num(v), isInt(v) ? 'int' : 'float', spec, this.toStr(v, at));
      if (spec === '') return this.toStr(v, at);
    } catch (e) {
      if (e instanceof FormatSpecError) this.fail(`ValueError: ${e.message}`, 'config.value-error', at);
      throw e;
    }
    this.fail(`TypeError: unsupported format string passed to ${typeName(v)}.__format__`, 'config.type-error', at);
  }

  truthy(v: PyValue): boolean {
    if (v === null) return false;
    if (typeof v === 'boolean') return v;
    if (typeof v === 'number') return v !== 0;
    if (typeof v === 'string') return v.length > 0;
    if (v instanceof PyFloat) return v.v !== 0;
    if (Array.isArray(v)) return v.length > 0;
    if (v instanceof PyDict) return v.size > 0;
    if (v instanceof PySet) return v.map.size > 0;
    if (v instanceof PyRange) return v.length > 0;
    return true;
  }

  hashable(v: PyValue, at: Range): void {
    try {
      hashKey(v);
    } catch (e) {
      throw this.wrap(e, at);
    }
  }

  iterate(v: PyValue, at: Range): PyValue[] {
    if (Array.isArray(v)) {
      this.charge(v.length, at);
      return v.slice();
    }
    if (typeof v === 'string') {
      this.charge(v.length, at);
      return [...v];
    }
    if (v instanceof PyDict) {
      this.charge(v.size, at);
      return v.keys();
    }
    if (v instanceof PySet) {
      this.charge(v.map.size, at);
      return v.values();
    }
    if (v instanceof PyRange) {
      const n = v.length;
      this.checkSize(n, at, 'range');
      this.charge(n, at);
      const out: PyValue[] = new Array(n);
      for (let i = 0; i < n; i++) out[i] = v.at(i);
      return out;
    }
    this.fail(`TypeError: '${typeName(v)}' object is not iterable`, 'config.type-error', at);
  }

  private index(len: number, idx: PyValue, at: Range, msg: string): number {
    if (!isInt(idx)) this.fail(`TypeError: indices must be integers or slices, not ${typeName(idx)}`, 'config.type-error', at);
    let i = num(idx);
    if (i < 0) i += len;
    if (i < 0 || i >= len) this.fail(`IndexError: ${msg}`, 'config.index-error', at);
    return i;
  }

  subscript(obj: PyValue, idx: PyValue, at: Range): PyValue {
    if (obj instanceof PyDict) {
      this.hashable(idx, at);
      const e = obj.get(idx);
      if (!e) this.fail(`KeyError: ${this.toRepr(idx, at)}`, 'config.key-error', at);
      return e.value;
    }
    if (Array.isArray(obj)) {
      return obj[this.index(obj.length, idx, at, `${obj instanceof PyTuple ? 'tuple' : 'list'} index out of range`)];
    }
    if (typeof obj === 'string') {
      const chars = obj.length === [...obj].length ? null : [...obj];
      const len = chars ? chars.length : obj.length;
      const i = this.index(len, idx, at, 'string index out of range');
      return chars ? chars[i] : obj[i];
    }
    if (obj instanceof PyRange) return obj.at(this.index(obj.length, idx, at, 'range object index out of range'));
    this.fail(`TypeError: '${typeName(obj)}' object is not subscriptable`, 'config.type-error', at);
  }

  private slice(obj: PyValue, s: Expr & { type: 'Slice' }, scope: Scope | null): PyValue {
    const part = (x: Expr | null): number | null => {
      if (x === null) return null;
      const v = this.eval(x, scope);
      if (v === null) return null;
      if (!isInt(v)) this.fail('TypeError: slice indices must be integers or None', 'config.type-error', x);
      return num(v);
    };
    const lo = part(s.lower);
    const hi = part(s.upper);
    const st = part(s.step) ?? 1;
    if (st === 0) this.fail('ValueError: slice step cannot be zero', 'config.value-error', s);
    let seq: PyValue[];
    if (Array.isArray(obj)) seq = obj;
    else if (typeof obj === 'string') seq = [...obj];
    else if (obj instanceof PyRange) {
      seq = this.iterate(obj, s);
    } else this.fail(`TypeError: '${typeName(obj)}' object is not subscriptable`, 'config.type-error', s);
    const len = seq.length;
    const norm = (v: number | null, def: number, lowB: number, highB: number) => {
      if (v === null) return def;
      if (v < 0) v += len;
      return Math.min(Math.max(v, lowB), highB);
    };
    const out: PyValue[] = [];
    const srcO = Array.isArray(obj) ? listOrigins.get(obj) : undefined;
    const origins: (Origin | undefined)[] = [];
    if (st > 0) {
      const a = norm(lo, 0, 0, len);
      const b = norm(hi, len, 0, len);
      for (let i = a; i < b; i += st) {
        out.push(seq[i]);
        origins.push(srcO?.[i]);
      }
    } else {
      const a = norm(lo, len - 1, -1, len - 1);
      const b = norm(hi, -1, -1, len - 1);
      for (let i = a; i > b; i += st) {
        out.push(seq[i]);
        origins.push(srcO?.[i]);
      }
    }
    this.charge(out.length, s);
    if (typeof obj === 'string') return out.join('');
    if (obj instanceof PyTuple) return PyTuple.from_(out);
    if (srcO) listOrigins.set(out, origins);
    return out;
  }

  getattr(obj: PyValue, name: string, at: Expr & { type: 'Attribute' }): PyValue {
    if (obj instanceof PyModule) {
      if (name === 'deepcopy' || name === 'copy') return this.builtins.get(name === 'deepcopy' ? '__deepcopy' : '__copy') as PyBuiltin;
      this.fail(`copy.${name} is not supported in config files (only copy.deepcopy and copy.copy)`, 'config.unsupported', at.attrRange);
    }
    if (obj instanceof PyDict) {
      if (DICT_METHODS.has(name)) return new PyBuiltin(`dict.${name}`, dictMethod(name), obj);
      if (obj.configDict) {
        const e = obj.getStr(name);
        if (e) return e.value;
        this.fail(`AttributeError: 'ConfigDict' object has no attribute '${name}'`, 'config.attribute-error', at.attrRange);
      }
      this.fail(
        `AttributeError: 'dict' object has no attribute '${name}' (only dicts read from _base_ allow attribute access; use ['${name}'])`,
        'config.attribute-error', at.attrRange,
      );
    }
    if (typeof obj === 'string' && STR_METHODS.has(name)) return new PyBuiltin(`str.${name}`, strMethod(name, this), obj);
    if (Array.isArray(obj)) {
      const ok = obj instanceof PyTuple ? TUPLE_METHODS : LIST_METHODS;
      if (ok.has(name)) return new PyBuiltin(`${typeName(obj)}.${name}`, listMethod(name), obj);
    }
    this.fail(`AttributeError: '${typeName(obj)}' object has no attribute '${name}' (or it is not supported in config files)`, 'config.attribute-error', at.attrRange);
  }

  // ---- calls -----------------------------------------------------------------------------------
  private call(e: Expr & { type: 'Call' }, scope: Scope | null): PyValue {
    const f = this.eval(e.func, scope);
    if (!(f instanceof PyBuiltin)) {
      this.fail(`TypeError: '${typeName(f)}' object is not callable`, 'config.type-error', e.func);
    }
    if (f.name === 'dict' || f.name === 'dict.update') {
      const target = f.name === 'dict' ? new PyDict() : (f.self as PyDict);
      assertMutable(target);
      this.fillDict(target, e.args, scope, e);
      return f.name === 'dict' ? target : null;
    }
    const args: PyValue[] = [];
    const kwargs: [string, PyValue][] = [];
    for (const a of e.args) this.evalArg(a, scope, args, kwargs, e);
    const self = this;
    const ctx = {
      range: pick(e),
      error(message: string, code = 'config.value-error'): never {
        return self.fail(message, code, e);
      },
      typeError(message: string): never {
        return self.fail(`TypeError: ${message}`, 'config.type-error', e);
      },
      charge: (n: number) => {
        self.checkSize(n, e);
        self.charge(n, e);
      },
      work: (n: number) => self.charge(n, e),
      iterate: (v: PyValue) => self.iterate(v, e),
      truthy: (v: PyValue) => self.truthy(v),
      compare: (a: PyValue, b: PyValue) => self.cmp(a, b, e),
      str: (v: PyValue) => self.toStr(v, e),
      repr: (v: PyValue) => self.toRepr(v, e),
      deepcopy: (v: PyValue) => self.deepcopy(v, e),
    };
    try {
      return f.self !== undefined ? f.impl([f.self, ...args], kwargs, ctx) : f.impl(args, kwargs, ctx);
    } catch (err) {
      throw this.wrap(err, e);
    }
  }

  private evalArg(a: Arg, scope: Scope | null, args: PyValue[], kwargs: [string, PyValue][], at: Range): void {
    const v = this.eval(a.value, scope);
    if (a.star === '*') args.push(...this.iterate(v, a.value));
    else if (a.star === '**') {
      if (!(v instanceof PyDict)) this.fail(`TypeError: argument after ** must be a mapping, not ${typeName(v)}`, 'config.type-error', a.value);
      for (const en of v.entries()) {
        if (typeof en.key !== 'string') this.fail('TypeError: keywords must be strings', 'config.type-error', a.value);
        if (kwargs.some(([k]) => k === en.key)) this.fail(`TypeError: got multiple values for keyword argument '${en.key}'`, 'config.type-error', a.value);
        kwargs.push([en.key, en.value]);
      }
    } else if (a.name !== null) {
      if (kwargs.some(([k]) => k === a.name)) this.fail(`keyword argument repeated: ${a.name}`, 'config.syntax', a.nameRange ?? at);
      kwargs.push([a.name, v]);
    } else args.push(v);
  }

  /** `dict(...)` and `d.update(...)`, keeping where each value was written. */
  private fillDict(target: PyDict, args: Arg[], scope: Scope | null, at: Range): void {
    const seen = new Set<string>();
    let positional = 0;
    for (const a of args) {
      if (a.star === '' && a.name === null) {
        if (++positional > 1) this.fail('TypeError: dict expected at most 1 positional argument', 'config.type-error', a.value);
        const v = this.eval(a.value, scope);
        if (v instanceof PyDict) {
          for (const en of v.entries()) target.set(en.key, en.value, en.origin);
        } else {
          const items = this.iterate(v, a.value);
          for (const it of items) {
            const pair = Array.isArray(it) ? it : typeof it === 'string' ? [...it] : null;
            if (!pair || pair.length !== 2) {
              this.fail('ValueError: dictionary update sequence element has the wrong length; 2 is required', 'config.value-error', a.value);
            }
            this.hashable(pair[0], a.value);
            target.set(pair[0], pair[1], this.origin(a.value));
          }
        }
      } else if (a.star === '*') {
        this.fail('TypeError: dict() does not take * arguments', 'config.type-error', a.value);
      } else if (a.star === '**') {
        const v = this.eval(a.value, scope);
        if (!(v instanceof PyDict)) this.fail(`TypeError: argument after ** must be a mapping, not ${typeName(v)}`, 'config.type-error', a.value);
        for (const en of v.entries()) {
          if (typeof en.key !== 'string') this.fail('TypeError: keywords must be strings', 'config.type-error', a.value);
          if (seen.has(en.key)) this.fail(`TypeError: dict() got multiple values for keyword argument '${en.key}'`, 'config.type-error', a.value);
          seen.add(en.key);
          target.set(en.key, en.value, en.origin);
        }
      } else {
        const name = a.name as string;
        if (seen.has(name)) this.fail(`keyword argument repeated: ${name}`, 'config.syntax', a.nameRange ?? a.range);
        seen.add(name);
        if (name === '__proto__') this.fail("the key '__proto__' is not allowed in config files", 'config.unsupported', a.nameRange ?? a.range);
        target.set(name, this.eval(a.value, scope), this.origin(a.value, a.nameRange));
      }
      this.checkSize(target.size, at, 'dict');
    }
    this.charge(target.size, at);
  }

  // ---- operators -------------------------------------------------------------------------------
  private opError(op: string, a: PyValue, b: PyValue, at: Range): never {
    this.fail(`TypeError: unsupported operand type(s) for ${op}: '${typeName(a)}' and '${typeName(b)}'`, 'config.type-error', at);
  }

  binop(op: string, a: PyValue, b: PyValue, at: Range, inplace: boolean): PyValue {
    if (isNumber(a) && isNumber(b)) return this.arith(op, a, b, at);
    switch (op) {
      case '+':
        if (typeof a === 'string' && typeof b === 'string') {
          this.checkSize(a.length + b.length, at, 'string');
          return a + b;
        }
        if (Array.isArray(a) && Array.isArray(b) && (a instanceof PyTuple) === (b instanceof PyTuple)) {
          this.checkSize(a.length + b.length, at, 'list');
          this.charge(a.length + b.length, at);
          if (inplace && !(a instanceof PyTuple)) {
            const o = listOrigins.get(a);
            const ob = listOrigins.get(b);
            assertMutable(a);
            a.push(...b);
            if (o) o.push(...(ob ?? new Array(b.length).fill(undefined)));
            return a;
          }
          const out = a instanceof PyTuple ? PyTuple.from_([...a, ...b]) : [...a, ...b];
          const oa = listOrigins.get(a);
          const ob = listOrigins.get(b);
          if (oa || ob) listOrigins.set(out, [...(oa ?? new Array(a.length).fill(undefined)), ...(ob ?? new Array(b.length).fill(undefined))]);
          return out;
        }
        if (Array.isArray(a) && !(a instanceof PyTuple) && inplace) {
          const items = this.iterate(b, at);
          this.checkSize(a.length + items.length, at, 'list');
          assertMutable(a);
          a.push(...items);
          return a;
        }
        break;
      case '*': {
        let seq: PyValue = a;
        let n: PyValue = b;
        if (isInt(a) && !isInt(b)) {
          seq = b;
          n = a;
        }
        if (isInt(n) && (typeof seq === 'string' || Array.isArray(seq))) {
          const k = Math.max(0, num(n));
          const total = seq.length * k;
          this.checkSize(total, at, typeof seq === 'string' ? 'string' : 'list');
          this.charge(total, at);
          if (typeof seq === 'string') return seq.repeat(k);
          const out: PyValue[] = [];
          for (let i = 0; i < k; i++) out.push(...seq);
          const o = listOrigins.get(seq);
          if (o) {
            const oo: (Origin | undefined)[] = [];
            for (let i = 0; i < k; i++) oo.push(...o);
            listOrigins.set(out, oo);
          }
          if (inplace && seq === a && !(a instanceof PyTuple)) {
            assertMutable(a);
            a.length = 0;
            a.push(...out);
            return a;
          }
          return seq instanceof PyTuple ? PyTuple.from_(out) : out;
        }
        break;
      }
      case '%':
        if (typeof a === 'string') return this.percentFormat(a, b, at);
        break;
      case '|':
        if (a instanceof PyDict && b instanceof PyDict) {
          if (inplace) assertMutable(a);
          const d = inplace ? a : a.copy(false);
          for (const en of b.entries()) d.set(en.key, en.value, en.origin);
          return d;
        }
        if (a instanceof PySet && b instanceof PySet) {
          const s = new PySet();
          for (const x of [...a.values(), ...b.values()]) s.add(x);
          return s;
        }
        break;
      case '&':
        if (a instanceof PySet && b instanceof PySet) {
          const s = new PySet();
          for (const x of a.values()) if (b.has(x)) s.add(x);
          return s;
        }
        break;
      case '-':
        if (a instanceof PySet && b instanceof PySet) {
          const s = new PySet();
          for (const x of a.values()) if (!b.has(x)) s.add(x);
          return s;
        }
        break;
    }
    this.opError(op, a, b, at);
  }

  private arith(op: string, a: number | boolean | PyFloat, b: number | boolean | PyFloat, at: Range): PyValue {
    const x = num(a);
    const y = num(b);
    const ints = isInt(a) && isInt(b);
    const zero = () => this.fail(
      ints ? (op === '/' ? 'ZeroDivisionError: division by zero' : 'ZeroDivisionError: integer division or modulo by zero') : 'ZeroDivisionError: float division by zero',
      'config.zero-division', at,
    );
    switch (op) {
      case '+': return ints ? this.checkInt(x + y, at) : mkFloat(x + y);
      case '-': return ints ? this.checkInt(x - y, at) : mkFloat(x - y);
      case '*': return ints ? this.checkInt(x * y, at) : mkFloat(x * y);
      case '/':
        if (y === 0) zero();
        return mkFloat(x / y);
      case '//': {
        if (y === 0) zero();
        const q = Math.floor(x / y);
        return ints ? this.checkInt(q, at) : mkFloat(pyFloatMod(x, y)[0]);
      }
      case '%': {
        if (y === 0) zero();
        if (ints) {
          const r = x % y;
          return r !== 0 && (r < 0) !== (y < 0) ? r + y : r === 0 ? 0 : r;
        }
        return mkFloat(pyFloatMod(x, y)[1]);
      }
      case '**': {
        if (ints) {
          if (y < 0) {
            if (x === 0) this.fail('ZeroDivisionError: 0.0 cannot be raised to a negative power', 'config.zero-division', at);
            return mkFloat(Math.pow(x, y));
          }
          const r = Math.pow(x, y);
          return this.checkInt(r, at);
        }
        if (x === 0 && y < 0) this.fail('ZeroDivisionError: 0.0 cannot be raised to a negative power', 'config.zero-division', at);
        if (x < 0 && !Number.isInteger(y)) this.fail('complex results are not supported in config files', 'config.value-error', at);
        const r = Math.pow(x, y);
        if (!Number.isFinite(r) && Number.isFinite(x) && Number.isFinite(y)) this.fail("OverflowError: (34, 'Numerical result out of range')", 'config.value-error', at);
        return mkFloat(r);
      }
      case '<<':
      case '>>':
      case '&':
      case '|':
      case '^': {
        if (!ints) this.opError(op, a, b, at);
        if (typeof a === 'boolean' && typeof b === 'boolean' && op !== '<<' && op !== '>>') {
          return op === '&' ? a && b : op === '|' ? a || b : a !== b;
        }
        const bx = BigInt(x);
        const by = BigInt(y);
        if ((op === '<<' || op === '>>') && y < 0) this.fail('ValueError: negative shift count', 'config.value-error', at);
        if (op === '<<' && y > 60) this.checkInt(Infinity, at);
        const r = op === '<<' ? bx << by : op === '>>' ? bx >> by : op === '&' ? bx & by : op === '|' ? bx | by : bx ^ by;
        return this.checkInt(Number(r), at);
      }
      case '@':
        this.opError(op, a, b, at);
    }
    this.opError(op, a, b, at);
  }

  private unary(op: string, v: PyValue, at: Range): PyValue {
    if (op === 'not') return !this.truthy(v);
    if (!isNumber(v)) this.fail(`TypeError: bad operand type for unary ${op}: '${typeName(v)}'`, 'config.type-error', at);
    const x = num(v);
    if (op === '-') return isInt(v) ? (x === 0 ? 0 : -x) : mkFloat(-x);
    if (op === '+') return isInt(v) ? x : v;
    if (!isInt(v)) this.fail(`TypeError: bad operand type for unary ~: '${typeName(v)}'`, 'config.type-error', at);
    return -x - 1;
  }

  private percentFormat(fmt: string, args: PyValue, at: Range): string {
    const list = args instanceof PyTuple ? [...args] : [args];
    let k = 0;
    const dictArg = args instanceof PyDict ? args : null;
    const out = fmt.replace(/%(?:\(([^)]*)\))?([-+ #0]*)(\d+|\*)?(?:\.(\d+))?([diouxXeEfFgGcrsa%])/g, (m, key: string | undefined, flags: string, width: string | undefined, prec: string | undefined, conv: string) => {
      if (conv === '%') return '%';
      let v: PyValue;
      if (key !== undefined) {
        if (!dictArg) this.fail('TypeError: format requires a mapping', 'config.type-error', at);
        const en = dictArg.get(key);
        if (!en) this.fail(`KeyError: '${key}'`, 'config.key-error', at);
        v = en.value;
      } else {
        if (k >= list.length) this.fail('TypeError: not enough arguments for format string', 'config.type-error', at);
        v = list[k++];
      }
      let spec = '';
      const align = flags.includes('-') ? '<' : '';
      const sign = flags.includes('+') ? '+' : flags.includes(' ') ? ' ' : '';
      const zero = flags.includes('0') && !align ? '0' : '';
      spec = `${align}${sign}${flags.includes('#') ? '#' : ''}${zero}${width ?? ''}${prec !== undefined ? '.' + prec : ''}`;
      if (conv === 's') return this.format(this.toStr(v, at), (align || '') + (width ?? '') + (prec !== undefined ? '.' + prec : ''), at);
      if (conv === 'r' || conv === 'a') return this.format(this.toRepr(v, at), (align || '') + (width ?? ''), at);
      if (!isNumber(v)) this.fail(`TypeError: %${conv} format: a real number is required, not ${typeName(v)}`, 'config.type-error', at);
      if ('diu'.includes(conv)) return this.format(Math.trunc(num(v)), spec + 'd', at);
      return this.format(isInt(v) && 'eEfFgG'.includes(conv) ? mkFloat(num(v)) : v, spec + conv, at);
    });
    if (!dictArg && k < list.length) this.fail('TypeError: not all arguments converted during string formatting', 'config.type-error', at);
    return out;
  }

  // ---- comparisons -----------------------------------------------------------------------------
  eq(a: PyValue, b: PyValue, depth = 0): boolean {
    if (depth > 500) throw new ValueDepthError();
    if (a === b) return true;
    if (isNumber(a) && isNumber(b)) return num(a) === num(b);
    if (Array.isArray(a) && Array.isArray(b)) {
      if ((a instanceof PyTuple) !== (b instanceof PyTuple) || a.length !== b.length) return false;
      for (let i = 0; i < a.length; i++) if (!this.eq(a[i], b[i], depth + 1)) return false;
      return true;
    }
    if (a instanceof PyDict && b instanceof PyDict) {
      if (a.size !== b.size) return false;
      for (const e of a.entries()) {
        const o = b.get(e.key);
        if (!o || !this.eq(e.value, o.value, depth + 1)) return false;
      }
      return true;
    }
    if (a instanceof PySet && b instanceof PySet) {
      if (a.map.size !== b.map.size) return false;
      for (const x of a.values()) if (!b.has(x)) return false;
      return true;
    }
    if (a instanceof PyRange && b instanceof PyRange) return a.length === b.length && (a.length === 0 || (a.start === b.start && (a.length === 1 || a.step === b.step)));
    return false;
  }

  cmp(a: PyValue, b: PyValue, at: Range, op = '<'): number {
    if (isNumber(a) && isNumber(b)) {
      const x = num(a);
      const y = num(b);
      return x < y ? -1 : x > y ? 1 : x === y ? 0 : NaN;
    }
    if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
    if (Array.isArray(a) && Array.isArray(b) && (a instanceof PyTuple) === (b instanceof PyTuple)) {
      const n = Math.min(a.length, b.length);
      for (let i = 0; i < n; i++) {
        if (!this.eq(a[i], b[i])) return this.cmp(a[i], b[i], at, op);
      }
      return a.length - b.length;
    }
    this.fail(`TypeError: '${op}' not supported between instances of '${typeName(a)}' and '${typeName(b)}'`, 'config.type-error', at);
  }

  private contains(container: PyValue, item: PyValue, at: Range): boolean {
    if (typeof container === 'string' || Array.isArray(container)) this.charge(container.length, at);
    if (typeof container === 'string') {
      if (typeof item !== 'string') this.fail(`TypeError: 'in <string>' requires string as left operand, not ${typeName(item)}`, 'config.type-error', at);
      return container.includes(item);
    }
    if (Array.isArray(container)) return container.some((x) => this.eq(x, item));
    if (container instanceof PyDict) {
      this.hashable(item, at);
      return container.has(item);
    }
    if (container instanceof PySet) {
      this.hashable(item, at);
      return container.has(item);
    }
    if (container instanceof PyRange) return isInt(item) && this.iterate(container, at).some((x) => x === num(item));
    this.fail(`TypeError: argument of type '${typeName(container)}' is not iterable`, 'config.type-error', at);
  }

  private compareOp(op: string, a: PyValue, b: PyValue, at: Range): boolean {
    switch (op) {
      case '==':
      case '!=': {
        if (Array.isArray(a) || a instanceof PyDict || typeof a === 'string') this.charge(Array.isArray(a) ? a.length : a instanceof PyDict ? a.size : a.length >> 3, at);
        return op === '==' ? this.eq(a, b) : !this.eq(a, b);
      }
      case 'in': return this.contains(b, a, at);
      case 'not in': return !this.contains(b, a, at);
      case 'is': return a === b || (a === null && b === null);
      case 'is not': return !(a === b);
      case '<': return this.cmp(a, b, at, op) < 0;
      case '<=': return this.cmp(a, b, at, op) <= 0;
      case '>': return this.cmp(a, b, at, op) > 0;
      case '>=': return this.cmp(a, b, at, op) >= 0;
    }
    return false;
  }

  /** `copy.deepcopy`: shares nothing with the source, keeps aliasing inside, keeps origins. */
  deepcopy(v: PyValue, at: Range, memo = new Map<object, PyValue>(), depth = 0): PyValue {
    if (v === null || typeof v !== 'object' || v instanceof PyFloat || v instanceof PyBuiltin || v instanceof PyModule || v instanceof PyRange) return v;
    if (depth > 500) this.limit('value nested too deeply (more than 500 levels) or refers to itself', at);
    const seen = memo.get(v);
    if (seen !== undefined) return seen;
    if (Array.isArray(v)) {
      const out: PyValue[] = v instanceof PyTuple ? new PyTuple<PyValue>() : [];
      memo.set(v, out);
      this.charge(v.length, at);
      for (const x of v) out.push(this.deepcopy(x, at, memo, depth + 1));
      const o = listOrigins.get(v);
      if (o) listOrigins.set(out, o.slice());
      return out;
    }
    if (v instanceof PyDict) {
      const d = new PyDict();
      d.configDict = v.configDict;
      memo.set(v, d);
      this.charge(v.size, at);
      for (const e of v.entries()) {
        const ne: DictEntry = { key: e.key, value: this.deepcopy(e.value, at, memo, depth + 1), origin: e.origin };
        if (e.history) ne.history = e.history;
        d.setEntry(ne);
      }
      return d;
    }
    const s = new PySet();
    memo.set(v, s);
    for (const x of v.values()) s.add(x);
    return s;
  }
}

/** Python float `divmod` (floor division and modulo with the divisor's sign). */
function pyFloatMod(x: number, y: number): [number, number] {
  let mod = x % y;
  let div = (x - mod) / y;
  if (mod) {
    if (y < 0 !== mod < 0) {
      mod += y;
      div -= 1;
    }
  } else mod = y < 0 ? -0 : 0;
  let floordiv: number;
  if (div) {
    floordiv = Math.floor(div);
    if (div - floordiv > 0.5) floordiv += 1;
  } else floordiv = x / y < 0 ? -0 : 0;
  return [floordiv, mod];
}

function pick(r: Range): Range {
  return { line: r.line, column: r.column, endLine: r.endLine, endColumn: r.endColumn };
}

// ---- builtins --------------------------------------------------------------------------------------

function kw(kwargs: [string, PyValue][], allowed: string[], call: { typeError(m: string): never }, fname: string): Map<string, PyValue> {
  const m = new Map<string, PyValue>();
  for (const [k, v] of kwargs) {
    if (!allowed.includes(k)) return call.typeError(`${fname}() got an unexpected keyword argument '${k}'`);
    m.set(k, v);
  }
  return m;
}

function argc(args: PyValue[], min: number, max: number, call: { typeError(m: string): never }, fname: string): void {
  if (args.length < min || args.length > max) {
    call.typeError(
      min === max ? `${fname}() takes exactly ${min} argument${min === 1 ? '' : 's'} (${args.length} given)` : `${fname}() takes from ${min} to ${max} arguments (${args.length} given)`,
    );
  }
}

function toInt(v: PyValue, call: import('./values').CallContext): number {
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return call.error(Number.isNaN(v) ? 'ValueError: cannot convert float NaN to integer' : 'OverflowError: cannot convert float infinity to integer');
    return Math.trunc(v) || 0;
  }
  if (v instanceof PyFloat) {
    if (!Number.isFinite(v.v)) return call.error('OverflowError: cannot convert float infinity to integer');
    if (!Number.isSafeInteger(v.v)) return call.error('integer too large: config values are limited to integers of magnitude below 2**53', 'config.limit');
    return v.v || 0;
  }
  if (typeof v === 'string') {
    const s = v.trim();
    if (!/^[+-]?\d+(?:_\d+)*$/.test(s)) return call.error(`ValueError: invalid literal for int() with base 10: ${repr(v)}`);
    const n = Number(s.replace(/_/g, ''));
    if (!Number.isSafeInteger(n)) return call.error('integer too large: config values are limited to integers of magnitude below 2**53', 'config.limit');
    return n;
  }
  call.typeError(`int() argument must be a string or a real number, not '${typeName(v)}'`);
}

function toFloat(v: PyValue, call: import('./values').CallContext): number {
  if (isNumber(v)) return num(v);
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase().replace(/_/g, '');
    if (/^[+-]?(inf|infinity)$/.test(s)) return s.startsWith('-') ? -Infinity : Infinity;
    if (/^[+-]?nan$/.test(s)) return NaN;
    if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(s)) return call.error(`ValueError: could not convert string to float: ${repr(v)}`);
    return Number(s);
  }
  call.typeError(`float() argument must be a string or a real number, not '${typeName(v)}'`);
}

function minmax(name: 'min' | 'max', args: PyValue[], kwargs: [string, PyValue][], call: import('./values').CallContext): PyValue {
  const k = kw(kwargs, ['default', 'key'], call, name);
  if (k.has('key') && k.get('key') !== null) return call.error(`${name}(key=...) is not supported in config files`, 'config.unsupported');
  const items = args.length === 1 ? call.iterate(args[0]) : args;
  call.work(items.length);
  if (args.length === 0) return call.typeError(`${name} expected at least 1 argument, got 0`);
  if (items.length === 0) {
    if (k.has('default')) return k.get('default') as PyValue;
    call.error(`ValueError: ${name}() arg is an empty sequence`);
  }
  let best = items[0];
  for (let i = 1; i < items.length; i++) {
    const c = call.compare(items[i], best);
    if (name === 'min' ? c < 0 : c > 0) best = items[i];
  }
  return best;
}

function makeBuiltins(): Map<string, PyBuiltin> {
  const b = new Map<string, PyBuiltin>();
  const def = (name: string, impl: import('./values').BuiltinImpl) => b.set(name, new PyBuiltin(name, impl));
  def('dict', () => new PyDict()); // handled by the evaluator (keeps origins)
  def('len', (args, kwargs, c) => {
    argc(args, 1, 1, c, 'len');
    kw(kwargs, [], c, 'len');
    const v = args[0];
    if (typeof v === 'string') {
      c.work(v.length >> 3);
      return [...v].length;
    }
    if (Array.isArray(v)) return v.length;
    if (v instanceof PyDict) return v.size;
    if (v instanceof PySet) return v.map.size;
    if (v instanceof PyRange) return v.length;
    return c.typeError(`object of type '${typeName(v)}' has no len()`);
  });
  def('range', (args, kwargs, c) => {
    argc(args, 1, 3, c, 'range');
    kw(kwargs, [], c, 'range');
    for (const a of args) if (!isInt(a)) return c.typeError(`'${typeName(a)}' object cannot be interpreted as an integer`);
    const n = args.map((a) => num(a as number));
    const [start, stop, step] = n.length === 1 ? [0, n[0], 1] : [n[0], n[1], n[2] ?? 1];
    if (step === 0) return c.error('ValueError: range() arg 3 must not be zero');
    return new PyRange(start, stop, step);
  });
  def('int', (args, kwargs, c) => {
    argc(args, 0, 1, c, 'int');
    kw(kwargs, [], c, 'int');
    return args.length ? toInt(args[0], c) : 0;
  });
  def('float', (args, kwargs, c) => {
    argc(args, 0, 1, c, 'float');
    kw(kwargs, [], c, 'float');
    return mkFloat(args.length ? toFloat(args[0], c) : 0);
  });
  def('str', (args, kwargs, c) => {
    argc(args, 0, 1, c, 'str');
    kw(kwargs, [], c, 'str');
    return args.length ? c.str(args[0]) : '';
  });
  def('repr', (args, kwargs, c) => {
    argc(args, 1, 1, c, 'repr');
    return c.repr(args[0]);
  });
  def('bool', (args, kwargs, c) => {
    argc(args, 0, 1, c, 'bool');
    return args.length ? c.truthy(args[0]) : false;
  });
  def('abs', (args, kwargs, c) => {
    argc(args, 1, 1, c, 'abs');
    const v = args[0];
    if (!isNumber(v)) return c.typeError(`bad operand type for abs(): '${typeName(v)}'`);
    return isInt(v) ? Math.abs(num(v)) : mkFloat(Math.abs(num(v)));
  });
  def('round', (args, kwargs, c) => {
    argc(args, 1, 2, c, 'round');
    const k = kw(kwargs, ['ndigits'], c, 'round');
    const v = args[0];
    const nd = args.length > 1 ? args[1] : k.has('ndigits') ? (k.get('ndigits') as PyValue) : null;
    if (!isNumber(v)) return c.typeError(`type ${typeName(v)} doesn't define __round__ method`);
    if (nd !== null && !isInt(nd)) return c.typeError(`'${typeName(nd)}' object cannot be interpreted as an integer`);
    const x = num(v);
    if (nd === null) {
      if (isInt(v)) return x;
      if (!Number.isFinite(x)) return c.error(Number.isNaN(x) ? 'ValueError: cannot convert float NaN to integer' : 'OverflowError: cannot convert float infinity to integer');
      const r = roundHalfEven(x);
      if (!Number.isSafeInteger(r)) return c.error('integer too large: config values are limited to integers of magnitude below 2**53', 'config.limit');
      return r || 0;
    }
    const n = num(nd);
    if (isInt(v)) {
      if (n >= 0) return x;
      const p = Math.pow(10, -n);
      return roundHalfEven(x / p) * p;
    }
    return mkFloat(roundFloat(x, n));
  });
  def('min', (args, kwargs, c) => minmax('min', args, kwargs, c));
  def('max', (args, kwargs, c) => minmax('max', args, kwargs, c));
  def('sum', (args, kwargs, c) => {
    argc(args, 1, 2, c, 'sum');
    const k = kw(kwargs, ['start'], c, 'sum');
    let acc: PyValue = args.length > 1 ? args[1] : k.has('start') ? (k.get('start') as PyValue) : 0;
    if (typeof acc === 'string') return c.typeError("sum() can't sum strings [use ''.join(seq) instead]");
    const items = c.iterate(args[0]);
    let allInt = isInt(acc);
    let total = isNumber(acc) ? num(acc) : 0;
    let numeric = isNumber(acc);
    for (const it of items) {
      if (numeric && isNumber(it)) {
        total += num(it);
        if (!isInt(it)) allInt = false;
        continue;
      }
      if (numeric) {
        acc = allInt ? total : mkFloat(total);
        numeric = false;
      }
      if (Array.isArray(acc) && Array.isArray(it) && (acc instanceof PyTuple) === (it instanceof PyTuple)) {
        c.charge(acc.length + it.length);
        acc = acc instanceof PyTuple ? PyTuple.from_([...acc, ...it]) : [...acc, ...it];
      } else c.typeError(`unsupported operand type(s) for +: '${typeName(acc)}' and '${typeName(it)}'`);
    }
    if (numeric) {
      if (allInt && !Number.isSafeInteger(total)) return c.error('integer too large: config values are limited to integers of magnitude below 2**53', 'config.limit');
      return allInt ? total : mkFloat(total);
    }
    return acc;
  });
  def('list', (args, kwargs, c) => {
    argc(args, 0, 1, c, 'list');
    if (args.length === 0) return [];
    const v = args[0];
    const out = c.iterate(v);
    if (Array.isArray(v)) {
      const o = listOrigins.get(v);
      if (o) listOrigins.set(out, o.slice());
    }
    return out;
  });
  def('tuple', (args, kwargs, c) => {
    argc(args, 0, 1, c, 'tuple');
    if (args.length === 0) return new PyTuple();
    const v = args[0];
    const out = PyTuple.from_(c.iterate(v));
    if (Array.isArray(v)) {
      const o = listOrigins.get(v);
      if (o) listOrigins.set(out, o.slice());
    }
    return out;
  });
  def('set', (args, kwargs, c) => {
    argc(args, 0, 1, c, 'set');
    const s = new PySet();
    if (args.length) for (const x of c.iterate(args[0])) s.add(x);
    return s;
  });
  def('sorted', (args, kwargs, c) => {
    argc(args, 1, 1, c, 'sorted');
    const k = kw(kwargs, ['key', 'reverse'], c, 'sorted');
    if (k.has('key') && k.get('key') !== null) return c.error('sorted(key=...) is not supported in config files', 'config.unsupported');
    const items = c.iterate(args[0]);
    c.work(Math.ceil(items.length * Math.log2(items.length + 2)));
    // A stable merge sort: Array.prototype.sort is stable too, and Python's sort is stable.
    items.sort((a, b) => c.compare(a, b));
    if (k.has('reverse') && c.truthy(k.get('reverse') as PyValue)) {
      // reverse=True keeps equal items in their original order, as Python does.
      const rev = c.iterate(args[0]);
      rev.sort((a, b) => -c.compare(a, b));
      return rev;
    }
    return items;
  });
  def('reversed', (args, kwargs, c) => {
    argc(args, 1, 1, c, 'reversed');
    return c.iterate(args[0]).reverse();
  });
  def('zip', (args, kwargs, c) => {
    kw(kwargs, ['strict'], c, 'zip');
    const lists = args.map((a) => c.iterate(a));
    const n = lists.length ? Math.min(...lists.map((l) => l.length)) : 0;
    c.charge(n);
    const out: PyValue[] = [];
    for (let i = 0; i < n; i++) out.push(PyTuple.from_(lists.map((l) => l[i])));
    return out;
  });
  def('enumerate', (args, kwargs, c) => {
    argc(args, 1, 2, c, 'enumerate');
    const k = kw(kwargs, ['start'], c, 'enumerate');
    const st = args.length > 1 ? args[1] : k.has('start') ? (k.get('start') as PyValue) : 0;
    if (!isInt(st)) return c.typeError(`'${typeName(st)}' object cannot be interpreted as an integer`);
    const items = c.iterate(args[0]);
    c.charge(items.length);
    return items.map((x, i) => PyTuple.from_([num(st) + i, x]) as PyValue);
  });
  def('any', (args, kwargs, c) => {
    argc(args, 1, 1, c, 'any');
    return c.iterate(args[0]).some((x) => c.truthy(x));
  });
  def('all', (args, kwargs, c) => {
    argc(args, 1, 1, c, 'all');
    return c.iterate(args[0]).every((x) => c.truthy(x));
  });
  def('__deepcopy', (args, kwargs, c) => {
    argc(args, 1, 1, c, 'deepcopy');
    return c.deepcopy(args[0]);
  });
  def('__copy', (args, kwargs, c) => {
    argc(args, 1, 1, c, 'copy');
    const v = args[0];
    if (v instanceof PyDict) return v.copy();
    if (v instanceof PyTuple) return v;
    if (Array.isArray(v)) return v.slice();
    return v;
  });
  return b;
}

function dictMethod(name: string): import('./values').BuiltinImpl {
  return (args, kwargs, c) => {
    const d = args[0] as PyDict;
    const rest = args.slice(1);
    switch (name) {
      case 'items': return d.keys().length === 0 ? [] : [...d.entries()].map((e) => PyTuple.from_([e.key, e.value]) as PyValue);
      case 'keys': return d.keys();
      case 'values': return [...d.entries()].map((e) => e.value);
      case 'get': {
        argc(rest, 1, 2, c, 'get');
        const e = d.get(rest[0]);
        return e ? e.value : rest.length > 1 ? rest[1] : null;
      }
      case 'copy': return d.copy();
      case 'pop': {
        argc(rest, 1, 2, c, 'pop');
        const e = d.get(rest[0]);
        if (!e) {
          if (rest.length > 1) return rest[1];
          return c.error(`KeyError: ${c.repr(rest[0])}`, 'config.key-error');
        }
        assertMutable(d);
        d.delete(rest[0]);
        return e.value;
      }
      case 'setdefault': {
        argc(rest, 1, 2, c, 'setdefault');
        const e = d.get(rest[0]);
        if (e) return e.value;
        const v = rest.length > 1 ? rest[1] : null;
        assertMutable(d);
        d.set(rest[0], v);
        return v;
      }
    }
    return null;
  };
}

function listMethod(name: string): import('./values').BuiltinImpl {
  return (args, kwargs, c) => {
    const l = args[0] as PyValue[];
    const rest = args.slice(1);
    switch (name) {
      case 'index': {
        argc(rest, 1, 1, c, 'index');
        for (let i = 0; i < l.length; i++) if (c.compare(l[i], rest[0]) === 0 && typeName(l[i]) !== 'dict') return i;
        const i = l.findIndex((x) => sameValue(x, rest[0], c));
        if (i < 0) return c.error(`ValueError: ${c.repr(rest[0])} is not in ${l instanceof PyTuple ? 'tuple' : 'list'}`);
        return i;
      }
      case 'count':
        argc(rest, 1, 1, c, 'count');
        return l.filter((x) => sameValue(x, rest[0], c)).length;
      case 'copy': return l.slice();
      case 'append':
        argc(rest, 1, 1, c, 'append');
        c.charge(l.length + 1);
        assertMutable(l);
        l.push(rest[0]);
        listOrigins.get(l)?.push(undefined);
        return null;
      case 'extend': {
        argc(rest, 1, 1, c, 'extend');
        const items = c.iterate(rest[0]);
        c.charge(l.length + items.length);
        assertMutable(l);
        l.push(...items);
        listOrigins.get(l)?.push(...new Array<undefined>(items.length).fill(undefined));
        return null;
      }
      case 'insert': {
        argc(rest, 2, 2, c, 'insert');
        if (!isInt(rest[0])) return c.typeError('an integer is required');
        let i = num(rest[0] as number);
        if (i < 0) i = Math.max(0, l.length + i);
        i = Math.min(i, l.length);
        c.charge(l.length + 1);
        assertMutable(l);
        l.splice(i, 0, rest[1]);
        listOrigins.get(l)?.splice(i, 0, undefined);
        return null;
      }
    }
    return null;
  };
}

function sameValue(a: PyValue, b: PyValue, c: import('./values').CallContext): boolean {
  try {
    return c.compare(a, b) === 0 && typeName(a) === typeName(b);
  } catch {
    return c.repr(a) === c.repr(b);
  }
}

function strMethod(name: string, ev: Evaluator): import('./values').BuiltinImpl {
  return (args, kwargs, c) => {
    const s = args[0] as string;
    const rest = args.slice(1);
    const needStr = (v: PyValue, what: string): string => {
      if (typeof v !== 'string') return c.typeError(`${what} must be str, not ${typeName(v)}`);
      return v;
    };
    switch (name) {
      case 'format': return strFormat(s, rest, kwargs, c, ev);
      case 'join': {
        argc(rest, 1, 1, c, 'join');
        const items = c.iterate(rest[0]);
        let total = s.length * Math.max(0, items.length - 1);
        items.forEach((x, i) => {
          if (typeof x !== 'string') return c.typeError(`sequence item ${i}: expected str instance, ${typeName(x)} found`);
          total += x.length;
        });
        c.charge(total);
        const out = (items as string[]).join(s);
        c.charge(out.length);
        return out;
      }
      case 'split':
      case 'rsplit': {
        const k = kw(kwargs, ['sep', 'maxsplit'], c, name);
        const sep = rest.length > 0 ? rest[0] : k.get('sep') ?? null;
        const maxsplit = rest.length > 1 ? rest[1] : k.get('maxsplit') ?? -1;
        if (!isInt(maxsplit)) return c.typeError('maxsplit must be an integer');
        const max = num(maxsplit);
        let parts: string[];
        if (sep === null) {
          parts = s.trim().split(/\s+/).filter((x) => x !== '');
        } else {
          const sp = needStr(sep, 'sep');
          if (sp === '') return c.error('ValueError: empty separator');
          parts = s.split(sp);
        }
        if (max >= 0 && parts.length > max + 1) {
          const sp = sep === null ? ' ' : (sep as string);
          parts = name === 'split' ? [...parts.slice(0, max), parts.slice(max).join(sp)] : [parts.slice(0, parts.length - max).join(sp), ...parts.slice(parts.length - max)];
        }
        c.charge(parts.length);
        return parts;
      }
      case 'replace': {
        argc(rest, 2, 3, c, 'replace');
        const a = needStr(rest[0], 'replace() argument 1');
        const b = needStr(rest[1], 'replace() argument 2');
        const count = rest.length > 2 ? num(rest[2] as number) : -1;
        let out = '';
        let i = 0;
        let n = 0;
        if (a === '') {
          const chars = [...s];
          out = b;
          chars.forEach((ch, j) => {
            out += ch + (count < 0 || j + 1 < count ? b : '');
          });
          c.charge(out.length);
          return out;
        }
        for (;;) {
          const j = s.indexOf(a, i);
          if (j < 0 || (count >= 0 && n >= count)) break;
          out += s.slice(i, j) + b;
          i = j + a.length;
          n++;
          if (out.length > LIMITS.maxItems) c.charge(out.length);
        }
        out += s.slice(i);
        c.charge(out.length);
        return out;
      }
      case 'upper': return s.toUpperCase();
      case 'lower': return s.toLowerCase();
      case 'title': return s.toLowerCase().replace(/(^|[^a-zA-Z])([a-z])/g, (m, p: string, ch: string) => p + ch.toUpperCase());
      case 'capitalize': return s.charAt(0).toUpperCase() + s.slice(1).toLowerCase();
      case 'strip':
      case 'lstrip':
      case 'rstrip': {
        const chars = rest.length && rest[0] !== null ? needStr(rest[0], `${name} arg`) : null;
        const isStrip = (ch: string) => (chars === null ? /\s/.test(ch) : chars.includes(ch));
        let a = 0;
        let b = s.length;
        if (name !== 'rstrip') while (a < b && isStrip(s[a])) a++;
        if (name !== 'lstrip') while (b > a && isStrip(s[b - 1])) b--;
        return s.slice(a, b);
      }
      case 'startswith':
      case 'endswith': {
        argc(rest, 1, 1, c, name);
        const opts = rest[0] instanceof PyTuple ? [...rest[0]] : [rest[0]];
        return opts.some((o) => (name === 'startswith' ? s.startsWith(needStr(o, `${name} arg`)) : s.endsWith(needStr(o, `${name} arg`))));
      }
      case 'zfill': {
        argc(rest, 1, 1, c, 'zfill');
        const w = num(rest[0] as number);
        c.charge(w);
        const sign = s[0] === '-' || s[0] === '+' ? s[0] : '';
        const body = sign ? s.slice(1) : s;
        return sign + body.padStart(w - sign.length, '0');
      }
      case 'count': {
        argc(rest, 1, 1, c, 'count');
        const sub = needStr(rest[0], 'count arg');
        c.work(s.length >> 3);
        if (sub === '') return [...s].length + 1;
        return s.split(sub).length - 1;
      }
      case 'find': {
        argc(rest, 1, 1, c, 'find');
        c.work(s.length >> 3);
        return s.indexOf(needStr(rest[0], 'find arg'));
      }
      case 'isdigit': return s.length > 0 && /^\d+$/.test(s);
    }
    return null;
  };
}

/** `str.format`: `{}`, `{0}`, `{name}`, `{name.attr}`, `{name[0]}`, `!r`, `:spec` with nested fields. */
function strFormat(fmt: string, args: PyValue[], kwargs: [string, PyValue][], c: import('./values').CallContext, ev: Evaluator): string {
  let auto = 0;
  const kwmap = new Map(kwargs);
  const at = c.range;
  const field = (text: string, depth: number): string => {
    const m = /^([^.[!:]*)((?:\.[^.[!:]+|\[[^\]]*\])*)(?:!([rsa]))?(?::([\s\S]*))?$/.exec(text);
    if (!m) return c.error(`ValueError: invalid format field '{${text}}'`);
    let v: PyValue;
    if (m[1] === '') {
      if (auto < 0) return c.error('ValueError: cannot switch from manual field specification to automatic field numbering');
      if (auto >= args.length) return c.error(`IndexError: Replacement index ${auto} out of range for positional args tuple`, 'config.index-error');
      v = args[auto++];
    } else if (/^\d+$/.test(m[1])) {
      const i = Number(m[1]);
      if (i >= args.length) return c.error(`IndexError: Replacement index ${i} out of range for positional args tuple`, 'config.index-error');
      v = args[i];
    } else {
      if (!kwmap.has(m[1])) return c.error(`KeyError: '${m[1]}'`, 'config.key-error');
      v = kwmap.get(m[1]) as PyValue;
    }
    const re = /\.([^.[]+)|\[([^\]]*)\]/g;
    let p: RegExpExecArray | null;
    while ((p = re.exec(m[2])) !== null) {
      if (p[1] !== undefined) {
        if (p[1].startsWith('__')) return c.error(`access to the attribute '${p[1]}' is not allowed in config files`, 'config.unsupported');
        if (v instanceof PyDict && v.configDict && v.getStr(p[1])) v = (v.getStr(p[1]) as DictEntry).value;
        else c.error(`AttributeError: '${typeName(v)}' object has no attribute '${p[1]}'`, 'config.attribute-error');
      } else {
        const key: PyValue = /^\d+$/.test(p[2]) ? Number(p[2]) : p[2];
        v = ev.subscript(v, key, at);
      }
    }
    if (m[3] === 'r' || m[3] === 'a') v = c.repr(v);
    else if (m[3] === 's') v = c.str(v);
    const spec = m[4] !== undefined ? render(m[4], depth + 1) : '';
    return ev.format(v, spec, at);
  };
  const render = (s: string, depth: number): string => {
    if (depth > 2) return c.error('ValueError: Max string recursion exceeded');
    let out = '';
    for (let i = 0; i < s.length; ) {
      const ch = s[i];
      if (ch === '{' && s[i + 1] === '{') {
        out += '{';
        i += 2;
      } else if (ch === '}' && s[i + 1] === '}') {
        out += '}';
        i += 2;
      } else if (ch === '{') {
        let d = 1;
        let j = i + 1;
        for (; j < s.length; j++) {
          if (s[j] === '{') d++;
          else if (s[j] === '}' && --d === 0) break;
        }
        if (j >= s.length) return c.error("ValueError: expected '}' before end of string");
        out += field(s.slice(i + 1, j), depth);
        i = j + 1;
      } else if (ch === '}') {
        c.error("ValueError: Single '}' encountered in format string");
      } else {
        out += ch;
        i++;
      }
      if (out.length > LIMITS.maxItems) c.charge(out.length);
    }
    return out;
  };
  return render(fmt, 0);
}

export { toFixedPy };
