// Data-access page: who read which sensitive records, newest first, with filters, older pages and row details.

import { startPagedLog } from "../pagedlog.js";
import { startShell } from "../shell.js";
import { $, el, fmtTime, pretty, truncate } from "../ui.js";

startShell();

const KNOWN_KINDS = ["job", "dlq_entry", "audit", "audit-export", "data-access"];

for (const kind of KNOWN_KINDS) $("#known-kinds").appendChild(el("option", { value: kind }));

startPagedLog({
  name: "access",
  path: "/owner/data-access",
  what: "data-access log",
  empty: "No data-access records match these filters.",
  fields: ["actor", "target_type", "since", "until"],
  render: (row) => {
    const which = row.target_ids.join(", ");
    return {
      cells: [
        el("td", { text: fmtTime(Date.parse(row.created_at)) }),
        el("td", { text: row.actor }),
        el("td", { class: "mono", text: row.target_type }),
        el("td", { class: "num", text: String(row.target_ids.length) }),
        el("td", { class: "mono", title: which, text: truncate(which, 60) || "–" }),
        el("td", { class: "mono", text: row.ip || "–" }),
      ],
      facts: [
        el("dt", { text: "Records" }), el("dd", { class: "mono", text: which || "–" }),
        el("dt", { text: "Filter" }), el("dd", {}, el("pre", { class: "code", text: pretty(row.details) })),
      ],
    };
  },
});
