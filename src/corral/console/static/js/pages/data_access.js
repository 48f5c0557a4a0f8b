// Data-access page: who read which sensitive records, newest first, with filters, older pages and row details.

import { api } from "../api.js";
import { onRefresh, startShell } from "../shell.js";
import { $, clear, describe, el, fmtTime, pretty, setState, truncate } from "../ui.js";

startShell();

const form = $("#filters");
const tbody = $("#access-table tbody");
const state = $("#access-state");
const KNOWN_KINDS = ["job", "dlq_entry", "audit", "audit-export", "data-access"];
const FIELDS = ["actor", "target_type", "since", "until"];
let before = null;

for (const kind of KNOWN_KINDS) $("#known-kinds").appendChild(el("option", { value: kind }));

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
}

async function load() {
  setState(state, "loading", "Loading the data-access log…");
  syncLocation();
  let page;
  try {
    page = await api.get("/owner/data-access", { ...filters(), before: before ?? undefined, limit: 50 });
  } catch (error) {
    clear(tbody);
    setState(state, "error", `Could not load the data-access log: ${describe(error)}`);
    throw error;
  }
  clear(tbody);
  for (const row of page.items) {
    const details = el("tr", { class: "details", hidden: true },
      el("td", { colspan: 7 }, el("dl", { class: "facts" },
        el("dt", { text: "Records" }), el("dd", { class: "mono", text: row.target_ids.join(", ") || "–" }),
        el("dt", { text: "Filter" }), el("dd", {}, el("pre", { class: "code", text: pretty(row.details) })))));
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
        el("td", { class: "mono", text: row.target_type }),
        el("td", { class: "num", text: String(row.target_ids.length) }),
        el("td", { class: "mono", title: row.target_ids.join(", "), text: truncate(row.target_ids.join(", "), 60) || "–" }),
        el("td", { class: "mono", text: row.ip || "–" }),
        el("td", {}, toggle)),
      details);
  }
  if (!page.items.length) setState(state, "empty", "No data-access records match these filters.");
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

onRefresh(() => load());
load().catch(() => {});
