// Audit page: the audit log newest first with filters, older/newer pages, row details and CSV export.

import { urlFor } from "../api.js";
import { startPagedLog } from "../pagedlog.js";
import { showRetention } from "../retention.js";
import { startShell } from "../shell.js";
import { $, el, fmtTime, pretty, truncate } from "../ui.js";

startShell();

const KNOWN_ACTIONS = ["auth.login", "auth.logout", "queues.pause", "queues.resume", "queues.clean", "queues.purge",
  "queues.obliterate", "jobs.retry", "jobs.remove", "jobs.promote", "jobs.enqueue", "tokens.create", "tokens.revoke",
  "users.create", "users.disable", "dlq.replay", "dlq.delete", "dlq.clear"];

for (const action of KNOWN_ACTIONS) $("#known-actions").appendChild(el("option", { value: action }));

function resultTone(result) {
  if (result === "ok") return "good";
  if (result === "denied") return "warn";
  return "bad";
}

// The retention banner: audit rows due for deletion within the warning horizon; reloaded with every refresh.
const retentionBanner = () => showRetention($("#retention-banner"), { target: "audit" });
retentionBanner();

startPagedLog({
  name: "audit",
  path: "/owner/audit",
  what: "audit log",
  empty: "No audit rows match these filters.",
  fields: ["actor", "action", "resource", "since", "until"],
  onSync: (filters) => { $("#export").href = urlFor("/owner/audit.csv", filters); },
  alsoRefresh: retentionBanner,
  render: (row) => ({
    cells: [
      el("td", { text: fmtTime(Date.parse(row.created_at)) }),
      el("td", { text: row.actor }),
      el("td", { class: "mono", text: row.action }),
      el("td", { class: "mono", title: row.resource, text: truncate(row.resource, 60) }),
      el("td", {}, el("span", { class: `badge badge-${resultTone(row.result)}`, text: row.result })),
      el("td", { class: "num", text: String(row.affected) }),
      el("td", { class: "num", text: row.duration_ms ?? "–" }),
      el("td", { class: "mono", text: row.ip || "–" }),
    ],
    facts: [
      el("dt", { text: "User agent" }), el("dd", { text: row.user_agent || "–" }),
      el("dt", { text: "Parameters" }), el("dd", {}, el("pre", { class: "code", text: pretty(row.params) })),
    ],
  }),
});
