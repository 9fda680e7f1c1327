import { TextTemplate } from './ast';

/** Decodes the escapes of a (non-raw) Python string body. */
export function decodeEscapes(body: string, bytes = false): string {
  if (body.indexOf('\\') < 0) return body;
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c !== '\\' || i + 1 >= body.length) {
      out += c;
      continue;
    }
    const n = body[++i];
    switch (n) {
      case '\n': break;
      case '\r': if (body[i + 1] === '\n') i++; break;
      case '\\': out += '\\'; break;
      case "'": out += "'"; break;
      case '"': out += '"'; break;
      case 'a': out += '\x07'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'v': out += '\v'; break;
      case 'x': {
        const h = body.slice(i + 1, i + 3);
        if (/^[0-9a-fA-F]{2}$/.test(h)) {
          out += String.fromCharCode(parseInt(h, 16));
          i += 2;
        } else out += '\\x';
        break;
      }
      case 'u':
      case 'U': {
        const len = n === 'u' ? 4 : 8;
        const h = body.slice(i + 1, i + 1 + len);
        if (!bytes && h.length === len && /^[0-9a-fA-F]+$/.test(h) && parseInt(h, 16) <= 0x10ffff) {
          out += String.fromCodePoint(parseInt(h, 16));
          i += len;
        } else out += '\\' + n;
        break;
      }
      default:
        if (n >= '0' && n <= '7') {
          let j = i;
          while (j < i + 3 && body[j] >= '0' && body[j] <= '7') j++;
          out += String.fromCharCode(parseInt(body.slice(i, j), 8));
          i = j - 1;
        } else {
          out += '\\' + n;
        }
    }
  }
  return out;
}

export type ParsedTemplate = { kind: 'base'; path: (string | number)[] } | { kind: 'text'; template: TextTemplate };

/** Reads the text of one `{{...}}` / `<<...>>` placeholder (as matched by the tokenizer). */
export function parseTemplate(text: string): ParsedTemplate | null {
  let m = /^\{\{\s*(fileDirname|fileBasename|fileBasenameNoExtension|fileExtname)\s*\}\}$/.exec(text);
  if (m) return { kind: 'text', template: { name: m[1], env: false, default: '' } };
  m = /^\{\{['"]?\s*\$(\w+)\s*:\s*(\S*?)\s*['"]?\}\}$/.exec(text);
  if (m) return { kind: 'text', template: { name: m[1], env: true, default: m[2] } };
  m = /^(?:\{\{|<<)\s*_base_(.*?)\s*(?:\}\}|>>)$/s.exec(text);
  if (!m) return null;
  const path: (string | number)[] = [];
  const re = /\.(\w+)|\[\s*(-?\d+)\s*\]|\[\s*'([^'\n]*)'\s*\]|\[\s*"([^"\n]*)"\s*\]/y;
  let i = 0;
  const s = m[1];
  while (i < s.length) {
    re.lastIndex = i;
    const p = re.exec(s);
    if (!p) return null;
    if (p[1] !== undefined) path.push(p[1]);
    else if (p[2] !== undefined) path.push(Number(p[2]));
    else path.push(p[3] ?? p[4]);
    i = re.lastIndex;
  }
  if (path.length === 0) return null;
  return { kind: 'base', path };
}

/** The same placeholders as the tokenizer's TEMPLATE_RE, searched inside string literals. */
export const STRING_TEMPLATE_RE =
  /\{\{\s*(?:fileDirname|fileBasename|fileBasenameNoExtension|fileExtname)\s*\}\}|\{\{['"]?\s*\$\w+\s*:\s*\S*?\s*['"]?\}\}|\{\{\s*_base_(?:\.\w+|\[\s*-?\d+\s*\]|\[\s*'[^'\n]*'\s*\]|\[\s*"[^"\n]*"\s*\])+\s*\}\}|<<\s*_base_(?:\.\w+|\[\s*-?\d+\s*\]|\[\s*'[^'\n]*'\s*\]|\[\s*"[^"\n]*"\s*\])+\s*>>/g;
