// Result tables: sortable by any column, numbers right-aligned and grouped, statuses with
// their colour. Cells carry the raw value in `data-raw`.

import type { Cell, QueryResult } from "../api";
import { h, replace } from "../dom";
import { STATUS_COLORS, formatCell, isNumericType } from "../format";
import { compileKeywords } from "../keywords";
import { messageHref } from "../router";

/** Columns holding a Message-ID: each cell links to the message's page. */
const MESSAGE_ID_COLUMNS = new Set(["messageid", "message_id"]);

export interface TableOptions {
  tz: string;
  columns?: string[] | undefined;
  /** Row number of the first row shown (search paging). */
  firstRow?: number;
  /** Search keywords to mark where they match in text cells (`mark.keyword-hit`). */
  highlight?: string[] | undefined;
}

/** `text` as text nodes, with the ranges of `ranges` wrapped in `mark.keyword-hit`. */
function marked(text: string, ranges: Array<[number, number]>): (Node | string)[] {
  const parts: (Node | string)[] = [];
  let at = 0;
  for (const [start, end] of ranges) {
    if (start > at) parts.push(text.slice(at, start));
    parts.push(h("mark", { class: "keyword-hit" }, text.slice(start, end)));
    at = end;
  }
  if (at < text.length) parts.push(text.slice(at));
  return parts;
}

function compare(a: Cell, b: Cell): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(a).localeCompare(String(b), undefined, { numeric: true, sensitivity: "base" });
}

export function renderTable(element: HTMLElement, result: QueryResult, options: TableOptions): () => void {
  const order = (options.columns ?? result.columns)
    .map((name) => result.columns.indexOf(name))
    .filter((i) => i >= 0);
  const indices = order.length > 0 ? order : result.columns.map((_, i) => i);
  let sortColumn = -1;
  let descending = false;
  const matcher = options.highlight && options.highlight.length > 0 ? compileKeywords(options.highlight) : null;
  /** The cell's text, keyword hits marked when the value is text (not a time or number). */
  const content = (text: string, value: Cell, type: string | undefined): (Node | string)[] => {
    if (!matcher || typeof value !== "string" || type === "time" || text === "") return [text];
    const ranges = matcher(text);
    return ranges.length === 0 ? [text] : marked(text, ranges);
  };

  const table = h("table", { class: "data-table" });
  const thead = h("thead");
  const tbody = h("tbody");
  table.append(thead, tbody);
  const wrap = h("div", { class: "table-wrap" }, table);

  const drawHead = () => {
    const row = h("tr");
    for (const i of indices) {
      const numeric = isNumericType(result.types[i]);
      const th = h(
        "th",
        {
          class: `${numeric ? "num" : ""} sortable`,
          scope: "col",
          "aria-sort": sortColumn === i ? (descending ? "descending" : "ascending") : "none",
          "data-column": result.columns[i],
        },
        h("span", null, result.columns[i]!),
        h("span", { class: `sort-mark ${sortColumn === i ? (descending ? "desc" : "asc") : ""}` }),
      );
      th.addEventListener("click", () => {
        if (sortColumn === i) descending = !descending;
        else {
          sortColumn = i;
          descending = numeric;
        }
        drawHead();
        drawBody();
      });
      row.appendChild(th);
    }
    replace(thead, row);
  };

  const drawBody = () => {
    const rows = result.rows.slice();
    if (sortColumn >= 0) {
      rows.sort((a, b) => compare(a[sortColumn] ?? null, b[sortColumn] ?? null) * (descending ? -1 : 1));
    }
    const fragment = document.createDocumentFragment();
    for (const row of rows) {
      const tr = h("tr");
      for (const i of indices) {
        const value = row[i] ?? null;
        const type = result.types[i];
        const td = h("td", { class: isNumericType(type) ? "num" : type === "time" ? "time" : "" });
        td.dataset.raw = value === null ? "" : String(value);
        const text = formatCell(value, type, options.tz);
        const columnName = result.columns[i]!.toLowerCase();
        if (columnName === "status" && typeof value === "string") {
          const dot = h("span", { class: "status-dot" });
          dot.style.backgroundColor = STATUS_COLORS[value] ?? "#adb5bd";
          td.append(dot, h("span", null, ...content(text, value, type)));
        } else if (value === null) {
          td.appendChild(h("span", { class: "null" }, "—"));
        } else if (MESSAGE_ID_COLUMNS.has(columnName) && typeof value === "string" && value.trim() !== "") {
          td.appendChild(h("a", { href: messageHref(value), class: "message-link", "data-testid": "message-link" }, ...content(text, value, type)));
        } else {
          td.append(...content(text, value, type));
        }
        tr.appendChild(td);
      }
      fragment.appendChild(tr);
    }
    replace(tbody, fragment);
  };

  drawHead();
  drawBody();
  replace(element, wrap);
  return () => undefined;
}
