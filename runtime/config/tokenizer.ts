import { SyntaxErrorInfo } from './ast';

/** Python tokens, with exact positions (see ast.ts for the conventions). */
export type TokenKind = 'name' | 'number' | 'string' | 'op' | 'newline' | 'indent' | 'dedent' | 'eof' | 'template';

export interface Token {
  kind: TokenKind;
  text: string;
  start: number;
  end: number;
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  /** First token of a physical line starting at column 1 (used for error recovery only). */
  lineStart0?: boolean;
  /** A NEWLINE made up to end a statement whose brackets were never closed (its error is reported already). */
  recovered?: boolean;
  /** String tokens: prefix letters (lowercased), quote, raw body and where the body starts. */
  prefix?: string;
  quote?: string;
  body?: string;
  bodyStart?: number;
}

/** Maps character offsets to 1-based line/column. */
export class LineMap {
  readonly starts: number[] = [0];
  constructor(readonly source: string) {
    for (let i = 0; i < source.length; i++) {
      const c = source.charCodeAt(i);
      if (c === 10) this.starts.push(i + 1);
      else if (c === 13) {
        if (source.charCodeAt(i + 1) === 10) i++;
        this.starts.push(i + 1);
      }
    }
  }
  position(offset: number): { line: number; column: number } {
    const s = this.starts;
    let lo = 0;
    let hi = s.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (s[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - s[lo] + 1 };
  }
}

const OPERATORS = [
  '**=', '//=', '>>=', '<<=', '...', '!=', '%=', '&=', '**', '*=', '+=', '-=', '->', '//', '/=', ':=', '<<', '<=', '==',
  '>=', '>>', '@=', '^=', '|=', '!', '%', '&', '(', ')', '*', '+', ',', '-', '.', '/', ':', ';', '<', '=', '>', '@', '[',
  ']', '^', '{', '|', '}', '~',
];
const OP3 = new Set(OPERATORS.filter((o) => o.length === 3));
const OP2 = new Set(OPERATORS.filter((o) => o.length === 2));
const OP1 = new Set(OPERATORS.filter((o) => o.length === 1));
/** Second characters of the two- and three-character operators. */
const OP_SECOND = new Set(OPERATORS.filter((o) => o.length > 1).map((o) => o.charCodeAt(1)));
const OPEN: Record<string, string> = { '(': ')', '[': ']', '{': '}' };
const CLOSE: Record<string, string> = { ')': '(', ']': '[', '}': '{' };

const ID_START = /[\p{L}\p{Nl}_]/u;
const ID_CONT = /[\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}]/u;
const STRING_PREFIX = /^(?:r|u|b|br|rb|f|fr|rf)$/i;
const NUMBER_RE =
  /(?:0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+|(?:(?:[0-9](?:_?[0-9])*)?\.[0-9](?:_?[0-9])*|[0-9](?:_?[0-9])*\.?)(?:[eE][+-]?[0-9](?:_?[0-9])*)?)[jJ]?/y;
