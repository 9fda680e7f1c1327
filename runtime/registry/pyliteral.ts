import type { JsonValue } from './schema-types';

/**
 * Parses a Python literal as `@default` tags write it (`3`, `-1.5e-3`, `'pytorch'`, `None`, `True`,
 * `(3, )`, `[1, 2]`, `{'a': 1}`, `dict(a=1)`, `3. / 4.`, MMEngine's `INF`) into JSON: tuples become arrays, None
 * becomes null. Infinity and NaN have no JSON form and are rejected. Throws on anything else.
 */
export function parsePythonLiteral(text: string): JsonValue {
  const p = new LiteralParser(text);
  const v = p.value();
  p.skipSpace();
  if (!p.atEnd()) p.fail('unexpected text');
  return v;
}

class LiteralParser {
  private i = 0;
  constructor(private readonly s: string) {}

  atEnd(): boolean {
    return this.i >= this.s.length;
  }

  fail(what: string): never {
    throw new Error(`${what} at column ${this.i + 1} of ${JSON.stringify(this.s)}`);
  }

  skipSpace(): void {
    while (this.i < this.s.length && /\s/.test(this.s[this.i])) this.i++;
  }

  private eat(ch: string): boolean {
    this.skipSpace();
    if (this.s.startsWith(ch, this.i)) {
      this.i += ch.length;
      return true;
    }
    return false;
  }

  private expect(ch: string): void {
    if (!this.eat(ch)) this.fail(`expected ${JSON.stringify(ch)}`);
  }

  /** A value, with number arithmetic (`3. / 4.`, `-1`, `2 ** 10`) as MMClassification's defaults sometimes write it. */
  value(): JsonValue {
    return this.additive();
  }

  private additive(): JsonValue {
    let left = this.multiplicative();
    for (;;) {
      this.skipSpace();
      const op = this.s[this.i];
      if (op !== '+' && op !== '-') return left;
      this.i++;
      const right = this.multiplicative();
      left = this.arith(op, left, right);
    }
  }

  private multiplicative(): JsonValue {
    let left = this.unary();
    for (;;) {
      this.skipSpace();
      const rest = this.s.slice(this.i);
      const m = /^(\/\/|\*\*|\*|\/|%)/.exec(rest);
      if (!m || m[1] === '**') return left;
      this.i += m[1].length;
      const right = this.unary();
      left = this.arith(m[1], left, right);
    }
  }

  private unary(): JsonValue {
    this.skipSpace();
    const c = this.s[this.i];
    if (c === '-' || c === '+') {
      this.i++;
      const v = this.unary();
      return this.arith(c, 0, v);
    }
    const base = this.atom();
    this.skipSpace();
    if (this.s.startsWith('**', this.i)) {
      this.i += 2;
      return this.arith('**', base, this.unary());
    }
    return base;
  }

  private arith(op: string, a: JsonValue, b: JsonValue): JsonValue {
    if (op === '+' && typeof a === 'string' && typeof b === 'string') return a + b;
    if (op === '+' && Array.isArray(a) && Array.isArray(b)) return [...a, ...b];
    if (typeof a !== 'number' || typeof b !== 'number') this.fail(`cannot apply ${op} here`);
    let v: number;
    switch (op) {
      case '+':
        v = a + b;
        break;
      case '-':
        v = a - b;
        break;
      case '*':
        v = a * b;
        break;
      case '/':
        v = a / b;
        break;
      case '//':
        v = Math.floor(a / b);
        break;
      case '%':
        v = a - b * Math.floor(a / b);
        break;
      default:
        v = a ** b;
    }
    if (!Number.isFinite(v)) this.fail('not a finite number');
    return v;
  }

  private atom(): JsonValue {
    this.skipSpace();
    const c = this.s[this.i];
    if (c === undefined) this.fail('expected a value');
    if (c === '(') return this.sequence('(', ')', true);
    if (c === '[') return this.sequence('[', ']', false);
    if (c === '{') return this.dict();
    if (c === "'" || c === '"') return this.string();
    if (/[0-9.]/.test(c)) return this.number();
    const m = /^[A-Za-z_][A-Za-z_0-9]*/.exec(this.s.slice(this.i));
    if (!m) this.fail('expected a value');
    const name = m[0];
    this.i += name.length;
    switch (name) {
      case 'None':
        return null;
      case 'True':
        return true;
      case 'False':
        return false;
      case 'INF':
        // MMEngine's parameter schedulers write `end=INF` with `INF = int(1e9)`.
        return 1e9;
      case 'dict':
        return this.dictCall();
      case 'tuple':
      case 'list': {
        this.expect('(');
        if (this.eat(')')) return [];
        const v = this.value();
        this.expect(')');
        if (!Array.isArray(v)) this.fail(`${name}() of a non-sequence`);
        return v;
      }
      default:
        return this.fail(`unsupported name ${name}`);
    }
  }

  private sequence(open: string, close: string, tuple: boolean): JsonValue {
    this.expect(open);
    const items: JsonValue[] = [];
    let sawComma = false;
    while (!this.eat(close)) {
      items.push(this.value());
      if (this.eat(',')) {
        sawComma = true;
        continue;
      }
      this.expect(close);
      break;
    }
    // `(x)` is a parenthesised value, `(x, )` a one-tuple.
    if (tuple && items.length === 1 && !sawComma) return items[0];
    return items;
  }

  private dict(): JsonValue {
    this.expect('{');
    const out: { [key: string]: JsonValue } = {};
    while (!this.eat('}')) {
      const k = this.value();
      if (typeof k !== 'string' && typeof k !== 'number') this.fail('dict keys must be strings or numbers');
      this.expect(':');
      out[String(k)] = this.value();
      if (this.eat(',')) continue;
      this.expect('}');
      break;
    }
    return out;
  }

  private dictCall(): JsonValue {
    this.expect('(');
    const out: { [key: string]: JsonValue } = {};
    while (!this.eat(')')) {
      this.skipSpace();
      const m = /^[A-Za-z_][A-Za-z_0-9]*/.exec(this.s.slice(this.i));
      if (!m) this.fail('expected a keyword argument');
      this.i += m[0].length;
      this.expect('=');
      out[m[0]] = this.value();
      if (this.eat(',')) continue;
      this.expect(')');
      break;
    }
    return out;
  }

  private string(): string {
    const quote = this.s[this.i];
    this.i++;
    let out = '';
    while (this.i < this.s.length && this.s[this.i] !== quote) {
      const c = this.s[this.i++];
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = this.s[this.i++];
      const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"', '0': '\0' };
      if (e in simple) out += simple[e];
      else out += `\\${e}`;
    }
    if (this.s[this.i] !== quote) this.fail('unterminated string');
    this.i++;
    // Adjacent literals concatenate, as in Python.
    this.skipSpace();
    if (this.s[this.i] === "'" || this.s[this.i] === '"') return out + this.string();
    return out;
  }

  private number(): number {
    const m = /^[-+]?(?:0[xX][0-9a-fA-F_]+|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][-+]?\d+)?)/.exec(this.s.slice(this.i));
    if (!m) this.fail('expected a number');
    this.i += m[0].length;
    const text = m[0].replace(/_/g, '');
    const v = /^[-+]?0[xX]/.test(text) ? (text.startsWith('-') ? -1 : 1) * parseInt(text.replace(/^[-+]?0[xX]/, ''), 16) : Number(text);
    if (!Number.isFinite(v)) this.fail('not a finite number');
    return v;
  }
}
