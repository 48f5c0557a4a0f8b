// Paged logs (audit, data access): filters kept in the URL, newest-first pages by `before`, rows with details.

import { api } from "./api.js";
import { onRefresh } from "./shell.js";
import { $, clear, describe, el, setState } from "./ui.js";

const DATES = ["since", "until"];

// A row and its hidden details row; the Details button shows and hides the facts.
function rowWithDetails(id, cells, facts) {
  const details = el("tr", { class: "details", hidden: true },
    el("td", { colspan: cells.length + 1 }, el("dl", { class: "facts" }, ...facts)));
  const toggle = el("button", { type: "button", class: "small ghost", "aria-expanded": "false", text: "Details" });
  toggle.addEventListener("click", () => {
    details.hidden = !details.hidden;
    toggle.setAttribute("aria-expanded", String(!details.hidden));
    toggle.textContent = details.hidden ? "Details" : "Hide";
  });
  return [el("tr", { dataset: { id: String(id) } }, ...cells, el("td", {}, toggle)), details];
}

// Runs the page of `#<name>-table`: `render(row)` gives `{ cells, facts }`; `onSync(filters)` follows the filters;
// `alsoRefresh()` runs with every refresh (the `r` key and the Refresh button).
export function startPagedLog({ name, path, what, empty, fields, render, onSync = () => {}, alsoRefresh = () => {} }) {
  const form = $("#filters");
  const tbody = $(`#${name}-table tbody`);
  const state = $(`#${name}-state`);
  let before = null;

  const initial = new URLSearchParams(location.search);
  for (const field of fields) if (initial.get(field)) form.elements[field].value = initial.get(field);

  function filters() {
    const values = {};
    for (const field of fields) {
      const raw = form.elements[field].value.trim();
      if (raw) values[field] = DATES.includes(field) ? new Date(raw).toISOString() : raw;
    }
    return values;
  }

  function syncLocation() {
    const query = new URLSearchParams();
    for (const field of fields) if (form.elements[field].value.trim()) query.set(field, form.elements[field].value.trim());
    const text = query.toString();
    history.replaceState(null, "", location.pathname + (text ? `?${text}` : ""));
    onSync(filters());
  }

  async function load() {
    setState(state, "loading", `Loading the ${what}…`);
    syncLocation();
    let page;
    try {
      page = await api.get(path, { ...filters(), before: before ?? undefined, limit: 50 });
    } catch (error) {
      clear(tbody);
      setState(state, "error", `Could not load the ${what}: ${describe(error)}`);
      throw error;
    }
    clear(tbody);
    for (const row of page.items) {
      const { cells, facts } = render(row);
      tbody.append(...rowWithDetails(row.id, cells, facts));
    }
    if (!page.items.length) setState(state, "empty", empty);
    else setState(state, null);
    $("#older").disabled = page.next_before === null;
    $("#older").dataset.next = page.next_before ?? "";
    $("#newest").disabled = before === null;
  }

  function reload(nextBefore) {
    before = nextBefore;
    load().catch(() => {});
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    reload(null);
  });
  form.addEventListener("reset", () => setTimeout(() => reload(null)));
  $("#older").addEventListener("click", () => {
    const next = $("#older").dataset.next;
    if (next) reload(Number(next));
  });
  $("#newest").addEventListener("click", () => reload(null));
  for (const field of DATES) if (fields.includes(field)) form.elements[field].addEventListener("change", syncLocation);

  onRefresh(() => Promise.all([load(), alsoRefresh()]));
  reload(null);
}
