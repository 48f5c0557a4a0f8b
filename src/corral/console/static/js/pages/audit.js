// Audit page: the audit log newest first with filters, older/newer pages, row details and CSV export.

import { api, urlFor } from "../api.js";
import { showRetention } from "../retention.js";
import { onRefresh, startShell } from "../shell.js";
import { $, clear, describe, el, fmtTime, pretty, setState, truncate } from "../ui.js";

startShell();

const form = $("#filters");
const tbody = $("#audit-table tbody");
const state = $("#audit-state");
const KNOWN_ACTIONS = ["auth.login", "auth.logout", "queues.pause", "queues.resume", "queues.clean", "queues.purge",
  "queues.obliterate", "jobs.retry", "jobs.remove", "jobs.promote", "jobs.enqueue", "tokens.create", "tokens.revoke",
  "users.create", "users.disable", "dlq.replay", "dlq.delete", "dlq.clear"];
const FIELDS = ["actor", "action", "resource", "since", "until"];
let before = null;

for (const action of KNOWN_ACTIONS) $("#known-actions").appendChild(el("option", { value: action }));

const initial = new URLSearchParams(location.search);
for (const name of FIELDS) if (initial.get(name)) form.elements[name].value = initial.get(name);

function filters() {
  const values = {};
  for (const name of FIELDS) {
    const raw = form.elements[name].value.trim();
    if (!raw) continue;
    values[name] = name === "since" || name === "until" ? new Date(raw).toISOString() : raw;
  }
  return values;
}

function syncLocation() {
  const query = new URLSearchParams();
  for (const name of FIELDS) if (form.elements[name].value.trim()) query.set(name, form.elements[name].value.trim());
  const text = query.toString();
  history.replaceState(null, "", location.pathname + (text ? `?${text}` : ""));
  $("#export").href = urlFor("/owner/audit.csv", filters());
}

function resultTone(result) {
  if (result === "ok") return "good";
  if (result === "denied") return "warn";
  return "bad";
}

async function load() {
  setState(state, "loading", "Loading the audit log…");
  syncLocation();
  let page;
  try {
    page = await api.get("/owner/audit", { ...filters(), before: before ?? undefined, limit: 50 });
  } catch (error) {
    clear(tbody);
    setState(state, "error", `Could not load the audit log: ${describe(error)}`);
    throw error;
  }
  clear(tbody);
  for (const row of page.items) {
    const details = el("tr", { class: "details", hidden: true },
      el("td", { colspan: 9 }, el("dl", { class: "facts" },
        el("dt", { text: "User agent" }), el("dd", { text: row.user_agent || "–" }),
        el("dt", { text: "Parameters" }), el("dd", {}, el("pre", { class: "code", text: pretty(row.params) })))));
    const toggle = el("button", { type: "button", class: "small ghost", "aria-expanded": "false", text: "Details" });
    toggle.addEventListener("click", () => {
      details.hidden = !details.hidden;
      toggle.setAttribute("aria-expanded", String(!details.hidden));
      toggle.textContent = details.hidden ? "Details" : "Hide";
    });
    tbody.append(
      el("tr", { dataset: { id: String(row.id) } },
        el("td", { text: fmtTime(Date.parse(row.created_at)) }),
        el("td", { text: row.actor }),
        el("td", { class: "mono", text: row.action }),
        el("td", { class: "mono", title: row.resource, text: truncate(row.resource, 60) }),
        el("td", {}, el("span", { class: `badge badge-${resultTone(row.result)}`, text: row.result })),
        el("td", { class: "num", text: String(row.affected) }),
        el("td", { class: "num", text: row.duration_ms ?? "–" }),
        el("td", { class: "mono", text: row.ip || "–" }),
        el("td", {}, toggle)),
      details);
  }
  if (!page.items.length) setState(state, "empty", "No audit rows match these filters.");
  else setState(state, null);
  $("#older").disabled = page.next_before === null;
  $("#older").dataset.next = page.next_before ?? "";
  $("#newest").disabled = before === null;
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  before = null;
  load().catch(() => {});
});
form.addEventListener("reset", () => {
  setTimeout(() => {
    before = null;
      load().catch(() => {});
  });
});
$("#older").addEventListener("click", () => {
  const next = $("#older").dataset.next;
  if (!next) return;
  before = Number(next);
  load().catch(() => {});
});
$("#newest").addEventListener("click", () => {
  before = null;
  load().catch(() => {});
});
for (const name of ["since", "until"]) form.elements[name].addEventListener("change", () => syncLocation());

const retentionBanner = () => showRetention($("#retention-banner"), { target: "audit" });
retentionBanner();
onRefresh(() => Promise.all([load(), retentionBanner()]));
load().catch(() => {});
