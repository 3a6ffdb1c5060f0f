// Unit test of the keyword matcher (src/keywords.ts), which must agree with the server's
// (crates/engine/src/exec/keyword.rs). Run from web/: node --test tests/keywords.test.mjs
// The module is transpiled with the project's TypeScript into a temporary file first (Node 20
// cannot run TypeScript itself).

import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import ts from "typescript";

const here = path.dirname(fileURLToPath(import.meta.url));
const source = fs.readFileSync(path.join(here, "../src/keywords.ts"), "utf8");
const { outputText } = ts.transpileModule(source, {
  compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ES2022 },
  fileName: "keywords.ts",
});
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mailscope-keywords-"));
const file = path.join(dir, "keywords.mjs");
fs.writeFileSync(file, outputText);
const { terms, keywordPieces, hits, wildcard } = await import(pathToFileURL(file).href);
fs.rmSync(dir, { recursive: true, force: true });

/** Whether the keyword matches anywhere in the text (the server's `found_in`). */
const found = (keyword, text) => hits(text, [keyword]).length > 0;
/** The marked substrings. */
const marked = (text, keywords) => hits(text, keywords).map(([s, e]) => text.slice(s, e));

test("terms break at everything but letters and digits, lower-cased, with offsets", () => {
  const text = "RE: Invoice #4711 for jsmith@example.com (München)";
  assert.deepEqual(
    terms(text).map((t) => t.text),
    ["re", "invoice", "4711", "for", "jsmith", "example", "com", "münchen"],
  );
  for (const t of terms(text)) assert.equal(text.slice(t.start, t.end).toLowerCase(), t.text);
  assert.deepEqual(terms(""), []);
  assert.deepEqual(terms("-- !!"), []);
  // Letters outside the BMP count as one character and keep their UTF-16 span.
  // (Deseret 𐐀 U+10400 lower-cases to 𐐨 U+10428.)
  const wide = "a 𐐀𐐁 b";
  assert.deepEqual(terms(wide).map((t) => [t.text, wide.slice(t.start, t.end)]), [["a", "a"], ["𐐨𐐩", "𐐀𐐁"], ["b", "b"]]);
  assert.deepEqual(marked(wide, ["?𐐩"]), ["𐐀𐐁"]);
  // Numbers that are not digits are term characters too (Rust's is_numeric): ², Ⅻ.
  assert.deepEqual(terms("x² Ⅻ_y").map((t) => t.text), ["x²", "ⅻ", "y"]);
});

test("keyword pieces keep * and ?", () => {
  assert.deepEqual(keywordPieces("jsmith@*.com"), ["jsmith", "*", "com"]);
  assert.deepEqual(keywordPieces('"Monthly Report"'), ["monthly", "report"]);
  assert.deepEqual(keywordPieces("inv?ice*"), ["inv?ice*"]);
  assert.deepEqual(keywordPieces("--"), []);
});

test("keywords match whole terms case-insensitively", () => {
  assert.ok(found("invoice", "RE: Invoice 42"));
  assert.ok(found("INVOICE", "re: invoice 42"));
  assert.ok(!found("invoi", "Invoice"));
  assert.ok(!found("re", "Received"));
  assert.ok(found("re", "RE: Received"));
  assert.deepEqual(marked("RE: Received", ["re"]), ["RE"]);
  assert.deepEqual(marked("Invoice overdue", ["OVERDUE"]), ["overdue"]);
});

test("wildcards: * any run, ? one character, within one term", () => {
  assert.ok(found("invoi*", "Invoice"));
  assert.ok(found("*voice", "Invoice"));
  assert.ok(found("inv?ice", "Invoice"));
  assert.ok(!found("inv?ice", "Invooice"));
  assert.ok(found("*456*", "TEST1234567"));
  assert.ok(!found("com*services", "com.test.services"));
  assert.deepEqual(marked("Re: Invoice 4711 overdue", ["*471*"]), ["4711"]);
  const w = (p, t) => wildcard(Array.from(p), Array.from(t));
  assert.ok(w("a*b*c", "aXbYbZc"));
  assert.ok(!w("a*b*c", "aXbYbZ"));
  assert.ok(w("*", ""));
  assert.ok(w("**", "abc"));
  assert.ok(!w("?", ""));
  assert.ok(w("*a", "aaaa"));
  assert.ok(w("?", "ü"));
  assert.ok(w("?", "𝐚"));
});

