/**
 * A lexical reading of config text that needs no successful parse: where the cursor is (which key
 * path, key or value position, inside which string), the tokens for highlighting and the bracket
 * pairs for folding. Half-typed text (`backbone=dict(type='Res`) is the normal case here, so this
 * works on characters and brackets only and never fails.
 */

export type Segment = string | number;

export interface Frame {
  /** `dict` for `dict(` and `{`; `list` for `[` and bare `(`; `call` for other calls (opaque). */
  kind: 'root' | 'dict' | 'list' | 'call';
  open: string;
  /** Offset of the opening bracket. */
  start: number;
  /** This frame's key in its parent (undefined inside an opaque call). */
  seg: Segment | undefined;
  /** The key whose value is being written in this frame (`name=` / `'name':` / top-level `name =`). */
  pendingKey?: string;
  /** Offset of the pending key's first character. */
  pendingKeyStart?: number;
  /** Element index in a list frame. */
  index: number;
  /** `type='X'` seen in this frame. */
  typeName?: string;
  /** The callee for `call` frames. */
  callee?: string;
}

export interface Token {
  kind: 'name' | 'string' | 'number' | 'op' | 'comment';
  start: number;
  end: number;
  text: string;
}

export interface StringInfo {
  /** Offset of the opening quote (after any prefix). */
  start: number;
  /** Offset of the first character of the contents. */
  contentStart: number;
  quote: string;
  /** The contents before the cursor. */
  before: string;
}

export interface CursorContext {
  /** Frames from the root outwards; the last one holds the cursor. */
  frames: Frame[];
  /** Key path of the innermost frame (undefined inside an opaque call such as `len(...)`). */
  path: Segment[] | undefined;
  /** The cursor is inside a string literal. */
  string?: StringInfo;
  /** Identifier characters immediately before the cursor. */
  word: string;
  /** The cursor stands where a key is written (a `dict(` argument name, a top-level name). */
  keyPosition: boolean;
  /** The key whose value holds the cursor, when in value position. */
  valueKey?: string;
  /** The top-level statement's key (`model` in `model = dict(...)`). */
  topKey?: string;
}

const ID_START = /[A-Za-z_\u00c0-\uffff]/;
const ID_PART = /[A-Za-z0-9_\u00c0-\uffff]/;

/** Tokens of Python text (comments included, whitespace and newlines left out). Never throws. */
export function tokenize(text: string, stop = text.length): Token[] {
  const out: Token[] = [];
  let i = 0;
  const n = Math.min(stop, text.length);
  while (i < n) {
    const c = text[i];
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n' || c === '\f' || c === '\\') {
      i++;
      continue;
    }
    if (c === '#') {
      let j = text.indexOf('\n', i);
      if (j < 0) j = text.length;
      out.push({ kind: 'comment', start: i, end: j, text: text.slice(i, j) });
      i = j;
      continue;
    }
    // String, with an optional prefix (r, b, f, u, rb, br, fr, rf).
    const pre = /^(?:[rRbBfFuU]|[rR][bBfF]|[bBfF][rR])?(['"])/.exec(text.slice(i, i + 4));
    if (pre && (pre[0].length === 1 || ID_START.test(c))) {
      const q = pre[1];
      const qStart = i + pre[0].length - 1;
      const triple = text.startsWith(q.repeat(3), qStart);
      const delim = triple ? q.repeat(3) : q;
      let j = qStart + delim.length;
      const raw = /[rR]/.test(pre[0].slice(0, -1));
      while (j < text.length) {
        const d = text[j];
        if (d === '\\' && !raw) {
          j += 2;
          continue;
        }
        if (d === '\\' && raw) {
          j += 2;
          continue;
        }
        if (!triple && d === '\n') break;
        if (text.startsWith(delim, j)) {
          j += delim.length;
          break;
        }
        j++;
      }
      j = Math.min(j, text.length);
      out.push({ kind: 'string', start: i, end: j, text: text.slice(i, j) });
      i = j;
      continue;
    }
    if (ID_START.test(c)) {
      let j = i + 1;
      while (j < text.length && ID_PART.test(text[j])) j++;
      out.push({ kind: 'name', start: i, end: j, text: text.slice(i, j) });
      i = j;
      continue;
    }
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(text[i + 1] ?? ''))) {
      const m = /^(?:0[xXoObB][0-9a-fA-F_]+|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d+)?j?)/.exec(text.slice(i, i + 64));
      const len = m ? Math.max(1, m[0].length) : 1;
      out.push({ kind: 'number', start: i, end: i + len, text: text.slice(i, i + len) });
      i += len;
      continue;
    }
    const two = text.slice(i, i + 2);
    const op = ['==', '!=', '<=', '>=', '**', '//', '<<', '>>', '->', ':='].includes(two) ? two : c;
    out.push({ kind: 'op', start: i, end: i + op.length, text: op });
    i += op.length;
  }
  return out;
}

