import { Arg, Comprehension, DictItem, Expr, Module, NodeBase, Range, Stmt, StrPart, SyntaxErrorInfo } from './ast';
import { decodeEscapes, parseTemplate, STRING_TEMPLATE_RE } from './strings';
import { LineMap, MAX_NESTING, Token, tokenize } from './tokenizer';

export interface ParseResult {
  module: Module;
  errors: SyntaxErrorInfo[];
  lines: LineMap;
}

class ParseError extends Error {
  constructor(message: string, readonly range: Range) {
    super(message);
  }
}

const KEYWORDS = new Set([
  'False', 'None', 'True', 'and', 'as', 'assert', 'async', 'await', 'break', 'class', 'continue', 'def', 'del', 'elif',
  'else', 'except', 'finally', 'for', 'from', 'global', 'if', 'import', 'in', 'is', 'lambda', 'nonlocal', 'not', 'or',
  'pass', 'raise', 'return', 'try', 'while', 'with', 'yield',
]);
const COMPOUND = new Set(['def', 'class', 'for', 'while', 'with', 'try', 'async']);
const SIMPLE_UNSUPPORTED = new Set(['global', 'nonlocal', 'assert', 'raise', 'return', 'yield', 'break', 'continue', 'await']);
const AUG_OPS = new Set(['+=', '-=', '*=', '/=', '//=', '%=', '**=', '@=', '&=', '|=', '^=', '<<=', '>>=']);
const COMP_OPS = new Set(['<', '>', '==', '>=', '<=', '!=']);
const BIN_PREC = new Map<string, number>([
  ['|', 1], ['^', 2], ['&', 3], ['<<', 4], ['>>', 4], ['+', 5], ['-', 5], ['*', 6], ['/', 6], ['//', 6], ['%', 6], ['@', 6],
]);

/**
 * Parses Python source into a tree. Never throws on bad input: syntax errors are collected and
 * parsing resumes at the next statement, so an editor can work with half-typed files.
 */
