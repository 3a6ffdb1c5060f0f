// The query editor (CodeMirror 6): highlighting, history, Ctrl/Cmd+Enter to run, and the
// server's diagnostics underlined at their spans.

import { EditorState, type Extension } from "@codemirror/state";
import { EditorView, keymap, lineNumbers, highlightActiveLine, placeholder as placeholderExt, drawSelection } from "@codemirror/view";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { syntaxHighlighting, bracketMatching } from "@codemirror/language";
import { lintGutter, setDiagnostics, type Diagnostic as LintDiagnostic } from "@codemirror/lint";
import type { Diagnostic } from "../api";
import { queryHighlight, queryLanguage } from "./querylang";

/** Index into a JS (UTF-16) string of the character starting at UTF-8 byte `byte`. */
export function byteToIndex(text: string, byte: number): number {
  let bytes = 0;
  let index = 0;
  while (index < text.length && bytes < byte) {
    const code = text.codePointAt(index)!;
    bytes += code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
    index += code >= 0x10000 ? 2 : 1;
  }
  return index;
}

export interface QueryEditor {
  view: EditorView;
  text(): string;
  setText(text: string): void;
  showDiagnostics(diagnostics: Diagnostic[]): void;
  clearDiagnostics(): void;
  focus(): void;
  destroy(): void;
}

export function createEditor(
  parent: HTMLElement,
  options: { doc: string; onRun?: () => void; onChange?: () => void; placeholder?: string; minimal?: boolean },
): QueryEditor {
  const extensions: Extension[] = [
    history(),
    drawSelection(),
    bracketMatching(),
    queryLanguage,
    syntaxHighlighting(queryHighlight),
    lintGutter(),
    EditorView.lineWrapping,
    keymap.of([
      {
        key: "Mod-Enter",
        preventDefault: true,
        run: () => {
          options.onRun?.();
          return true;
        },
      },
      indentWithTab,
      ...defaultKeymap,
      ...historyKeymap,
    ]),
    EditorView.updateListener.of((update) => {
      if (update.docChanged) options.onChange?.();
    }),
    EditorView.contentAttributes.of({ "aria-label": "Query", spellcheck: "false" }),
  ];
  if (!options.minimal) extensions.push(lineNumbers(), highlightActiveLine());
  if (options.placeholder) extensions.push(placeholderExt(options.placeholder));
  const view = new EditorView({
    parent,
    state: EditorState.create({ doc: options.doc, extensions }),
  });
  return {
    view,
    text: () => view.state.doc.toString(),
    setText: (text) => view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } }),
    showDiagnostics: (diagnostics) => {
      const text = view.state.doc.toString();
      const length = text.length;
      const converted: LintDiagnostic[] = diagnostics.map((d) => {
        let from = d.span ? byteToIndex(text, d.span.start) : 0;
        let to = d.span ? byteToIndex(text, d.span.end) : length;
        from = Math.min(from, length);
        to = Math.min(Math.max(to, from), length);
        // An empty span (end of input) still needs one character to underline.
        if (from === to) {
          if (to < length) to += 1;
          else if (from > 0) from -= 1;
        }
        return {
          from,
          to,
          severity: "error",
          source: d.code,
          message: d.hint ? `${d.message} (${d.hint})` : d.message,
        };
      });
      view.dispatch(setDiagnostics(view.state, converted));
    },
    clearDiagnostics: () => view.dispatch(setDiagnostics(view.state, [])),
    focus: () => view.focus(),
    destroy: () => view.destroy(),
  };
}
