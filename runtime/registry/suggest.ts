/**
 * "Did you mean" for argument names, type names and enum values: the closest candidate by
 * optimal-string-alignment distance (Levenshtein with adjacent transpositions), compared without
 * case, `_` and `-` first so that `resnet` finds `ResNet` and `outindices` finds `out_indices`.
 */

/** Edit distance where inserting, deleting, substituting or swapping two adjacent characters costs 1. */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  if (!a.length) return b.length;
  if (!b.length) return a.length;
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array(rows * cols);
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[(i - 1) * cols + j] + 1, d[i * cols + j - 1] + 1, d[(i - 1) * cols + j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        v = Math.min(v, d[(i - 2) * cols + j - 2] + 1);
      }
      d[i * cols + j] = v;
    }
  }
  return d[rows * cols - 1];
}

function normalise(s: string): string {
  return s.toLowerCase().replace(/[_\-\s.]/g, '');
}

/**
 * The candidate closest to `word`, or undefined when none is close enough (distance at most a
 * third of the longer word, at least 1; 2 for words of 6 characters or more). Ties go to the
 * candidate listed first.
 */
export function suggest(word: string, candidates: Iterable<string>): string | undefined {
  const w = normalise(word);
  let best: string | undefined;
  let bestScore = Infinity;
  for (const c of candidates) {
    if (c === word) continue;
    const n = normalise(c);
    // Same letters once case and separators are ignored: the best possible match.
    const dist = n === w ? 0 : editDistance(w, n);
    const limit = Math.max(w.length >= 6 ? 2 : 1, Math.floor(Math.max(w.length, n.length) / 3));
    // A real edit between the raw spellings breaks ties between equal normalised distances.
    const score = dist * 1000 + Math.min(editDistance(word, c), 999);
    if (dist <= limit && score < bestScore) {
      best = c;
      bestScore = score;
    }
  }
  return best;
}