/** The contents of a string token (quotes and prefix removed; escapes kept as written). */
export function stringContents(tok: Token): { value: string; contentStart: number; quote: string } {
  const m = /^[rRbBfFuU]{0,2}('''|"""|'|")/.exec(tok.text);
  const quote = m ? m[1] : "'";
  const prefix = m ? m[0].length : 1;
  let body = tok.text.slice(prefix);
  if (body.endsWith(quote) && body.length >= quote.length) body = body.slice(0, body.length - quote.length);
  return { value: body, contentStart: tok.start + prefix, quote };
}

function isLineStart(text: string, offset: number): boolean {
  for (let k = offset - 1; k >= 0; k--) {
    const ch = text[k];
    if (ch === '\n') return true;
    if (ch !== ' ' && ch !== '\t') return false;
  }
  return true;
}

/**
 * Reads the text up to `offset` and returns the bracket frames open there, with the key path each
 * stands for.
 */
export function contextAt(text: string, offset: number): CursorContext {
  offset = Math.max(0, Math.min(offset, text.length));
  const toks = tokenize(text);
  const root: Frame = { kind: 'root', open: '', start: 0, seg: undefined, index: 0 };
  const frames: Frame[] = [root];
  let inString: StringInfo | undefined;
  let topKey: string | undefined;
  let lastTok: Token | undefined;
  for (let t = 0; t < toks.length; t++) {
    const tok = toks[t];
    if (tok.start >= offset) break;
    if (tok.kind === 'comment') {
      if (tok.end >= offset) return { frames, path: pathOf(frames, topKey), word: '', keyPosition: false, topKey };
      continue;
    }
    const top = frames[frames.length - 1];
    if (tok.kind === 'string') {
      const sc = stringContents(tok);
      const closed = tok.text.length > sc.contentStart - tok.start && tok.end > sc.contentStart && text.slice(tok.end - sc.quote.length, tok.end) === sc.quote && tok.end - sc.quote.length >= sc.contentStart;
      if (offset > tok.start && (offset < tok.end || (offset === tok.end && !closed))) {
        if (offset >= sc.contentStart) {
          inString = { start: sc.contentStart - sc.quote.length, contentStart: sc.contentStart, quote: sc.quote, before: text.slice(sc.contentStart, offset) };
          break;
        }
      }
      const next = toks[t + 1];
      if (top.kind === 'dict' && top.open === '{' && next && next.text === ':' && next.start < offset) {
        top.pendingKey = sc.value;
        top.pendingKeyStart = sc.contentStart;
      } else if (top.pendingKey === 'type' && (top.kind === 'dict')) {
        top.typeName = sc.value;
      }
      lastTok = tok;
      continue;
    }
    if (tok.kind === 'name') {
      const next = toks[t + 1];
      if (frames.length === 1 && isLineStart(text, tok.start) && next && next.text === '=' && next.start < offset) {
        topKey = tok.text;
        root.pendingKey = tok.text;
        root.pendingKeyStart = tok.start;
      } else if (frames.length === 1 && isLineStart(text, tok.start)) {
        topKey = undefined;
        root.pendingKey = undefined;
      } else if (top.kind === 'dict' && top.open === '(' && next && next.text === '=' && next.start < offset && (!lastTok || lastTok.text === '(' || lastTok.text === ',')) {
        top.pendingKey = tok.text;
        top.pendingKeyStart = tok.start;
      }
      lastTok = tok;
      continue;
    }
    if (tok.kind === 'op') {
      const o = tok.text;
      if (o === '(' || o === '[' || o === '{') {
        let kind: Frame['kind'];
        let callee: string | undefined;
        if (o === '(') {
          if (lastTok && lastTok.kind === 'name' && lastTok.end === tok.start || (lastTok && lastTok.kind === 'name' && /^\s*$/.test(text.slice(lastTok.end, tok.start)))) {
            callee = lastTok.text;
            kind = callee === 'dict' ? 'dict' : 'call';
          } else if (lastTok && (lastTok.text === ')' || lastTok.text === ']')) {
            kind = 'call';
          } else kind = 'list';
        } else if (o === '[') {
          kind = lastTok && (lastTok.kind === 'name' || lastTok.kind === 'string' || lastTok.text === ')' || lastTok.text === ']') ? 'call' : 'list';
        } else kind = 'dict';
        const seg: Segment | undefined =
          top.kind === 'root' ? top.pendingKey : top.kind === 'dict' ? top.pendingKey : top.kind === 'list' ? top.index : undefined;
        // `x = dict(...)` where the key is opaque (a call argument) keeps the frame but loses the path.
        const frame: Frame = { kind, open: o, start: tok.start, seg: top.kind === 'call' ? undefined : seg, index: 0 };
        if (callee) frame.callee = callee;
        frames.push(frame);
      } else if (o === ')' || o === ']' || o === '}') {
        if (frames.length > 1) frames.pop();
      } else if (o === ',') {
        top.index++;
        if (top.kind !== 'root') {
          top.pendingKey = undefined;
          top.pendingKeyStart = undefined;
        }
      }
      lastTok = tok;
      continue;
    }
    lastTok = tok;
  }
  const top = frames[frames.length - 1];
  let word = '';
  if (!inString) {
    let k = offset;
    while (k > 0 && ID_PART.test(text[k - 1])) k--;
    word = text.slice(k, offset);
  }
  let keyPosition = false;
  let valueKey: string | undefined;
  if (!inString) {
    const before = text.slice(0, offset - word.length);
    const prev = before.replace(/\s+$/, '');
    const prevCh = prev[prev.length - 1];
    if (top.kind === 'root') keyPosition = isLineStart(text, offset - word.length);
    else if (top.kind === 'dict' && top.open === '(') keyPosition = prevCh === '(' || prevCh === ',';
    else if (top.kind === 'dict' && top.open === '{') keyPosition = false;
    if (!keyPosition && top.pendingKey !== undefined && top.kind !== 'list') valueKey = top.pendingKey;
  } else if (top.pendingKey !== undefined && top.kind !== 'list') {
    const lastBefore = text.slice(0, inString.start).replace(/\s+$/, '');
    const ch = lastBefore[lastBefore.length - 1];
    if (ch === '=' || ch === ':') valueKey = top.pendingKey;
    else if (top.kind === 'dict' && top.open === '{' && (ch === '{' || ch === ',')) keyPosition = true;
  } else if (top.kind === 'dict' && top.open === '{') {
    const lastBefore = text.slice(0, inString.start).replace(/\s+$/, '');
    const ch = lastBefore[lastBefore.length - 1];
    if (ch === '{' || ch === ',') keyPosition = true;
  }
  return { frames, path: pathOf(frames, topKey), ...(inString ? { string: inString } : {}), word, keyPosition, ...(valueKey !== undefined ? { valueKey } : {}), ...(topKey ? { topKey } : {}) };
}

function pathOf(frames: Frame[], topKey: string | undefined): Segment[] | undefined {
  if (frames.length === 1) return [];
  const out: Segment[] = [];
  for (let i = 1; i < frames.length; i++) {
    const f = frames[i];
    if (f.seg === undefined || f.kind === 'call') return undefined;
    out.push(f.seg);
  }
  void topKey;
  return out;
}

/** The token holding `offset` (or ending at it), if any. */
export function tokenAt(toks: Token[], offset: number): Token | undefined {
  let lo = 0;
  let hi = toks.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const t = toks[mid];
    if (offset < t.start) hi = mid - 1;
    else if (offset > t.end) lo = mid + 1;
    else {
      // Prefer a name/string over an operator that touches the same offset.
      if (offset === t.end && mid + 1 < toks.length && toks[mid + 1].start === offset && toks[mid + 1].kind !== 'op') return toks[mid + 1];
      if (offset === t.start && t.kind === 'op' && mid > 0 && toks[mid - 1].end === offset && toks[mid - 1].kind !== 'op') return toks[mid - 1];
      return t;
    }
  }
  return undefined;
}

/** Bracket pairs that span lines: `[openOffset, closeOffset]`. */
export function bracketPairs(text: string): [number, number][] {
  const out: [number, number][] = [];
  const stack: number[] = [];
  for (const t of tokenize(text)) {
    if (t.kind !== 'op') continue;
    if (t.text === '(' || t.text === '[' || t.text === '{') stack.push(t.start);
    else if ((t.text === ')' || t.text === ']' || t.text === '}') && stack.length) out.push([stack.pop() as number, t.start]);
  }
  return out;
}

/** `{{_base_.a.b` / `<<_base_.a[0].` immediately before the cursor: the path typed so far. */
export function baseRefBefore(lineBefore: string): { segments: string[]; partial: string } | undefined {
  const m = /(?:\{\{|<<)\s*_base_\.((?:[A-Za-z_][\w]*\.|\d+\.|[A-Za-z_]\w*\[\d+\]\.)*)([A-Za-z_]\w*)?$/.exec(lineBefore);
  if (!m) return undefined;
  const segments = m[1]
    .split('.')
    .filter((s) => s !== '')
    .flatMap((s) => {
      const mm = /^(\w+)((?:\[\d+\])*)$/.exec(s);
      if (!mm) return [s];
      return [mm[1], ...[...mm[2].matchAll(/\[(\d+)\]/g)].map((x) => x[1])];
    });
  return { segments, partial: m[2] ?? '' };
}
