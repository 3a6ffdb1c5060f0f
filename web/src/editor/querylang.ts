// Highlighting for the Sumo-style pipeline query language: operators after `|`, functions,
// strings, numbers, `{{variables}}`, metadata fields and `//` comments.

import { StreamLanguage, HighlightStyle, type StringStream } from "@codemirror/language";
import { tags } from "@lezer/highlight";

const OPERATORS = new Set(
  (
    "json parse regex extract where count count_distinct count_frequent sum avg min max pct stddev " +
    "timeslice fillmissing transpose lookup sort order top topk limit fields if outlier dedup accum " +
    "total split csv replace concat format geoip threatlookup first last values nodrop multi field " +
    "as by on from in matches and or not asc desc row column all auto keys"
  ).split(" "),
);

const FUNCTIONS = new Set(
  (
    "isnull isempty isblank isvalidip isprivateip isvalidipv4 isvalidipv6 tolowercase touppercase " +
    "length substring trim abs ceil floor round log sqrt tolong todouble now formatdate parsedate " +
    "urlencode urldecode contains startswith endswith"
  ).split(" "),
);

interface State {
  afterPipe: boolean;
}

export const queryLanguage = StreamLanguage.define<State>({
  name: "mailscope-query",
  startState: () => ({ afterPipe: false }),
  token(stream: StringStream, state: State): string | null {
    if (stream.eatSpace()) return null;
    // Lookup sources such as geo://location and sumo://threat/cs.
    if (stream.match(/^[A-Za-z]+:\/\/[\w/.\-]+/)) {
      state.afterPipe = false;
      return "atom";
    }
    if (stream.match("//")) {
      stream.skipToEnd();
      return "comment";
    }
    if (stream.match("{{")) {
      stream.match(/^[^}]*/);
      stream.match("}}");
      return "special";
    }
    const ch = stream.peek();
    if (ch === '"' || ch === "'") {
      stream.next();
      let escaped = false;
      for (;;) {
        const next = stream.next();
        if (next === undefined) break;
        if (next === ch && !escaped) break;
        escaped = !escaped && next === "\\";
      }
      state.afterPipe = false;
      return "string";
    }
    if (ch === "|") {
      stream.next();
      state.afterPipe = true;
      return "separator";
    }
    if (stream.match(/^-?\d+(\.\d+)?([eE][-+]?\d+)?([smhdw]|[KMGT]i?)?\b/)) {
      state.afterPipe = false;
      return "number";
    }
    if (stream.match(/^_[A-Za-z][\w]*/)) {
      state.afterPipe = false;
      return "meta";
    }
    const word = stream.match(/^[A-Za-z][\w]*/) as RegExpMatchArray | null;
    if (word) {
      const lower = word[0].toLowerCase();
      const wasAfterPipe = state.afterPipe;
      state.afterPipe = false;
      if (stream.peek() === "(" && (FUNCTIONS.has(lower) || !OPERATORS.has(lower))) return "function";
      if (OPERATORS.has(lower) || wasAfterPipe) return "keyword";
      return "variable";
    }
    if (stream.match(/^(==|!=|<>|<=|>=|&&|\|\||[=<>!+\-*/%,()\[\]])/)) {
      state.afterPipe = false;
      return "operator";
    }
    stream.next();
    return null;
  },
  languageData: { commentTokens: { line: "//" } },
  tokenTable: {
    separator: tags.separator,
    special: tags.special(tags.variableName),
    function: tags.function(tags.variableName),
  },
});

export const queryHighlight = HighlightStyle.define([
  { tag: tags.keyword, color: "#5f3dc4", fontWeight: "600" },
  { tag: tags.string, color: "#2b8a3e" },
  { tag: tags.number, color: "#c2255c" },
  { tag: tags.comment, color: "#868e96", fontStyle: "italic" },
  { tag: tags.atom, color: "#0b7285", textDecoration: "underline dotted" },
  { tag: tags.separator, color: "#1c7ed6", fontWeight: "700" },
  { tag: tags.operator, color: "#1864ab" },
  { tag: tags.meta, color: "#e8590c" },
  { tag: tags.function(tags.variableName), color: "#0b7285" },
  { tag: tags.special(tags.variableName), color: "#d9480f", fontWeight: "600" },
  { tag: tags.variableName, color: "#212529" },
]);