export function parseSource(source: string): ParseResult {
  // Python reads source with universal newlines: a string literal spanning lines holds '\n'.
  // Line and column numbers are the same either way.
  if (source.indexOf('\r') >= 0) source = source.replace(/\r\n?/g, '\n');
  const lines = new LineMap(source);
  let tok = tokenize(source, lines);
  if (tok.unclosed) tok = tokenize(source, lines, { recover: true });
  const p = new Parser(source, lines, tok.tokens, tok.errors.slice());
  const body = p.parseFile();
  const errors = p.errors;
  errors.sort((a, b) => a.line - b.line || a.column - b.column);
  // One error per position is enough (the tokenizer and the parser may both complain).
  const seen = new Set<string>();
  const unique = errors.filter((e) => {
    const k = `${e.line}:${e.column}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  return { module: { type: 'Module', body }, errors: unique, lines };
}

/** Parses a stand-alone expression located at `source[from, to)` (f-string fields). */
function parseExpressionAt(
  source: string,
  lines: LineMap,
  from: number,
  to: number,
  errors: SyntaxErrorInfo[],
  depth: number,
): Expr {
  const tok = tokenize(source, lines, { from, to, mode: 'expr' });
  errors.push(...tok.errors);
  const p = new Parser(source, lines, tok.tokens, errors);
  p.depth = depth;
  return p.parseStandaloneExpr();
}

class Parser {
  pos = 0;
  depth = 0;
  constructor(
    readonly source: string,
    readonly lines: LineMap,
    readonly tokens: Token[],
    readonly errors: SyntaxErrorInfo[],
  ) {}

  // ---- helpers -------------------------------------------------------------------------------
  get tok(): Token {
    return this.tokens[this.pos];
  }
  k(): Token['kind'] {
    return this.tokens[this.pos].kind;
  }
  peek(k = 1): Token {
    return this.tokens[Math.min(this.pos + k, this.tokens.length - 1)];
  }
  next(): Token {
    const t = this.tokens[this.pos];
    if (this.pos < this.tokens.length - 1) this.pos++;
    return t;
  }
  isOp(v: string, t = this.tok): boolean {
    return t.kind === 'op' && t.text === v;
  }
  isKw(v: string, t = this.tok): boolean {
    return t.kind === 'name' && t.text === v;
  }
  expectOp(v: string): Token {
    if (!this.isOp(v)) this.fail(`expected '${v}'`, this.tok);
    return this.next();
  }
  fail(message: string, at: Range): never {
    throw new ParseError(message + describeFound(at as Token), rangeOf(at));
  }
  /** Adds positions to `fields` (a fresh object literal at every call site) and returns it. */
  node<T extends object>(start: NodeBase | Token, end: NodeBase | Token, fields: T): NodeBase & T {
    const n = fields as NodeBase & T;
    n.start = start.start;
    n.end = end.end;
    n.line = start.line;
    n.column = start.column;
    n.endLine = end.endLine;
    n.endColumn = end.endColumn;
    return n;
  }
  get prevTok(): Token {
    return this.tokens[Math.max(0, this.pos - 1)];
  }
  enter(at: Token): void {
    if (++this.depth > MAX_NESTING) {
      throw new ParseError(`expression too deeply nested (at most ${MAX_NESTING} levels)`, rangeOf(at));
    }
  }

  // ---- statements ------------------------------------------------------------------------------
  parseFile(): Stmt[] {
    const body: Stmt[] = [];
    while (this.k() !== 'eof') {
      if (this.k() === 'newline') {
        this.next();
        continue;
      }
      if (this.k() === 'indent') {
        this.error('unexpected indent', this.tok);
        this.skipBlock();
        continue;
      }
      if (this.k() === 'dedent') {
        this.next();
        continue;
      }
      this.parseStatementInto(body);
    }
    return body;
  }

  error(message: string, at: Range): void {
    this.errors.push({ message, ...rangeOf(at) });
  }

  /** Skips an indented block (from its INDENT to the matching DEDENT). */
  skipBlock(): void {
    let level = 0;
    while (this.k() !== 'eof') {
      const t = this.next();
      if (t.kind === 'indent') level++;
      else if (t.kind === 'dedent') {
        level--;
        if (level <= 0) return;
      }
    }
  }

  /** Skips to just after the next NEWLINE (statement-level recovery). */
  recover(): void {
    while (this.k() !== 'eof' && this.k() !== 'newline') {
      if (this.k() === 'indent') {
        this.skipBlock();
        continue;
      }
      this.next();
    }
    if (this.k() === 'newline') this.next();
  }

  parseStatementInto(body: Stmt[]): void {
    const startPos = this.pos;
    try {
      const t = this.tok;
      if (t.kind === 'name' && (t.text === 'if' || COMPOUND.has(t.text))) {
        body.push(this.parseCompound());
        return;
      }
      if (t.kind === 'name' && (t.text === 'elif' || t.text === 'else') ) {
        this.fail(`'${t.text}' without a matching 'if'`, t);
      }
      for (;;) {
        body.push(this.parseSimple());
        if (this.isOp(';')) {
          this.next();
          if (this.k() === 'newline' || this.k() === 'eof') break;
          continue;
        }
        break;
      }
      if (this.k() !== 'newline' && this.k() !== 'eof') this.fail('invalid syntax', this.tok);
      if (this.k() === 'newline') this.next();
    } catch (e) {
      if (!(e instanceof ParseError)) throw e;
      // The statement ran into a NEWLINE made up after an unclosed bracket: that is already reported.
      if (!this.tokens[this.pos].recovered) this.errors.push({ message: e.message, ...e.range });
      if (this.pos === startPos) this.next();
      this.recover();
    }
  }

  parseBlock(): Stmt[] {
    this.expectOp(':');
    const body: Stmt[] = [];
    if (this.k() !== 'newline') {
      // `if x: a = 1` on one line
      for (;;) {
        body.push(this.parseSimple());
        if (this.isOp(';')) {
          this.next();
          if (this.k() === 'newline') break;
          continue;
        }
        break;
      }
      if (this.k() === 'newline') this.next();
      return body;
    }
    this.next();
    if (this.k() !== 'indent') this.fail('expected an indented block', this.tok);
    this.next();
    while (this.k() !== 'dedent' && this.k() !== 'eof') {
      if (this.k() === 'newline') {
        this.next();
        continue;
      }
      if (this.k() === 'indent') {
        this.error('unexpected indent', this.tok);
        this.skipBlock();
        continue;
      }
      this.parseStatementInto(body);
    }
    if (this.k() === 'dedent') this.next();
    return body;
  }

  parseCompound(): Stmt {
    const t = this.tok;
    if (t.text === 'if') {
      this.next();
      const test = this.parseNamedExpr();
      const body = this.parseBlock();
      let orelse: Stmt[] = [];
      if (this.isKw('elif')) {
        orelse = [this.parseCompoundElif()];
      } else if (this.isKw('else')) {
        this.next();
        orelse = this.parseBlock();
      }
      return this.node(t, lastOf(orelse) ?? lastOf(body) ?? this.prevTok, { type: 'If' as const, test, body, orelse });
    }
    // def / class / for / while / with / try: parsed only far enough to skip them.
    this.next();
    while (!this.isOp(':') && this.k() !== 'newline' && this.k() !== 'eof') this.next();
    const header = this.prevTok;
    if (this.isOp(':')) {
      this.next();
      if (this.k() === 'newline') {
        this.next();
        if (this.k() === 'indent') this.skipBlock();
      } else {
        while (this.k() !== 'newline' && this.k() !== 'eof') this.next();
        if (this.k() === 'newline') this.next();
      }
    } else if (this.k() === 'newline') this.next();
    // `try:` is followed by except/finally/else clauses, `for`/`while` by else.
    while (this.k() === 'name' && ['except', 'finally', 'else', 'elif'].includes(this.tok.text) && t.text !== 'if') {
      while (!this.isOp(':') && this.k() !== 'newline' && this.k() !== 'eof') this.next();
      if (this.isOp(':')) this.next();
      if (this.k() === 'newline') this.next();
      if (this.k() === 'indent') this.skipBlock();
    }
    return this.node(t, header, { type: 'Unsupported' as const, keyword: t.text });
  }

  parseCompoundElif(): Stmt {
    const t = this.next();
    const test = this.parseNamedExpr();
    const body = this.parseBlock();
    let orelse: Stmt[] = [];
    if (this.isKw('elif')) orelse = [this.parseCompoundElif()];
    else if (this.isKw('else')) {
      this.next();
      orelse = this.parseBlock();
    }
    return this.node(t, lastOf(orelse) ?? lastOf(body) ?? this.prevTok, { type: 'If' as const, test, body, orelse });
  }

  parseSimple(): Stmt {
    const t = this.tok;
    if (t.kind === 'name') {
      if (t.text === 'pass') {
        this.next();
        return this.node(t, t, { type: 'Pass' as const });
      }
      if (t.text === 'del') {
        this.next();
        const targets: Expr[] = [this.parseBitOr()];
        while (this.isOp(',')) {
          this.next();
          if (this.k() === 'newline' || this.k() === 'eof') break;
          targets.push(this.parseBitOr());
        }
        for (const x of targets) {
          if (x.type !== 'Name' && x.type !== 'Subscript' && x.type !== 'Attribute') this.fail('cannot delete this expression', x);
        }
        return this.node(t, this.prevTok, { type: 'Delete' as const, targets });
      }
      if (t.text === 'import') return this.parseImport();
      if (t.text === 'from') return this.parseFromImport();
      if (SIMPLE_UNSUPPORTED.has(t.text)) {
        this.next();
        while (this.k() !== 'newline' && this.k() !== 'eof' && !this.isOp(';')) this.next();
        return this.node(t, this.prevTok, { type: 'Unsupported' as const, keyword: t.text });
      }
    }
    const first = this.parseStarExpressions();
    if (this.isOp('=')) {
      const targets: Expr[] = [first];
      let value: Expr = first;
      while (this.isOp('=')) {
        this.next();
        value = this.parseStarExpressions();
        targets.push(value);
      }
      targets.pop();
      for (const target of targets) this.checkTarget(target);
      return this.node(t, value, { type: 'Assign' as const, targets, value });
    }
    if (this.k() === 'op' && AUG_OPS.has(this.tok.text)) {
      const op = this.next().text;
      this.checkTarget(first, true);
      const value = this.parseStarExpressions();
      return this.node(t, value, { type: 'AugAssign' as const, target: first, op: op.slice(0, -1), value });
    }
    if (this.isOp(':')) {
      this.next();
      this.parseTest();
      let value: Expr | null = null;
      if (this.isOp('=')) {
        this.next();
        value = this.parseStarExpressions();
      }
      this.checkTarget(first, true);
      return this.node(t, this.prevTok, { type: 'AnnAssign' as const, target: first, value });
    }
    return this.node(first, first, { type: 'ExprStmt' as const, value: first });
  }

  checkTarget(e: Expr, single = false): void {
    switch (e.type) {
      case 'Name':
        if (KEYWORDS.has(e.id)) this.fail(`cannot assign to ${e.id}`, e);
        return;
      case 'Attribute':
      case 'Subscript':
        return;
      case 'Tuple':
      case 'List':
        if (single) this.fail(`'${e.type.toLowerCase()}' is an illegal expression for augmented assignment`, e);
        for (const x of e.elts) this.checkTarget(x.type === 'Starred' ? x.value : x);
        return;
      case 'Starred':
        this.checkTarget(e.value);
        return;
      default:
        this.fail(`cannot assign to ${describeExpr(e)}`, e);
    }
  }

  parseDottedName(): { name: string; range: Range } {
    const first = this.tok;
    if (first.kind !== 'name') this.fail('expected a module name', first);
    let name = this.next().text;
    while (this.isOp('.')) {
      this.next();
      if (this.k() !== 'name') this.fail('expected a name after "."', this.tok);
      name += '.' + this.next().text;
    }
    return { name, range: rangeBetween(first, this.prevTok) };
  }

  parseImport(): Stmt {
    const t = this.next();
    const names: { name: string; asname: string | null; range: Range }[] = [];
    for (;;) {
      const d = this.parseDottedName();
      let asname: string | null = null;
      if (this.isKw('as')) {
        this.next();
        if (this.k() !== 'name') this.fail('expected a name after "as"', this.tok);
        asname = this.next().text;
      }
      names.push({ name: d.name, asname, range: rangeBetween(d.range, this.prevTok) });
      if (!this.isOp(',')) break;
      this.next();
    }
    return this.node(t, this.prevTok, { type: 'Import' as const, names });
  }

  parseFromImport(): Stmt {
    const t = this.next();
    let module = '';
    while (this.isOp('.') || this.isOp('...')) module += this.next().text;
    if (this.k() === 'name' && this.tok.text !== 'import') module += this.parseDottedName().name;
    if (!this.isKw('import')) this.fail("expected 'import'", this.tok);
    this.next();
    const names: { name: string; asname: string | null; range: Range }[] = [];
    const paren = this.isOp('(');
    if (paren) this.next();
    for (;;) {
      const n = this.tok;
      if (!(n.kind === 'name' || this.isOp('*'))) this.fail('expected a name to import', n);
      this.next();
      let asname: string | null = null;
      if (this.isKw('as')) {
        this.next();
        asname = this.next().text;
      }
      names.push({ name: n.text, asname, range: rangeBetween(n, this.prevTok) });
      if (!this.isOp(',')) break;
      this.next();
      if (paren && this.isOp(')')) break;
    }
    if (paren) this.expectOp(')');
    return this.node(t, this.prevTok, { type: 'ImportFrom' as const, module, names });
  }

  // ---- expressions -----------------------------------------------------------------------------
  parseStandaloneExpr(): Expr {
    try {
      const e = this.parseStarExpressions();
      if (this.k() !== 'eof') this.fail('invalid syntax', this.tok);
      return e;
    } catch (err) {
      if (!(err instanceof ParseError)) throw err;
      this.errors.push({ message: err.message, ...err.range });
      const t = this.tokens[0];
      return this.node(t, this.tokens[this.tokens.length - 1], { type: 'Error' as const });
    }
  }

  /** `a, *b, c` (a bare tuple) or a single expression. */
  parseStarExpressions(): Expr {
    const first = this.parseStarOrNamed();
    if (!this.isOp(',')) return first;
    const elts = [first];
    while (this.isOp(',')) {
      this.next();
      if (!this.startsExpression()) break;
      elts.push(this.parseStarOrNamed());
    }
    return this.node(first, this.prevTok, { type: 'Tuple' as const, elts, parenthesized: false });
  }

  startsExpression(): boolean {
    const t = this.tok;
    if (t.kind === 'name') return !KEYWORDS.has(t.text) || ['None', 'True', 'False', 'not', 'lambda', 'await'].includes(t.text);
    if (t.kind === 'number' || t.kind === 'string' || t.kind === 'template') return true;
    if (t.kind === 'op') return ['(', '[', '{', '-', '+', '~', '*', '**', '...'].includes(t.text);
    return false;
  }

  parseStarOrNamed(): Expr {
    if (this.isOp('*')) {
      const t = this.next();
      const value = this.parseOr();
      return this.node(t, value, { type: 'Starred' as const, value });
    }
    return this.parseNamedExpr();
  }

  parseNamedExpr(): Expr {
    const e = this.parseTest();
    if (this.isOp(':=')) {
      this.next();
      const value = this.parseTest();
      return this.node(e, value, { type: 'NamedExpr' as const, target: e, value });
    }
    return e;
  }

  parseTest(): Expr {
    const t = this.tok;
    this.enter(t);
    try {
      if (this.isKw('lambda')) return this.parseLambda();
      const body = this.parseOr(this.simpleOperand());
      if (this.isKw('if') ) {
        this.next();
        const test = this.parseOr();
        if (!this.isKw('else')) this.fail("expected 'else' after 'if' expression", this.tok);
        this.next();
        const orelse = this.parseTest();
        return this.node(body, orelse, { type: 'IfExp' as const, test, body, orelse });
      }
      return body;
    } finally {
      this.depth--;
    }
  }

  /**
   * Fast path for the common case (a literal, a name, a call such as `dict(...)`, a display): when
   * the expression starts with a primary, parses that primary directly instead of descending
   * through every precedence level. Returns null when the expression starts otherwise (`not`,
   * a unary operator, `await`, `lambda`). The caller passes the result on as the left operand,
   * so the tree and the errors are exactly those of the full descent.
   */
  simpleOperand(): Expr | undefined {
    const t = this.tokens[this.pos];
    const k = t.kind;
    if (k === 'name') {
      const x = t.text;
      if (x === 'not' || x === 'await' || x === 'lambda') return undefined;
    } else if (k === 'op') {
      const x = t.text;
      if (x !== '(' && x !== '[' && x !== '{') return undefined;
    } else if (k !== 'number' && k !== 'string' && k !== 'template') return undefined;
    return this.parsePrimary();
  }

  parseTestNoCond(): Expr {
    if (this.isKw('lambda')) return this.parseLambda();
    return this.parseOr();
  }

  parseLambda(): Expr {
    const t = this.next();
    let depth = 0;
    while (this.k() !== 'eof' && !(depth === 0 && this.isOp(':'))) {
      if (this.isOp('(') || this.isOp('[') || this.isOp('{')) depth++;
      if (this.isOp(')') || this.isOp(']') || this.isOp('}')) depth--;
      if (this.k() === 'newline') break;
      this.next();
    }
    this.expectOp(':');
    const body = this.parseTest();
    return this.node(t, body, { type: 'Lambda' as const });
  }

  parseOr(left?: Expr): Expr {
    if (left !== undefined && !this.continuesOperand()) return left;
    const first = this.parseAnd(left);
    if (!this.isKw('or')) return first;
    const values = [first];
    while (this.isKw('or')) {
      this.next();
      values.push(this.parseAnd());
    }
    return this.node(first, values[values.length - 1], { type: 'BoolOp' as const, op: 'or' as const, values });
  }

  /** True when the token after a primary continues the expression (an operator or `in`/`not`/`is`/`and`/`or`). */
  continuesOperand(): boolean {
    const n = this.tokens[this.pos];
    if (n.kind === 'op') return n.text === '**' || BIN_PREC.has(n.text) || COMP_OPS.has(n.text);
    if (n.kind === 'name') {
      const x = n.text;
      return x === 'in' || x === 'not' || x === 'is' || x === 'and' || x === 'or';
    }
    return false;
  }

  parseAnd(left?: Expr): Expr {
    const first = this.parseNot(left);
    if (!this.isKw('and')) return first;
    const values = [first];
    while (this.isKw('and')) {
      this.next();
      values.push(this.parseNot());
    }
    return this.node(first, values[values.length - 1], { type: 'BoolOp' as const, op: 'and' as const, values });
  }

  parseNot(left?: Expr): Expr {
    if (left !== undefined) return this.parseComparison(left);
    if (this.isKw('not')) {
      const t = this.next();
      this.enter(t);
      try {
        const operand = this.parseNot();
        return this.node(t, operand, { type: 'UnaryOp' as const, op: 'not', operand });
      } finally {
        this.depth--;
      }
    }
    return this.parseComparison();
  }

  parseComparison(first?: Expr): Expr {
    const left = this.parseBitOr(1, first);
    const ops: string[] = [];
    const comparators: Expr[] = [];
    for (;;) {
      const t = this.tok;
      let op: string | null = null;
      if (t.kind === 'op' && COMP_OPS.has(t.text)) {
        op = t.text;
        this.next();
      } else if (this.isKw('in')) {
        op = 'in';
        this.next();
      } else if (this.isKw('not') && this.isKw('in', this.peek())) {
        op = 'not in';
        this.next();
        this.next();
      } else if (this.isKw('is')) {
        this.next();
        if (this.isKw('not')) {
          this.next();
          op = 'is not';
        } else op = 'is';
      }
      if (op === null) break;
      ops.push(op);
      comparators.push(this.parseBitOr());
    }
    if (ops.length === 0) return left;
    return this.node(left, comparators[comparators.length - 1], { type: 'Compare' as const, left, ops, comparators });
  }

  /** `|` `^` `&` `<<` `>>` `+` `-` `*` `/` `//` `%` `@` by precedence climbing (all left-associative). */
  parseBitOr(minPrec = 1, first?: Expr): Expr {
    let left = this.parseFactor(first);
    for (;;) {
      const t = this.tokens[this.pos];
      if (t.kind !== 'op') break;
      const p = BIN_PREC.get(t.text);
      if (p === undefined || p < minPrec) break;
      this.next();
      const right = this.parseBitOr(p + 1);
      left = this.node(left, right, { type: 'BinOp' as const, op: t.text, left, right });
    }
    return left;
  }

  parseFactor(left?: Expr): Expr {
    if (left !== undefined) return this.parsePower(left);
    const t = this.tok;
    if (t.kind === 'op' && (t.text === '-' || t.text === '+' || t.text === '~')) {
      this.next();
      this.enter(t);
      try {
        const operand = this.parseFactor();
        return this.node(t, operand, { type: 'UnaryOp' as const, op: t.text, operand });
      } finally {
        this.depth--;
      }
    }
    return this.parsePower();
  }

  parsePower(left?: Expr): Expr {
    if (left === undefined && this.isKw('await')) this.fail("'await' is not supported in config files", this.tok);
    const base = left ?? this.parsePrimary();
    if (this.isOp('**')) {
      const t = this.next();
      this.enter(t);
      try {
        const right = this.parseFactor();
        return this.node(base, right, { type: 'BinOp' as const, op: '**', left: base, right });
      } finally {
        this.depth--;
      }
    }
    return base;
  }

  parsePrimary(): Expr {
    let e = this.parseAtom();
    for (;;) {
      if (this.isOp('.')) {
        this.next();
        const n = this.tok;
        if (n.kind !== 'name') this.fail('expected an attribute name after "."', n);
        this.next();
        e = this.node(e, n, { type: 'Attribute' as const, value: e, attr: n.text, attrRange: rangeOf(n) });
      } else if (this.isOp('(')) {
        const open = this.next();
        this.enter(open);
        try {
          const args = this.parseCallArgs();
          const close = this.expectOp(')');
          e = this.node(e, close, { type: 'Call' as const, func: e, args });
        } finally {
          this.depth--;
        }
      } else if (this.isOp('[')) {
        const open = this.next();
        this.enter(open);
        try {
          const index = this.parseSubscript();
          const close = this.expectOp(']');
          e = this.node(e, close, { type: 'Subscript' as const, value: e, index });
        } finally {
          this.depth--;
        }
      } else break;
    }
    return e;
  }

  parseCallArgs(): Arg[] {
    const args: Arg[] = [];
    while (!this.isOp(')')) {
      const t = this.tok;
      if (this.isOp('*') || this.isOp('**')) {
        const star = this.next().text as '*' | '**';
        const value = this.parseTest();
        args.push({ name: null, star, value, range: rangeBetween(t, value) });
      } else if (t.kind === 'name' && this.isOp('=', this.peek()) && !KEYWORDS.has(t.text)) {
        this.next();
        this.next();
        const value = this.parseTest();
        args.push({ name: t.text, star: '', value, nameRange: rangeOf(t), range: rangeBetween(t, value) });
      } else {
        const value = this.parseNamedExpr();
        if (this.isKw('for') || this.isKw('async')) {
          const generators = this.parseComprehensions();
          const g = this.node(value, this.prevTok, { type: 'GeneratorExp' as const, elt: value, generators });
          args.push({ name: null, star: '', value: g, range: rangeOf(g) });
        } else {
          if (this.isOp('=')) this.fail('expression cannot contain assignment, perhaps you meant "=="?', value);
          args.push({ name: null, star: '', value, range: rangeOf(value) });
        }
      }
      if (!this.isOp(',')) break;
      this.next();
    }
    return args;
  }

  parseSubscript(): Expr {
    const first = this.parseSliceItem();
    if (!this.isOp(',')) return first;
    const elts = [first];
    while (this.isOp(',')) {
      this.next();
      if (this.isOp(']')) break;
      elts.push(this.parseSliceItem());
    }
    return this.node(first, this.prevTok, { type: 'Tuple' as const, elts, parenthesized: false });
  }

  parseSliceItem(): Expr {
    const t = this.tok;
    let lower: Expr | null = null;
    if (!this.isOp(':')) {
      lower = this.parseStarOrNamed();
      if (!this.isOp(':')) return lower;
    }
    this.next();
    let upper: Expr | null = null;
    let step: Expr | null = null;
    if (!this.isOp(':') && !this.isOp(']') && !this.isOp(',')) upper = this.parseTest();
    if (this.isOp(':')) {
      this.next();
      if (!this.isOp(']') && !this.isOp(',')) step = this.parseTest();
    }
    return this.node(t, this.prevTok, { type: 'Slice' as const, lower, upper, step });
  }

  parseComprehensions(): Comprehension[] {
    const gens: Comprehension[] = [];
    while (this.isKw('for') || this.isKw('async')) {
      if (this.isKw('async')) this.fail("'async' comprehensions are not supported", this.tok);
      this.next();
      const target = this.parseTargetList();
      if (!this.isKw('in')) this.fail("expected 'in'", this.tok);
      this.next();
      const iter = this.parseOr();
      const ifs: Expr[] = [];
      while (this.isKw('if')) {
        this.next();
        ifs.push(this.parseTestNoCond());
      }
      gens.push({ target, iter, ifs });
    }
    return gens;
  }

  parseTargetList(): Expr {
    const first = this.parseStarTarget();
    if (!this.isOp(',')) {
      this.checkTarget(first);
      return first;
    }
    const elts = [first];
    while (this.isOp(',')) {
      this.next();
      if (this.isKw('in')) break;
      elts.push(this.parseStarTarget());
    }
    const t = this.node(first, this.prevTok, { type: 'Tuple' as const, elts, parenthesized: false });
    this.checkTarget(t);
    return t;
  }
  parseStarTarget(): Expr {
    if (this.isOp('*')) {
      const s = this.next();
      const value = this.parseBitOr();
      return this.node(s, value, { type: 'Starred' as const, value });
    }
    return this.parseBitOr();
  }

  parseAtom(): Expr {
    const t = this.tok;
    switch (t.kind) {
      case 'name': {
        if (t.text === 'None' || t.text === 'True' || t.text === 'False') {
          this.next();
          return this.node(t, t, { type: 'Constant' as const, value: t.text === 'None' ? null : t.text === 'True' });
        }
        if (KEYWORDS.has(t.text)) {
          if (t.text === 'lambda') return this.parseLambda();
          if (t.text === 'yield') this.fail("'yield' is not supported in config files", t);
          this.fail('invalid syntax', t);
        }
        this.next();
        return this.node(t, t, { type: 'Name' as const, id: t.text });
      }
      case 'number':
        this.next();
        return this.parseNumber(t);
      case 'string':
        return this.parseStrings();
      case 'template': {
        this.next();
        const p = parseTemplate(t.text);
        if (!p) this.fail('invalid placeholder', t);
        if (p.kind === 'base') return this.node(t, t, { type: 'BaseRef' as const, path: p.path, text: t.text });
        return this.node(t, t, { type: 'Template' as const, template: p.template, text: t.text });
      }
      case 'op':
        break;
      default:
        this.fail(t.kind === 'newline' || t.kind === 'eof' ? 'unexpected end of statement' : 'invalid syntax', t);
    }
    if (t.text === '(') {
      this.next();
      this.enter(t);
      try {
        if (this.isOp(')')) {
          const close = this.next();
          return this.node(t, close, { type: 'Tuple' as const, elts: [], parenthesized: true });
        }
        const first = this.parseStarOrNamed();
        if (this.isKw('for') || this.isKw('async')) {
          const generators = this.parseComprehensions();
          const close = this.expectOp(')');
          return this.node(t, close, { type: 'GeneratorExp' as const, elt: first, generators });
        }
        if (this.isOp(')')) {
          const close = this.next();
          if (first.type === 'Starred') this.fail('cannot use starred expression here', first);
          // Keep the inner node, but widen its range to the parentheses (as the editor sees it).
          return { ...first, ...this.node(t, close, {}), ...(first.type === 'Tuple' ? { parenthesized: true } : {}) } as Expr;
        }
        const elts = [first];
        while (this.isOp(',')) {
          this.next();
          if (this.isOp(')')) break;
          elts.push(this.parseStarOrNamed());
        }
        const close = this.expectOp(')');
        return this.node(t, close, { type: 'Tuple' as const, elts, parenthesized: true });
      } finally {
        this.depth--;
      }
    }
    if (t.text === '[') {
      this.next();
      this.enter(t);
      try {
        if (this.isOp(']')) return this.node(t, this.next(), { type: 'List' as const, elts: [] });
        const first = this.parseStarOrNamed();
        if (this.isKw('for') || this.isKw('async')) {
          const generators = this.parseComprehensions();
          const close = this.expectOp(']');
          return this.node(t, close, { type: 'ListComp' as const, elt: first, generators });
        }
        const elts = [first];
        while (this.isOp(',')) {
          this.next();
          if (this.isOp(']')) break;
          elts.push(this.parseStarOrNamed());
        }
        const close = this.expectOp(']');
        return this.node(t, close, { type: 'List' as const, elts });
      } finally {
        this.depth--;
      }
    }
    if (t.text === '{') {
      this.next();
      this.enter(t);
      try {
        return this.parseBraces(t);
      } finally {
        this.depth--;
      }
    }
    if (t.text === '...') {
      this.fail('Ellipsis is not supported in config files', t);
    }
    this.fail('invalid syntax', t);
  }

  parseBraces(open: Token): Expr {
    if (this.isOp('}')) return this.node(open, this.next(), { type: 'Dict' as const, items: [] });
    type Item = { item: DictItem } | { expr: Expr };
    const readItem = (): Item => {
      if (this.isOp('**')) {
        this.next();
        return { item: { key: null, value: this.parseBitOr() } };
      }
      const k = this.parseStarOrNamed();
      if (this.isOp(':')) {
        this.next();
        return { item: { key: k, value: this.parseTest() } };
      }
      return { expr: k };
    };
    const first = readItem();
    if ('item' in first) {
      const item = first.item;
      if (item.key !== null && (this.isKw('for') || this.isKw('async'))) {
        const generators = this.parseComprehensions();
        const close = this.expectOp('}');
        return this.node(open, close, { type: 'DictComp' as const, key: item.key, value: item.value, generators });
      }
      const items = [item];
      while (this.isOp(',')) {
        this.next();
        if (this.isOp('}')) break;
        const it = readItem();
        if (!('item' in it)) this.fail("expected ':' in dictionary display", this.tok);
        items.push(it.item);
      }
      const close = this.expectOp('}');
      return this.node(open, close, { type: 'Dict' as const, items });
    }
    const e = first.expr;
    if (this.isKw('for') || this.isKw('async')) {
      const generators = this.parseComprehensions();
      const close = this.expectOp('}');
      return this.node(open, close, { type: 'SetComp' as const, elt: e, generators });
    }
    const elts = [e];
    while (this.isOp(',')) {
      this.next();
      if (this.isOp('}')) break;
      const it = readItem();
      if (!('expr' in it)) this.fail('invalid syntax', this.prevTok);
      elts.push(it.expr);
    }
    const close = this.expectOp('}');
    return this.node(open, close, { type: 'Set' as const, elts });
  }

  parseNumber(t: Token): Expr {
    const raw = t.text;
    if (raw.length < 16 && /^(?:0|[1-9]\d*)$/.test(raw)) return this.node(t, t, { type: 'Constant' as const, value: Number(raw) });
    let text = raw.replace(/_/g, '');
    if (/[jJ]$/.test(text)) this.fail('complex numbers are not supported in config files', t);
    if (/^0[xXoObB]/.test(text)) {
      const radix = { x: 16, o: 8, b: 2 }[text[1].toLowerCase() as 'x' | 'o' | 'b'];
      const v = parseInt(text.slice(2), radix);
      return this.node(t, t, { type: 'Constant' as const, value: v });
    }
    if (/[.eE]/.test(text)) {
      return this.node(t, t, { type: 'Constant' as const, value: Number(text), isFloat: true });
    }
    if (text.length > 1 && text.startsWith('0') && /[1-9]/.test(text)) {
      this.fail('leading zeros in decimal integer literals are not permitted; use an 0o prefix for octal integers', t);
    }
    text = text.replace(/^0+(?=\d)/, '');
    return this.node(t, t, { type: 'Constant' as const, value: Number(text) });
  }

  /** One or more adjacent string literals (implicit concatenation). */
  parseStrings(): Expr {
    const first = this.tok;
    const parts: StrPart[] = [];
    let bytes: boolean | null = null;
    let last = first;
    while (this.k() === 'string') {
      const t = this.next();
      last = t;
      const prefix = t.prefix ?? '';
      const isBytes = prefix.includes('b');
      if (bytes !== null && bytes !== isBytes) this.fail('cannot mix bytes and nonbytes literals', t);
      bytes = isBytes;
      this.stringParts(t, parts);
    }
    // Merge neighbouring text parts.
    const merged: StrPart[] = [];
    for (const p of parts) {
      const prev = merged[merged.length - 1];
      if (p.kind === 'text' && prev && prev.kind === 'text') merged[merged.length - 1] = { kind: 'text', value: prev.value + p.value };
      else merged.push(p);
    }
    return this.node(first, last, { type: 'Str' as const, parts: merged, bytes: !!bytes });
  }

  stringParts(t: Token, out: StrPart[]): void {
    const prefix = t.prefix ?? '';
    const raw = prefix.includes('r');
    const isF = prefix.includes('f');
    const body = t.body ?? '';
    const base = t.bodyStart ?? t.start;
    // Placeholders first: MMEngine substitutes them in the text before Python sees it.
    STRING_TEMPLATE_RE.lastIndex = 0;
    let last = 0;
    let m: RegExpExecArray | null;
    const segment = (from: number, to: number) => {
      if (to <= from) return;
      if (isF) this.fstringParts(base + from, base + to, raw, out);
      else out.push({ kind: 'text', value: raw ? body.slice(from, to) : decodeEscapes(body.slice(from, to), prefix.includes('b')) });
    };
    while ((m = STRING_TEMPLATE_RE.exec(body)) !== null) {
      segment(last, m.index);
      const range = this.rangeAt(base + m.index, base + m.index + m[0].length);
      const p = parseTemplate(m[0]);
      if (p === null) out.push({ kind: 'text', value: m[0] });
      else if (p.kind === 'base') out.push({ kind: 'ref', path: p.path, range });
      else out.push({ kind: 'template', template: p.template, range });
      last = m.index + m[0].length;
    }
    segment(last, body.length);
  }

  rangeAt(s: number, e: number): Range {
    const a = this.lines.position(s);
    const b = this.lines.position(e);
    return { line: a.line, column: a.column, endLine: b.line, endColumn: b.column };
  }

  /** Splits an f-string body `source[from, to)` into text and `{expr!c:spec}` fields. */
  fstringParts(from: number, to: number, raw: boolean, out: StrPart[]): void {
    const src = this.source;
    let text = '';
    const flush = () => {
      if (text) out.push({ kind: 'text', value: raw ? text : decodeEscapes(text) });
      text = '';
    };
    let i = from;
    while (i < to) {
      const c = src[i];
      if (c === '{' && src[i + 1] === '{') {
        text += '{';
        i += 2;
        continue;
      }
      if (c === '}' && src[i + 1] === '}') {
        text += '}';
        i += 2;
        continue;
      }
      if (c === '}') throw new ParseError("f-string: single '}' is not allowed", this.rangeAt(i, i + 1));
      if (c !== '{') {
        text += c;
        i++;
        continue;
      }
      flush();
      i = this.fstringField(i, to, out);
    }
    flush();
  }

  /** Parses one replacement field starting at the `{` at `open`; returns the offset after `}`. */
  fstringField(open: number, to: number, out: StrPart[]): number {
    const src = this.source;
    let i = open + 1;
    let depth = 0;
    let quote: string | null = null;
    const exprStart = i;
    for (; i < to; i++) {
      const c = src[i];
      if (quote) {
        if (c === quote) quote = null;
        continue;
      }
      if (c === "'" || c === '"') quote = c;
      else if (c === '(' || c === '[' || c === '{') depth++;
      else if (c === ')' || c === ']' || c === '}') {
        if (depth === 0) break;
        depth--;
      } else if (depth === 0 && c === '!' && src[i + 1] !== '=') break;
      else if (depth === 0 && c === ':') break;
    }
    if (i >= to) throw new ParseError("f-string: expecting '}'", this.rangeAt(open, open + 1));
    let exprEnd = i;
    let debugText: string | null = null;
    const m = /=\s*$/.exec(src.slice(exprStart, exprEnd));
    if (m && !/[=!<>]=\s*$/.test(src.slice(exprStart, exprEnd))) {
      debugText = src.slice(exprStart, exprEnd);
      exprEnd = exprStart + m.index;
    }
    if (src.slice(exprStart, exprEnd).trim() === '') throw new ParseError('f-string: empty expression not allowed', this.rangeAt(open, i + 1));
    if (this.depth + 1 > MAX_NESTING) throw new ParseError('f-string nested too deeply', this.rangeAt(open, i));
    const expr = parseExpressionAt(src, this.lines, exprStart, exprEnd, this.errors, this.depth + 1);
    let conversion: string | null = null;
    if (src[i] === '!') {
      conversion = src[i + 1];
      if (!'rsa'.includes(conversion ?? '') || conversion === undefined) {
        throw new ParseError("f-string: invalid conversion character: expected 's', 'r', or 'a'", this.rangeAt(i, i + 2));
      }
      i += 2;
    }
    let spec: StrPart[] | null = null;
    if (src[i] === ':') {
      i++;
      const specStart = i;
      let d = 0;
      for (; i < to; i++) {
        if (src[i] === '{') d++;
        else if (src[i] === '}') {
          if (d === 0) break;
          d--;
        }
      }
      spec = [];
      this.fstringSpec(specStart, i, spec);
    }
    if (src[i] !== '}') throw new ParseError("f-string: expecting '}'", this.rangeAt(open, Math.min(i + 1, to)));
    if (debugText !== null) {
      out.push({ kind: 'text', value: debugText });
      if (conversion === null && spec === null) conversion = 'r';
    }
    out.push({ kind: 'expr', expr, conversion, spec, debugText });
    return i + 1;
  }

  fstringSpec(from: number, to: number, out: StrPart[]): void {
    const src = this.source;
    let text = '';
    let i = from;
    while (i < to) {
      if (src[i] === '{') {
        if (text) out.push({ kind: 'text', value: text });
        text = '';
        i = this.fstringField(i, to, out);
      } else text += src[i++];
    }
    if (text) out.push({ kind: 'text', value: text });
  }
}

function lastOf(body: Stmt[]): Stmt | undefined {
  return body[body.length - 1];
}
function rangeOf(r: Range): Range {
  return { line: r.line, column: r.column, endLine: r.endLine, endColumn: r.endColumn };
}
function rangeBetween(a: Range, b: Range): Range {
  return { line: a.line, column: a.column, endLine: b.endLine, endColumn: b.endColumn };
}
function describeFound(t: Token): string {
  if (!t || typeof t.kind !== 'string') return '';
  if (t.kind === 'eof') return ' (found the end of the file)';
  if (t.kind === 'newline') return ' (found the end of the line)';
  if (t.kind === 'indent' || t.kind === 'dedent') return '';
  return ` (found ${JSON.stringify(t.text.length > 30 ? t.text.slice(0, 30) + '…' : t.text)})`;
}
export function describeExpr(e: Expr): string {
  switch (e.type) {
    case 'Constant': return 'literal';
    case 'Str': return 'literal';
    case 'Call': return 'function call';
    case 'BinOp': case 'UnaryOp': return 'expression';
    case 'Compare': return 'comparison';
    case 'Lambda': return 'lambda';
    default: return e.type.toLowerCase();
  }
}
