/**
 * "Did you mean": the closest known word to a mistyped command or flag, by
 * edit distance with adjacent transpositions counted as one edit (`fliter`
 * is one edit from `filter`). Only close matches are offered: at most a
 * third of the word's length, and never more than 2 edits.
 */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const limit = Math.min(2, Math.max(1, Math.floor(word.length / 3)))
  let best: string | undefined
  let bestDist = limit + 1
  for (const c of candidates) {
    const d = distance(word, c)
    if (d < bestDist || (d === bestDist && best !== undefined && c < best)) {
      best = c
      bestDist = d
    }
  }
  return bestDist <= limit ? best : undefined
}

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps. */
export function distance(a: string, b: string): number {
  const rows: number[][] = Array.from({length: a.length + 1}, (_, i) => [i, ...Array<number>(b.length).fill(0)])
  for (let j = 1; j <= b.length; j++) rows[0]![j] = j
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let d = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1)
      rows[i]![j] = d
    }
  }
  return rows[a.length]![b.length]!
}

/** `; did you mean X?` when there is a close candidate, else `fallback`. */
export function didYouMean(word: string, candidates: Iterable<string>, fallback = ''): string {
  const c = closest(word, candidates)
  return c === undefined ? fallback : `; did you mean ${c}?`
}
