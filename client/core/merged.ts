/**
 * The merged-config preview's addresses and links (no vscode import, unit-tested). A preview of
 * `file:///w/configs/a.py` lives at `mmcls-merged:/w/configs/a.py.merged.py?<source uri>`: the `.py`
 * ending gives it Python highlighting, the query keeps the source's exact URI.
 */
import type { LineOrigin } from '../../server/protocol';

export const MERGED_SCHEME = 'mmcls-merged';

export interface UriParts {
  scheme: string;
  path: string;
  query: string;
}

/** The preview's URI parts for a config document URI (`file:///...`) and its file system path. */
export function mergedUriFor(sourceUri: string, sourcePath: string): UriParts {
  return { scheme: MERGED_SCHEME, path: `${sourcePath.replace(/\\/g, '/')}.merged.py`, query: sourceUri };
}

/** The source URI a preview shows (its query), or undefined for another URI. */
export function sourceOfMerged(parts: UriParts): string | undefined {
  return parts.scheme === MERGED_SCHEME && parts.query ? parts.query : undefined;
}

export interface LineLink {
  line: number;
  /** Columns of the linked text on that line (the key, or the whole value when there is no key). */
  start: number;
  end: number;
  target: { uri: string; line: number; character: number };
  tooltip: string;
}

function shortName(uri: string): string {
  const m = /[^/\\]+$/.exec(decodeURIComponent(uri.replace(/^file:\/\//, '')));
  return m ? m[0] : uri;
}

/**
 * One link per line that has an origin: over the key (`depth` in `depth=50,`, `'lr'` in `'lr': 0.1`)
 * when the line starts with one, else over the line's text; the tooltip names the file and what the
 * value replaced.
 */
export function lineLinks(text: string, origins: (LineOrigin | null)[]): LineLink[] {
  const lines = text.split('\n');
  const out: LineLink[] = [];
  for (let i = 0; i < lines.length && i < origins.length; i++) {
    const o = origins[i];
    if (!o) continue;
    const l = lines[i];
    const lead = l.length - l.trimStart().length;
    const key = /^(\s*)(['"]?)([A-Za-z_][\w]*)\2\s*[=:]/.exec(l);
    let start = lead;
    let end = l.trimEnd().length;
    if (key) {
      start = key[1].length;
      end = start + key[2].length * 2 + key[3].length;
    }
    if (end <= start) continue;
    let tooltip = `${o.keyPath}: ${shortName(o.uri)}:${o.line + 1}`;
    if (o.overrode.length) tooltip += ` (overrides ${o.overrode.map((p) => `${p.value} in ${shortName(p.uri)}:${p.line + 1}`).join(', ')})`;
    out.push({ line: i, start, end, target: { uri: o.uri, line: o.line, character: o.character }, tooltip });
  }
  return out;
}

/** Text shown when the config cannot be merged and no earlier version merged either. */
export function mergeErrorText(configPath: string, error: string): string {
  return `# The config ${configPath} cannot be merged:\n#\n${error.split('\n').map((l) => `#   ${l}`).join('\n')}\n`;
}