/** `{{ fileDirname }}`, `{{$ENV:default}}`, `{{_base_.x}}` and `<<_base_.x>>` in code. */
export const TEMPLATE_RE =
  /\{\{\s*(?:fileDirname|fileBasename|fileBasenameNoExtension|fileExtname)\s*\}\}|\{\{['"]?\s*\$\w+\s*:\s*\S*?\s*['"]?\}\}|\{\{\s*_base_(?:\.\w+|\[\s*-?\d+\s*\]|\[\s*'[^'\n]*'\s*\]|\[\s*"[^"\n]*"\s*\])+\s*\}\}|<<\s*_base_(?:\.\w+|\[\s*-?\d+\s*\]|\[\s*'[^'\n]*'\s*\]|\[\s*"[^"\n]*"\s*\])+\s*>>/y;

export const MAX_NESTING = 200;

export interface TokenizeResult {
  tokens: Token[];
  errors: SyntaxErrorInfo[];
  /** Brackets were left open at the end (the caller may retry with recovery on). */
  unclosed: boolean;
}

/**
 * Tokenizes `source[from, to)`. In 'expr' mode (f-string fields, substituted text) there are no
 * NEWLINE/INDENT/DEDENT tokens. With `recover`, a line that starts at column 1 and looks like a new
 * statement closes brackets left open above it, so that half-typed files still parse line by line.
 */
export function tokenize(
  source: string,
  lines: LineMap,
  opts: { from?: number; to?: number; mode?: 'file' | 'expr'; recover?: boolean } = {},
): TokenizeResult {
  const from = opts.from ?? 0;
  const to = opts.to ?? source.length;
  const exprMode = opts.mode === 'expr';
  const tokens: Token[] = [];
  const errors: SyntaxErrorInfo[] = [];
  const stack: Token[] = [];
  const indents = [0];
  let i = from;
  let atBol = !exprMode;
  let lineStart = true;

  // Line bookkeeping: `starts` is ascending, and tokens come in order, so a moving cursor
  // replaces a binary search per position.
  const starts = lines.starts;
  let cur = 0;
  const lineOf = (offset: number): number => {
    if (offset < starts[cur]) cur = lines.position(offset).line - 1;
    while (cur + 1 < starts.length && starts[cur + 1] <= offset) cur++;
    return cur;
  };
  const make = (kind: TokenKind, s: number, e: number, text?: string): Token => {
    const l1 = lineOf(s);
    const c1 = s - starts[l1] + 1;
    const l2 = lineOf(e);
    // Every token has every field, so that all tokens share one object shape (the parser's
    // property reads stay monomorphic).
    return {
      kind, text: text ?? source.slice(s, e), start: s, end: e, line: l1 + 1, column: c1, endLine: l2 + 1, endColumn: e - starts[l2] + 1,
      lineStart0: false, recovered: false, prefix: undefined, quote: undefined, body: undefined, bodyStart: undefined,
    };
  };
  const error = (message: string, s: number, e: number) => {
    const a = lines.position(s);
    const b = lines.position(Math.max(e, s));
    errors.push({ message, line: a.line, column: a.column, endLine: b.line, endColumn: b.column });
  };
  const push = (t: Token) => {
    if (lineStart) {
      if (t.column === 1) t.lineStart0 = true;
      lineStart = false;
    }
    tokens.push(t);
  };
  const pushNewline = (s: number, e: number) => {
    const last = tokens[tokens.length - 1];
    if (!exprMode && last && last.kind !== 'newline' && last.kind !== 'indent' && last.kind !== 'dedent') {
      tokens.push(make('newline', s, e, '\n'));
    }
  };

  while (i < to) {
    if (atBol && stack.length === 0) {
      // Measure indentation of a new logical line; blank and comment-only lines don't count.
      let j = i;
      let col = 0;
      while (j < to) {
        const c = source[j];
        if (c === ' ') col++;
        else if (c === '\t') col = (Math.floor(col / 8) + 1) * 8;
        else if (c === '\f') col = 0;
        else break;
        j++;
      }
      const c = source[j];
      if (j >= to || c === '\n' || c === '\r' || c === '#') {
        // blank line: fall through to the normal loop which skips it
        i = j;
        atBol = false;
        lineStart = true;
        continue;
      }
      if (c === '\\' && (source[j + 1] === '\n' || source[j + 1] === '\r')) {
        i = j;
        atBol = false;
        continue;
      }
      atBol = false;
      lineStart = true;
      const top = indents[indents.length - 1];
      if (col > top) {
        indents.push(col);
        tokens.push(make('indent', i, j, ''));
      } else if (col < top) {
        while (indents.length > 1 && col < indents[indents.length - 1]) {
          indents.pop();
          tokens.push(make('dedent', j, j, ''));
        }
        if (col !== indents[indents.length - 1]) {
          error('unindent does not match any outer indentation level', i, j);
          indents.push(col);
        }
      }
      i = j;
      continue;
    }
    const c = source[i];
    const code = source.charCodeAt(i);
    if (c === ' ' || c === '\t' || c === '\f') {
      i++;
      continue;
    }
    if (c === '#') {
      while (i < to && source[i] !== '\n' && source[i] !== '\r') i++;
      continue;
    }
    if (c === '\n' || c === '\r') {
      const s = i;
      i += c === '\r' && source[i + 1] === '\n' ? 2 : 1;
      lineStart = true;
      if (stack.length === 0) {
        pushNewline(s, i);
        atBol = !exprMode;
      } else if (opts.recover && !exprMode && looksLikeStatementStart(source, i, to)) {
        // Python names the innermost bracket left open.
        const open = stack[stack.length - 1];
        error(`'${open.text}' was never closed`, open.start, open.end);
        stack.length = 0;
        pushNewline(s, i);
        (tokens[tokens.length - 1] as Token).recovered = true;
        atBol = true;
      }
      continue;
    }
    if (c === '\\') {
      const n = source[i + 1];
      if (n === '\n' || n === '\r') {
        i += n === '\r' && source[i + 2] === '\n' ? 3 : 2;
        continue;
      }
      error('unexpected character after line continuation character', i, i + 1);
      i++;
      continue;
    }
    // Identifiers (and string prefixes)
    if ((code >= 97 && code <= 122) || (code >= 65 && code <= 90) || c === '_' || (code > 127 && ID_START.test(c))) {
      let j = i + 1;
      while (j < to) {
        const d = source.charCodeAt(j);
        if ((d >= 97 && d <= 122) || (d >= 65 && d <= 90) || (d >= 48 && d <= 57) || d === 95) j++;
        else if (d > 127 && ID_CONT.test(source[j])) j++;
        else break;
      }
      const word = source.slice(i, j);
      if ((source[j] === '"' || source[j] === "'") && STRING_PREFIX.test(word)) {
        i = readString(i, j, word.toLowerCase());
        continue;
      }
      push(make('name', i, j, word));
      i = j;
      continue;
    }
    if ((code >= 48 && code <= 57) || (c === '.' && source.charCodeAt(i + 1) >= 48 && source.charCodeAt(i + 1) <= 57)) {
      NUMBER_RE.lastIndex = i;
      const m = NUMBER_RE.exec(source);
      const j = m ? Math.min(i + m[0].length, to) : i + 1;
      push(make('number', i, j));
      i = j;
      // A number glued to a name (`1abc`) is a syntax error in Python.
      if (i < to && /[\p{L}_0-9]/u.test(source[i])) {
        error('invalid decimal literal', i - 1, i + 1);
      }
      continue;
    }
    if (c === '"' || c === "'") {
      i = readString(i, i, '');
      continue;
    }
    if ((c === '{' && source[i + 1] === '{') || (c === '<' && source[i + 1] === '<')) {
      TEMPLATE_RE.lastIndex = i;
      const m = TEMPLATE_RE.exec(source);
      if (m && i + m[0].length <= to) {
        const j = i + m[0].length;
        push(make('template', i, j));
        i = j;
        continue;
      }
    }
    let op: string | undefined;
    if (i + 1 < to && OP_SECOND.has(source.charCodeAt(i + 1))) {
      const c3 = source.slice(i, Math.min(i + 3, to));
      if (OP3.has(c3)) op = c3;
      else if (OP2.has(c3.slice(0, 2))) op = c3.slice(0, 2);
      else if (OP1.has(c)) op = c;
    } else if (OP1.has(c)) op = c;
    if (op === undefined) {
      error(`invalid character '${c}' (U+${code.toString(16).toUpperCase().padStart(4, '0')})`, i, i + 1);
      i++;
      continue;
    }
    const t = make('op', i, i + op.length, op);
    if (OPEN[op]) {
      if (stack.length >= MAX_NESTING) {
        error(`too many nested parentheses (at most ${MAX_NESTING})`, i, i + 1);
      }
      stack.push(t);
    } else if (CLOSE[op]) {
      const top = stack[stack.length - 1];
      if (!top) {
        error(`unmatched '${op}'`, i, i + 1);
      } else if (top.text !== CLOSE[op]) {
        error(`closing parenthesis '${op}' does not match opening parenthesis '${top.text}' on line ${top.line}`, i, i + 1);
        stack.pop();
      } else {
        stack.pop();
      }
    }
    push(t);
    i += op.length;
  }
  const unclosed = stack.length > 0;
  if (unclosed) {
    const open = stack[stack.length - 1];
    error(`'${open.text}' was never closed`, open.start, open.end);
  }
  const firstEnd = tokens.length;
  if (!exprMode) {
    pushNewline(to, to);
    while (indents.length > 1) {
      indents.pop();
      tokens.push(make('dedent', to, to, ''));
    }
  }
  tokens.push(make('eof', to, to, ''));
  // The statement cut short by the end of the file is reported as the unclosed bracket already.
  if (unclosed) for (let k = firstEnd; k < tokens.length; k++) tokens[k].recovered = true;
  return { tokens, errors, unclosed: stack.length > 0 };

  function readString(s: number, q: number, prefix: string): number {
    const quoteChar = source[q];
    const triple = source[q + 1] === quoteChar && source[q + 2] === quoteChar;
    const quote = triple ? quoteChar.repeat(3) : quoteChar;
    const bodyStart = q + quote.length;
    let j = bodyStart;
    let closed = false;
    while (j < to) {
      const d = source[j];
      if (d === '\\') {
        j += 2;
        continue;
      }
      if (!triple && (d === '\n' || d === '\r')) break;
      if (d === quoteChar && (!triple || (source[j + 1] === quoteChar && source[j + 2] === quoteChar))) {
        closed = true;
        break;
      }
      j++;
    }
    j = Math.min(j, to);
    const bodyEnd = j;
    const end = closed ? j + quote.length : j;
    if (!closed) {
      error(triple ? 'unterminated triple-quoted string literal' : 'unterminated string literal', s, end);
    }
    const t = make('string', s, end);
    t.prefix = prefix;
    t.quote = quote;
    t.body = source.slice(bodyStart, bodyEnd);
    t.bodyStart = bodyStart;
    push(t);
    return end;
  }
}

function looksLikeStatementStart(source: string, i: number, to: number): boolean {
  const rest = source.slice(i, Math.min(to, i + 200));
  return /^(?:[A-Za-z_]\w*\s+=(?!=)|[A-Za-z_]\w*\s*(?:\+|-|\*|\/)=|(?:import|from|def|class|if|for|while)\b)/.test(rest);
}
