/** Python's float printing and the format-spec mini-language, as configs use them. */

/** Shortest digits and decimal point position of a finite non-zero |x|. */
function shortest(x: number): { digits: string; decpt: number } {
  const s = Math.abs(x).toExponential();
  const m = /^(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(s) as RegExpExecArray;
  return { digits: (m[1] + (m[2] ?? '')).replace(/0+$/, '') || '0', decpt: Number(m[3]) + 1 };
}

/** `repr(float)` / `str(float)`. */
export function reprFloat(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const sign = x < 0 ? '-' : '';
  const { digits, decpt } = shortest(x);
  if (decpt <= -4 || decpt > 16) {
    const mant = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const e = decpt - 1;
    return `${sign}${mant}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  }
  if (decpt <= 0) return `${sign}0.${'0'.repeat(-decpt)}${digits}`;
  if (decpt >= digits.length) return `${sign}${digits}${'0'.repeat(decpt - digits.length)}.0`;
  return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
}

/** True when |x| * 10**n lies exactly half-way between two integers. */
function isExactTie(x: number, n: number): boolean {
  if (n > 60 || !Number.isFinite(x)) return false;
  const s = Math.abs(x).toFixed(Math.min(100, n + 40));
  const frac = s.slice(s.indexOf('.') + 1);
  return frac[n] === '5' && /^0*$/.test(frac.slice(n + 1));
}

/** `x.toFixed(n)` with Python's rounding (half to even on exact ties; JS rounds ties up). */
export function toFixedPy(x: number, n: number): string {
  if (Math.abs(x) >= 1e21) {
    // toFixed switches to exponent notation here; print the exact integer instead.
    const int = BigInt(Math.round(x)).toString();
    return n > 0 ? `${int}.${'0'.repeat(n)}` : int;
  }
  let s = x.toFixed(n);
  if (isExactTie(x, n)) {
    // JS picked the value away from zero; Python picks the even one.
    const lastDigit = Number(s.replace('.', '').slice(-1));
    if (lastDigit % 2 === 1) {
      const step = Math.pow(10, -n);
      s = (x < 0 ? x + step / 2 : x - step / 2).toFixed(n);
    }
  }
  return s;
}

/** Python's `round(x, n)` for floats. */
export function roundFloat(x: number, n: number): number {
  if (!Number.isFinite(x)) return x;
  if (n >= 0) {
    if (n > 300) return x;
    return Number(toFixedPy(x, Math.min(n, 100)));
  }
  const p = Math.pow(10, -n);
  const q = x / p;
  return roundHalfEven(q) * p;
}

export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

function expForm(x: number, prec: number, upper: boolean): string {
  let s = Math.abs(x).toExponential(prec);
  s = s.replace(/e([+-])(\d)$/, 'e$10$2');
  if (x < 0 || Object.is(x, -0)) s = '-' + s;
  return upper ? s.toUpperCase() : s;
}

function generalForm(x: number, prec: number, alt: boolean, upper: boolean, noTypeCode: boolean): string {
  if (prec === 0) prec = 1;
  if (x === 0) {
    const z = Object.is(x, -0) ? '-0' : '0';
    return alt ? `${z}.${'0'.repeat(prec - 1)}` : noTypeCode ? `${z}.0` : z;
  }
  const e = Number(Math.abs(x).toExponential(prec - 1).split('e')[1]);
  let s: string;
  if (e >= -4 && e < prec) {
    s = toFixedPy(x, prec - 1 - e);
    if (!alt && s.includes('.')) s = s.replace(/0+$/, '').replace(/\.$/, noTypeCode ? '.0' : '');
  } else {
    s = expForm(x, prec - 1, upper);
    if (!alt) s = s.replace(/\.?0+(?=[eE])/, '');
  }
  return upper ? s.toUpperCase() : s;
}

export interface Spec {
  fill: string;
  align: string;
  sign: string;
  alt: boolean;
  zero: boolean;
  width: number;
  grouping: string;
  precision: number | null;
  type: string;
}

const SPEC_RE = /^(?:([\s\S])?([<>=^]))?([+\- ])?(z)?(#)?(0)?(\d+)?([,_])?(?:\.(\d+))?([bcdeEfFgGnosxX%])?$/;

export function parseSpec(spec: string): Spec | null {
  const m = SPEC_RE.exec(spec);
  if (!m) return null;
  return {
    fill: m[1] ?? (m[6] && !m[2] ? '0' : ' '),
    align: m[2] ?? (m[6] ? '=' : ''),
    sign: m[3] ?? '-',
    alt: !!m[5],
    zero: !!m[6],
    width: m[7] ? Number(m[7]) : 0,
    grouping: m[8] ?? '',
    precision: m[9] !== undefined ? Number(m[9]) : null,
    type: m[10] ?? '',
  };
}

function group(intPart: string, sep: string, every = 3): string {
  let out = '';
  for (let i = 0; i < intPart.length; i++) {
    if (i > 0 && (intPart.length - i) % every === 0) out += sep;
    out += intPart[i];
  }
  return out;
}

function pad(body: string, signStr: string, spec: Spec, defaultAlign: string): string {
  const align = spec.align || defaultAlign;
  const total = signStr.length + body.length;
  if (total >= spec.width) return signStr + body;
  const n = spec.width - total;
  const fill = spec.fill;
  switch (align) {
    case '<': return signStr + body + fill.repeat(n);
    case '^': return fill.repeat(Math.floor(n / 2)) + signStr + body + fill.repeat(n - Math.floor(n / 2));
    case '=': return signStr + fill.repeat(n) + body;
    default: return fill.repeat(n) + signStr + body;
  }
}

export class FormatSpecError extends Error {}

/**
 * `format(value, spec)` for str, int and float values. `kind` tells which Python type `v` is;
 * `strText` is the str() of the value for the no-type-code case.
 */
export function formatValue(v: string | number, kind: 'str' | 'int' | 'float' | 'bool', specText: string, strText: string): string {
  if (specText === '') return strText;
  const spec = parseSpec(specText);
  if (!spec) throw new FormatSpecError('Invalid format specifier');
  if (kind === 'str') {
    if (spec.type !== '' && spec.type !== 's') throw new FormatSpecError(`Unknown format code '${spec.type}' for object of type 'str'`);
    if (spec.align === '=') throw new FormatSpecError("'=' alignment not allowed in string format specifier");
    let s = v as string;
    if (spec.precision !== null) s = [...s].slice(0, spec.precision).join('');
    return pad(s, '', spec, '<');
  }
  let x = v as number;
  let type = spec.type;
  if (kind === 'bool' && type === '') return pad(strText, '', spec, '<');
  if ((kind === 'int' || kind === 'bool') && 'bcdoxXn'.includes(type)) {
    if (spec.precision !== null) throw new FormatSpecError('Precision not allowed in integer format specifier');
    const neg = x < 0;
    const a = Math.abs(x);
    let body: string;
    switch (type) {
      case 'b': body = (spec.alt ? '0b' : '') + a.toString(2); break;
      case 'o': body = (spec.alt ? '0o' : '') + a.toString(8); break;
      case 'x': body = (spec.alt ? '0x' : '') + a.toString(16); break;
      case 'X': body = (spec.alt ? '0X' : '') + a.toString(16).toUpperCase(); break;
      case 'c': body = String.fromCodePoint(a); break;
      default: body = BigInt(a).toString();
    }
    if (spec.grouping && (type === 'd' || type === '' || type === 'n')) body = group(body, spec.grouping);
    else if (spec.grouping === '_' && 'boxX'.includes(type)) {
      const pre = spec.alt ? body.slice(0, 2) : '';
      body = pre + group(body.slice(pre.length), '_', 4);
    }
    const signStr = neg ? '-' : spec.sign === '+' ? '+' : spec.sign === ' ' ? ' ' : '';
    return pad(body, signStr, spec, '>');
  }
  if (kind === 'int' && type === '') {
    return formatValue(v, 'int', specText + 'd', strText);
  }
  if (!'eEfFgGn%'.includes(type) && type !== '') {
    throw new FormatSpecError(`Unknown format code '${type}' for object of type '${kind}'`);
  }
  const neg = x < 0 || Object.is(x, -0);
  x = Math.abs(x);
  let body: string;
  const prec = spec.precision;
  if (!Number.isFinite(x)) {
    body = Number.isNaN(x) ? 'nan' : 'inf';
    if ('EFG'.includes(type) && type) body = body.toUpperCase();
    if (type === '%') body += '%';
  } else {
    switch (type) {
      case 'e':
      case 'E':
        body = expForm(x, prec ?? 6, type === 'E');
        break;
      case 'f':
      case 'F':
        body = toFixedPy(x, prec ?? 6);
        if (spec.alt && !body.includes('.')) body += '.';
        break;
      case '%':
        body = toFixedPy(x * 100, prec ?? 6) + '%';
        break;
      case 'g':
      case 'G':
      case 'n':
        body = generalForm(x, prec ?? 6, spec.alt, type === 'G', false);
        break;
      default:
        if (prec === null) body = kind === 'int' ? String(x) : reprFloat(x);
        else body = generalForm(x, prec, spec.alt, false, true);
    }
  }
  if (spec.grouping) {
    const m = /^(\d+)(.*)$/s.exec(body);
    if (m) body = group(m[1], spec.grouping) + m[2];
  }
  const signStr = neg && !(x === 0 && false) ? '-' : spec.sign === '+' ? '+' : spec.sign === ' ' ? ' ' : '';
  return pad(body, signStr, spec, '>');
}