test("phrases match consecutive terms across punctuation", () => {
  assert.deepEqual(marked("from jsmith@example.com today", ["jsmith@example.com"]), ["jsmith@example.com"]);
  assert.deepEqual(marked("The Monthly  Report, June", ["monthly report"]), ["Monthly  Report"]);
  assert.ok(!found('"monthly report"', "monthly sales report"));
  assert.deepEqual(marked("jsmith@example.com", ["jsmith@*.com"]), ["jsmith@example.com"]);
  assert.ok(!found("jsmith@*.com", "jsmith@mail.example.com"));
  assert.deepEqual(marked("jsmith@mail.example.com", ["jsmith@*.example.com"]), ["jsmith@mail.example.com"]);
  assert.deepEqual(marked("2001:db8::1 and 2001:db8::2", ["2001:db8::1"]), ["2001:db8::1"]);
});

test("non-ASCII text", () => {
  assert.deepEqual(marked("Grüße aus MÜNCHEN", ["münchen"]), ["MÜNCHEN"]);
  assert.deepEqual(marked("Grüße aus München", ["MÜNCHEN"]), ["München"]);
  assert.deepEqual(marked("Grüße aus München", ["grüße"]), ["Grüße"]);
  assert.ok(!found("gr", "Grüße aus München"));
  assert.deepEqual(marked("会議のお知らせ", ["会議のお知らせ"]), ["会議のお知らせ"]);
  assert.deepEqual(marked("Встреча по проекту Orion", ["ВСТРЕЧА"]), ["Встреча"]);
  // The whole text is lower-cased at once: a final capital sigma becomes ς, as in Rust.
  assert.ok(found("ΟΔΟΣ", "ΟΔΟΣ"));
  assert.ok(found("\u03bf\u03b4\u03bf\u03c2", "ΟΔΟΣ")); // final ς
  assert.ok(!found("\u03bf\u03b4\u03bf\u03c3", "ΟΔΟΣ")); // σ
  assert.ok(found("\u03c3\u03bf\u03c2", "ΣΟΣ"));
  // One character lower-casing to two (İ → i̇) keeps the offsets in the original text.
  const text = "İstanbul münchen";
  assert.deepEqual(marked(text, ["münchen"]), ["münchen"]);
});

test("hits are sorted and overlapping or adjacent ones merge", () => {
  const text = "Re: Invoice 4711 overdue, invoice again";
  assert.deepEqual(hits(text, ["invoice", "invoice 4711", "4711 overdue"]), [[4, 24], [26, 33]]);
  assert.deepEqual(marked(text, ["overdue", "invoice"]), ["Invoice", "overdue", "invoice"]);
  // Adjacent (touching) ranges merge into one mark.
  assert.deepEqual(hits("abc", ["a*", "abc"]), [[0, 3]]);
  assert.deepEqual(hits("ab cd", ["ab cd", "cd"]), [[0, 5]]);
  // A keyword with no pieces, or no keywords, marks nothing.
  assert.deepEqual(hits("anything -- here", ["--"]), []);
  assert.deepEqual(hits("anything", []), []);
  // A lone * piece stands for one whole term.
  assert.deepEqual(marked("a b c d", ["b * d"]), ["b c d"]);
  assert.ok(!found("b * d", "b d"));
});

test("markup in the text is only text to the matcher", () => {
  const subject = "<img src=x onerror=alert(1)>";
  assert.deepEqual(marked(subject, ["onerror"]), ["onerror"]);
  assert.deepEqual(marked(subject, ["img src"]), ["img src"]);
});
