// Where a search's keywords matched, for highlighting: Sumo's term semantics exactly as the
// server applies them (crates/engine/src/exec/keyword.rs). Pure functions, no DOM.
//
// - A term is a maximal run of letters and digits (Rust's `char::is_alphanumeric`: Unicode
//   Alphabetic or Numeric), compared after lower-casing the whole text.
// - A keyword is split the same way except that `*` and `?` belong to its pieces; each piece
//   is a pattern for one whole term (`*` any run, possibly empty; `?` one character), and a
//   keyword of k pieces matches k consecutive terms.
// Offsets are UTF-16 indices into the original (not lower-cased) text.

const TERM_CHAR = /^[\p{Alphabetic}\p{N}]$/u;

function isTermChar(c: string): boolean {
  return TERM_CHAR.test(c);
}

/** One term of a text: its lower-cased characters and where it stands in the text. */
export interface Term {
  /** The term, lower-cased. */
  text: string;
  /** Its characters (code points), lower-cased. */
  chars: string[];
  /** UTF-16 offset of the first character of the original text the term comes from. */
  start: number;
  /** UTF-16 offset just past the last character of the original text it comes from. */
  end: number;
}

/**
 * The terms of `text`, lower-cased the way `str::to_lowercase` does (the whole text at once,
 * so a final sigma lower-cases to `ς`), each with its span in the original text. A character
 * whose lower case is several characters (`İ` → `i̇`) belongs wholly to every term that one
 * of those characters is part of.
 */
export function terms(text: string): Term[] {
  // Each original code point with the lower case it contributes. Lower-casing a whole text
  // gives the same lengths as lower-casing each character (the one context-dependent
  // mapping, final sigma, swaps one character for another), so the whole text's lower case
  // can be cut at the same places; should it ever not, each character's own is used.
  const points: { start: number; end: number; lower: string }[] = [];
  let total = 0;
  for (let i = 0; i < text.length; ) {
    const cp = text.codePointAt(i)!;
    const width = cp > 0xffff ? 2 : 1;
    const lower = text.slice(i, i + width).toLowerCase();
    points.push({ start: i, end: i + width, lower });
    total += lower.length;
    i += width;
  }
  const whole = text.toLowerCase();
  if (whole.length === total) {
    let at = 0;
    for (const point of points) {
      const next = at + point.lower.length;
      point.lower = whole.slice(at, next);
      at = next;
    }
  }

  const out: Term[] = [];
  let current: Term | null = null;
  for (const point of points) {
    for (const c of point.lower) {
      if (isTermChar(c)) {
        if (!current) current = { text: "", chars: [], start: point.start, end: point.end };
        current.chars.push(c);
        current.end = point.end;
      } else if (current) {
        current.text = current.chars.join("");
        out.push(current);
        current = null;
      }
    }
  }
  if (current) {
    current.text = current.chars.join("");
    out.push(current);
  }
  return out;
}

/** The pieces of a keyword: lower-cased runs of letters, digits, `*` and `?`. */
export function keywordPieces(keyword: string): string[] {
  const pieces: string[] = [];
  let current = "";
  for (const c of keyword.toLowerCase()) {
    if (c === "*" || c === "?" || isTermChar(c)) {
      current += c;
    } else if (current !== "") {
      pieces.push(current);
      current = "";
    }
  }
  if (current !== "") pieces.push(current);
  return pieces;
}

/** Whole-term wildcard match over code points (`*` any run, `?` exactly one). */
export function wildcard(pattern: readonly string[], text: readonly string[]): boolean {
  let p = 0;
  let t = 0;
  let star: [number, number] | null = null;
  while (t < text.length) {
    const c = pattern[p];
    if (c === "*") {
      star = [p, t];
      p += 1;
    } else if (c !== undefined && (c === "?" || c === text[t])) {
      p += 1;
      t += 1;
    } else if (star) {
      p = star[0] + 1;
      t = star[1] + 1;
      star = [star[0], star[1] + 1];
    } else {
      return false;
    }
  }
  for (; p < pattern.length; p += 1) if (pattern[p] !== "*") return false;
  return true;
}

/** Sorted, with overlapping or touching ranges merged. */
function merge(ranges: Array<[number, number]>): Array<[number, number]> {
  ranges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const out: Array<[number, number]> = [];
  for (const [start, end] of ranges) {
    const last = out[out.length - 1];
    if (last && start <= last[1]) last[1] = Math.max(last[1], end);
    else out.push([start, end]);
  }
  return out;
}

/** A matcher for a list of keywords, parsed once: the text's hits, as `hits` gives them. */
export function compileKeywords(keywords: readonly string[]): (text: string) => Array<[number, number]> {
  const phrases = keywords
    .map((keyword) => keywordPieces(keyword).map((piece) => Array.from(piece)))
    .filter((phrase) => phrase.length > 0);
  if (phrases.length === 0) return () => [];
  return (text) => {
    const found = terms(text);
    const ranges: Array<[number, number]> = [];
    for (const phrase of phrases) {
      const n = phrase.length;
      for (let i = 0; i + n <= found.length; i += 1) {
        let all = true;
        for (let j = 0; j < n && all; j += 1) all = wildcard(phrase[j]!, found[i + j]!.chars);
        if (all) ranges.push([found[i]!.start, found[i + n - 1]!.end]);
      }
    }
    return merge(ranges);
  };
}

/**
 * Every run of consecutive terms of `text` that one of `keywords` matches, as
 * `[start, end)` UTF-16 offsets from the first matched term's start to the last one's end,
 * sorted, overlapping and adjacent runs merged. A keyword without pieces matches nothing.
 */
export function hits(text: string, keywords: readonly string[]): Array<[number, number]> {
  return compileKeywords(keywords)(text);
}
