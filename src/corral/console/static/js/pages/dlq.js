// DLQ page: entries with filters, field:value search and cursor pages; multi-select with bulk replay and delete;
// "all matching" with a preview before acting; bulk task progress with cancel; entry detail with replay history,
// replay (optionally edited) and delete; clear behind the typed double confirmation.

import { api } from "../api.js";
import { bulkByFilter, planText, taskPlan } from "../bulk.js";
import { showRetention } from "../retention.js";
import { onRefresh, startShell } from "../shell.js";
import {
  $, act, clear, closeDialog, confirmAction, describe, el, fmtAgo, fmtNumber, fmtTime, openDialog, pretty,
  setState, showFormError, toast, truncate,
} from "../ui.js";

startShell();

const filters = $("#filters");
const tbody = $("#entries-table tbody");
const entriesState = $("#entries-state");
const entryDialog = $("#entry-dialog");
const FILTER_FIELDS = ["queue", "name", "fingerprint", "replays", "status", "release"];
const selected = new Set();
let cursors = [null];
let nextCursor = null;
let lastTotal = null;
let currentEntry = null;
let taskTimer = null;
const RECENT_TASK_MS = 60_000;

// ---- filter state <-> URL ---------------------------------------------------------------------------------------

function localInput(ms) {
  const date = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
  return date.toISOString().slice(0, 16);
}

function restore() {
  const params = new URLSearchParams(location.search);
  for (const name of FILTER_FIELDS) {
    const value = params.get(name);
    if (!value) continue;
    const field = filters.elements[name];
    if (field.tagName === "SELECT" && ![...field.options].some((option) => option.value === value)) {
      field.appendChild(el("option", { value, text: value }));
    }
    field.value = value;
  }
  for (const name of ["since", "until"]) if (params.get(name)) filters.elements[name].value = localInput(Number(params.get(name)));
  $("#q").value = params.get("search") || "";
  const size = Number(params.get("size"));
  if ([20, 50, 100, 200].includes(size)) $("#page-size").value = String(size);
  // The page reached by "Older": the cursors of every page before it, so a reload (or a shared link) shows the
  // same page and "Newer" still goes back.
  cursors = [null, ...params.getAll("cursor").filter((cursor) => /^\d+:\d+$/.test(cursor))];
}

/** The current filter as API query parameters; the search text goes as typed (the API parses its key:value
 * terms and names a key it does not know). */
function currentFilter() {
  const params = {};
  const text = $("#q").value.trim();
  if (text) params.q = text;
  for (const name of FILTER_FIELDS) {
    const value = filters.elements[name].value.trim();
    if (value) params[name] = value;
  }
  for (const name of ["since", "until"]) {
    const value = filters.elements[name].value;
    if (value) params[name] = new Date(value).getTime();
  }
  if (params.replays !== undefined) params.replays = Number(params.replays);
  return params;
}

function remember() {
  const query = new URLSearchParams();
  for (const name of FILTER_FIELDS) if (filters.elements[name].value.trim()) query.set(name, filters.elements[name].value.trim());
  for (const name of ["since", "until"]) if (filters.elements[name].value) query.set(name, String(new Date(filters.elements[name].value).getTime()));
  if ($("#q").value.trim()) query.set("search", $("#q").value.trim());
  if ($("#page-size").value !== "50") query.set("size", $("#page-size").value);
  for (const cursor of cursors.slice(1)) query.append("cursor", cursor);
  const text = query.toString();
  history.replaceState(null, "", location.pathname + (text ? `?${text}` : ""));
}

function asQuery(params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") query.set(key, String(value));
  }
  return query;
}

function asBody(params) {
  return { ...params };
}

// ---- options of the selects -------------------------------------------------------------------------------------

async function loadOptions() {
  const [queues, fields, releases] = await Promise.all([
    api.get("/owner/queues"), api.get("/owner/dlq/fields"), api.get("/owner/releases"),
  ]);
  const types = queues.flatMap((queue) => queue.job_types).sort().map((name) => ({ name }));
  const add = (select, value) => {
    if (![...select.options].some((option) => option.value === value)) select.appendChild(el("option", { value, text: value }));
  };
  for (const target of [$("#f-queue"), $("#clear-queue")]) for (const queue of queues) add(target, queue.name);
  for (const type of types) add($("#f-name"), type.name);
  // Newest release first: the one a failure most likely began in.
  for (const release of [...releases.items].reverse()) add($("#f-release"), release.name);
  const searchable = [...new Set(Object.values(fields).flat())].sort();
  $("#search-help").textContent = "Keys: queue, name, job, fp (the 10 characters shown are enough), replays, status, "
    + "release, error, since, until; payload fields: " + (searchable.join(", ") || "none")
    + ". Other words search job ids, payload values (and their first word) and error words (by prefix).";
}

// ---- entries ----------------------------------------------------------------------------------------------------

async function loadEntries() {
  const params = currentFilter();
  if (!params) return;
  remember();
  $("#export").href = `/owner/dlq/export?${asQuery({ ...params, format: "csv" })}`;
  setState(entriesState, "loading", "Loading entries…");
  const cursor = cursors[cursors.length - 1];
  const query = asQuery({ ...params, cursor, limit: $("#page-size").value });
  let page;
  try {
    page = await api.get(`/owner/dlq/entries?${query}`);
  } catch (error) {
    clear(tbody);
    setState(entriesState, "error", `Could not load the DLQ: ${describe(error)}`);
    showFormError($("#filter-error"), (error.errors || []).map((item) => `${item.field}: ${item.reason}`).join("; "));
    throw error;
  }
  showFormError($("#filter-error"), "");
  nextCursor = page.next_cursor;
  lastTotal = page.total;
  clear(tbody);
  selected.clear();
  for (const entry of page.items) tbody.appendChild(row(entry));
  $("#dlq-total").textContent = page.total === null ? "" : `· ${fmtNumber(page.total)} matching`;
  $("#page-info").textContent = `Page ${cursors.length}${page.total === null ? "" : ` · ${fmtNumber(page.total)} entries`}`;
  $("#prev-page").disabled = cursors.length <= 1;
  $("#first-page").disabled = cursors.length <= 1;
  $("#next-page").disabled = !nextCursor;
  $("#select-page").checked = false;
  syncSelection();
  if (!page.items.length) setState(entriesState, "empty", "No DLQ entries match.");
  else setState(entriesState, null);
}

function row(entry) {
  const box = el("input", { type: "checkbox", "aria-label": `Select entry ${entry.id}`, dataset: { id: entry.id } });
  box.addEventListener("change", () => {
    if (box.checked) selected.add(entry.id);
    else selected.delete(entry.id);
    syncSelection();
  });
  const open = el("button", { type: "button", class: "link mono", text: entry.job_id, "aria-label": `Open entry ${entry.id}` });
  open.addEventListener("click", () => openEntry(entry.id));
  const fingerprint = el("button", { type: "button", class: "link mono", text: entry.fingerprint.slice(0, 10),
    title: `Only entries with fingerprint ${entry.fingerprint}` });
  fingerprint.addEventListener("click", () => {
    filters.elements.fingerprint.value = entry.fingerprint;
    cursors = [null];
    loadEntries().catch(() => {});
  });
  return el("tr", { dataset: { entry: entry.id } },
    el("td", {}, box),
    el("td", { title: fmtTime(entry.failed_at), text: fmtAgo(entry.failed_at) }),
    el("td", { text: entry.queue }),
    el("td", {}, open),
    el("td", { text: entry.name }),
    el("td", { class: "num", text: String(entry.replay_count) }),
    el("td", {}, el("span", { class: `badge ${statusTone(entry.status)}`, text: entry.status })),
    el("td", { class: "error-text", title: entry.failed_reason, text: truncate(entry.failed_reason, 90) }),
    el("td", {}, fingerprint),
    el("td", { class: "mono", text: entry.release || "–" }));
}

function statusTone(status) {
  return { succeeded: "badge-good", pending: "badge-warn", died: "badge-bad" }[status] || "";
}

function syncSelection() {
  const count = selected.size;
  $("#selection-info").textContent = count ? `${count} selected on this page.` : "Nothing selected.";
  $("#replay-selected").disabled = count === 0;
  $("#delete-selected").disabled = count === 0;
  const matching = lastTotal === null ? "all matching" : `all ${fmtNumber(lastTotal)} matching`;
  $("#replay-matching").textContent = `Replay ${matching}…`;
  $("#delete-matching").textContent = `Delete ${matching}…`;
}

$("#select-page").addEventListener("change", (event) => {
  for (const box of tbody.querySelectorAll("input[type=checkbox]")) {
    box.checked = event.currentTarget.checked;
    if (box.checked) selected.add(box.dataset.id);
    else selected.delete(box.dataset.id);
  }
  syncSelection();
});

function reload() {
  cursors = [null];
  return loadEntries().catch(() => {});
}

$("#search").addEventListener("submit", (event) => {
  event.preventDefault();
  reload();
});
filters.addEventListener("submit", (event) => {
  event.preventDefault();
  reload();
});
for (const select of filters.querySelectorAll("select")) select.addEventListener("change", () => reload());
$("#reset-filters").addEventListener("click", () => {
  filters.reset();
  $("#q").value = "";
  reload();
});
$("#next-page").addEventListener("click", () => {
  if (!nextCursor) return;
  cursors.push(nextCursor);
  loadEntries().catch(() => {});
});
$("#prev-page").addEventListener("click", () => {
  if (cursors.length > 1) cursors.pop();
  loadEntries().catch(() => {});
});
$("#first-page").addEventListener("click", () => reload());
$("#page-size").addEventListener("change", () => reload());

// ---- bulk actions -----------------------------------------------------------------------------------------------

function summarise(results) {
  const values = Object.values(results || {});
  const failed = values.filter((value) => value.startsWith("error"));
  return failed.length ? `; ${failed.length} failed (${truncate(failed[0], 100)})` : "";
}

// More selected entries than the brake's threshold run as a braked background task (shown in the task panel).
$("#replay-selected").addEventListener("click", (event) =>
  act(event.currentTarget, async () => {
    const result = await api.post("/owner/dlq/replay", { ids: [...selected] });
    if (result.status === "started") await loadTasks();
    else await reload();
    return result;
  }, (result) => (result.status === "started"
    ? `Replay of ${result.count} selected entr${result.count === 1 ? "y" : "ies"} started as task ${result.task.id}`
    : `Replayed ${result.count} entr${result.count === 1 ? "y" : "ies"}${summarise(result.results)}`)));

$("#delete-selected").addEventListener("click", async (event) => {
  const button = event.currentTarget;
  const ids = [...selected];
  // Two calls, like every bulk delete: the API's impact and token, then the token with the typed phrase.
  const impact = await act(button, () => api.post("/owner/dlq/delete", { ids }));
  if (!impact) return;
  const phrase = await confirmAction({
    title: "Delete entries",
    text: `Delete ${fmtNumber(impact.count)} selected entr${impact.count === 1 ? "y" : "ies"}`
      + `${impact.queues.length ? ` of ${impact.queues.join(", ")}` : ""} for good? It expires in ${impact.expires_in} s.`,
    sample: impact.sample.map((item) => `${item.queue} · ${item.name} · job ${item.job_id}`),
    phrase: impact.phrase,
    confirmLabel: "Delete",
  });
  if (phrase === null) {
    toast("Delete cancelled: nothing was deleted", "info");
    return;
  }
  await act(button, async () => {
    const result = await api.post("/owner/dlq/delete", { ids, confirmation_token: impact.confirmation_token, phrase });
    await reload();
    return result;
  }, (result) => `Deleted ${result.count} entr${result.count === 1 ? "y" : "ies"}`);
});

async function byFilter(kind, button) {
  const params = currentFilter();
  if (!params) return;
  const started = await bulkByFilter(kind, asBody(params), button);
  if (started) await loadTasks();
}

$("#replay-matching").addEventListener("click", (event) => byFilter("replay", event.currentTarget));
$("#delete-matching").addEventListener("click", (event) => byFilter("delete", event.currentTarget));

// ---- tasks ------------------------------------------------------------------------------------------------------

async function loadTasks() {
  let tasks;
  try {
    tasks = await api.get("/owner/dlq/tasks", { limit: 5 });
  } catch (error) {
    toast(`Could not load bulk tasks: ${describe(error)}`, "error");
    return;
  }
  const list = clear($("#tasks"));
  const done = clear($("#tasks-done"));
  let running = false;
  let finished = 0;
  for (const task of tasks) {
    const active = task.status === "running" || task.status === "cancelling";
    running = running || active;
    // Running tasks, and those that ended in the last minute, show in full; older ones fold into one line.
    const recent = active || task.status === "paused" || Date.now() - (task.finished_at || task.updated_at) < RECENT_TASK_MS;
    if (!recent) finished += 1;
    const progress = el("progress", { max: Math.max(task.total, 1), value: task.done, "aria-label": `task ${task.id} progress` });
    const item = el("li", { class: "task", dataset: { task: task.id, status: task.status } },
      el("strong", { text: `${task.kind} · ${task.status}` }), " ",
      el("span", { class: "muted", text: `${fmtNumber(task.done)}/${fmtNumber(task.total)} · ${task.succeeded} ok · `
        + `${task.failed} failed · ${task.skipped} skipped · ${task.queues.join(", ")} · by ${task.actor} · ${fmtAgo(task.created_at)}` }),
      progress);
    if (task.kind === "replay") {
      const ramping = task.current_rate < task.rate && (task.status === "running" || task.status === "paused");
      item.appendChild(el("p", { class: "muted small-text", dataset: { plan: task.id },
        text: `${task.source === "ids" ? "selected entries" : "by filter"} · ${planText(taskPlan(task))}`
          + `${ramping ? ` · now ${fmtNumber(task.current_rate)}/s` : ""}` }));
    }
    if (task.errors.length) item.appendChild(el("p", { class: "error-text small-text", text: truncate(task.errors.join("; "), 300) }));
    if (task.status === "paused") {
      item.appendChild(el("p", { class: "error-text small-text", text: `Paused: ${task.paused_reason || ""}` }));
      const prints = el("ul", { class: "small-text", "aria-label": `task ${task.id} failing fingerprints` });
      for (const fp of task.paused_fingerprints) {
        prints.appendChild(el("li", { text: `${fp.fingerprint} ×${fp.count} · ${truncate(fp.reason, 160)}` }));
      }
      item.appendChild(prints);
      const resume = el("button", { type: "button", class: "small", text: "Resume" });
      resume.addEventListener("click", () => act(resume, async () => {
        await api.post(`/owner/dlq/tasks/${encodeURIComponent(task.id)}/resume`);
        await loadTasks();
      }, `Task ${task.id} resumed`));
      item.appendChild(resume);
    }
    if (task.status === "running" || task.status === "paused") {
      const cancel = el("button", { type: "button", class: "small", text: "Cancel" });
      cancel.addEventListener("click", () => act(cancel, async () => {
        await api.post(`/owner/dlq/tasks/${encodeURIComponent(task.id)}/cancel`);
        await loadTasks();
      }, `Task ${task.id} cancelled`));
      item.appendChild(cancel);
    }
    (recent ? list : done).appendChild(item);
  }
  list.hidden = list.children.length === 0;
  $("#tasks-finished").hidden = finished === 0;
  $("#tasks-finished-summary").textContent = `${finished} earlier bulk task${finished === 1 ? "" : "s"}`;
  $("#tasks-section").hidden = tasks.length === 0;
  clearTimeout(taskTimer);
  if (running) taskTimer = setTimeout(() => loadTasks(), 1000);
  else if (taskTimer) {
    taskTimer = null;
    await reload();
  }
}

// ---- one entry --------------------------------------------------------------------------------------------------

function fact(name, value) {
  return [el("dt", { text: name }), el("dd", { text: value })];
}

async function openEntry(id) {
  currentEntry = null;
  $("#entry-title").textContent = `Entry ${id}`;
  for (const part of ["#entry-facts", "#entry-reason", "#entry-data", "#entry-opts", "#entry-stack", "#entry-replays tbody"]) clear($(part));
  $("#entry-editor").hidden = true;
  setState($("#entry-state"), "loading", "Loading the entry…");
  openDialog(entryDialog);
  let entry;
  try {
    entry = await api.get(`/owner/dlq/entries/${encodeURIComponent(id)}`);
  } catch (error) {
    setState($("#entry-state"), "error", `Could not load entry ${id}: ${describe(error)}`);
    return;
  }
  currentEntry = entry;
  setState($("#entry-state"), null);
  $("#entry-title").textContent = `${entry.name} · job ${entry.job_id}`;
  $("#entry-facts").append(...fact("Entry", entry.id), ...fact("Queue", entry.queue), ...fact("Job id", entry.job_id),
    ...fact("Failed", fmtTime(entry.failed_at)), ...fact("Created", fmtTime(entry.created_at)),
    ...fact("Attempts", String(entry.attempts_made)), ...fact("Replays", `${entry.replay_count} of 5 · ${entry.status}`),
    ...fact("Fingerprint", `${entry.fingerprint} · ${entry.reason_pattern}`),
    ...(entry.release ? fact("Release", entry.release) : []),
    ...(entry.trace_id ? fact("Trace", entry.trace_id) : []));
  if (entry.died_again) {
    // The same job retried from its queue died again: counted here, never as a second entry.
    $("#entry-facts").append(...fact("Died again", `${entry.died_again.count} time${entry.died_again.count === 1 ? "" : "s"}`
      + ` after its capture, last ${fmtTime(entry.died_again.at)}: ${truncate(entry.died_again.reason || "", 200)}`));
  }
  $("#entry-reason").textContent = entry.failed_reason;
  $("#entry-data").textContent = pretty(entry.data);
  // Secret fields arrive masked; "Reveal" asks for their values, which the server logs as a data access.
  const secrets = entry.secret_fields || [];
  $("#entry-secrets").hidden = !secrets.length;
  $("#entry-secrets-text").textContent = `Secret fields masked: ${secrets.join(", ")}.`;
  $("#entry-reveal").disabled = false;
  $("#entry-opts").textContent = pretty(entry.opts);
  $("#entry-stack").textContent = entry.stacktrace.join("\n\n") || "–";
  for (const replay of entry.replays) {
    const runs = replay.outcome && replay.outcome.runs > 1 ? ` (ran ${replay.outcome.runs} times)` : "";
    const outcome = replay.outcome ? `${replay.outcome.status || ""} ${replay.outcome.reason || ""}`.trim() + runs : "pending";
    $("#entry-replays tbody").appendChild(el("tr", {},
      el("td", { text: String(replay.number) }), el("td", { text: fmtTime(replay.at) }), el("td", { text: replay.by || "" }),
      el("td", { class: "mono", text: replay.jobId || "" }), el("td", { text: outcome }),
      el("td", { title: replay.diff ? pretty(replay.diff) : "", text: replay.edited ? "yes" : "no" })));
  }
  if (!entry.replays.length) {
    $("#entry-replays tbody").appendChild(el("tr", {}, el("td", { colspan: 6, class: "muted", text: "Never replayed." })));
  }
  const limit = entry.replay_count >= 5;
  $("#entry-replay").disabled = limit;
  $("#entry-edit").disabled = limit;
  $("#entry-replay").title = limit ? "This entry reached the limit of 5 replays" : "";
}

async function replay(button, payload) {
  const entry = currentEntry;
  const result = await act(button, () => api.post(`/owner/dlq/entries/${encodeURIComponent(entry.id)}/replay`,
    payload === undefined ? {} : { payload }),
  (done) => `Replayed as job ${done.job_id} on ${done.queue} (replay ${done.replay} of 5)`);
  if (result) {
    await openEntry(entry.id);
    await reload();
  }
  return result;
}

$("#entry-replay").addEventListener("click", (event) => replay(event.currentTarget));
$("#entry-reveal").addEventListener("click", async (event) => {
  const entry = currentEntry;
  const button = event.currentTarget;
  const shown = await act(button, () => api.post(`/owner/dlq/entries/${encodeURIComponent(entry.id)}/reveal`, {}),
    "Secret values shown; this view is in the data-access log");
  if (shown && currentEntry === entry) {
    $("#entry-data").textContent = pretty(shown.data);
    $("#entry-secrets-text").textContent = `Secret fields shown: ${shown.secret_fields.join(", ")}.`;
    button.disabled = true;
  }
});
$("#entry-edit").addEventListener("click", () => {
  $("#entry-editor").hidden = false;
  $("#entry-payload").value = pretty(currentEntry.data);
  showFormError($("#entry-edit-error"), "");
  $("#entry-payload").focus();
});
$("#entry-edit-cancel").addEventListener("click", () => {
  $("#entry-editor").hidden = true;
});
$("#entry-replay-edited").addEventListener("click", async (event) => {
  let payload;
  try {
    payload = JSON.parse($("#entry-payload").value);
  } catch (error) {
    showFormError($("#entry-edit-error"), `not valid JSON: ${error.message}`);
    return;
  }
  const button = event.currentTarget;
  button.disabled = true;
  try {
    const entry = currentEntry;
    const done = await api.post(`/owner/dlq/entries/${encodeURIComponent(entry.id)}/replay`, { payload });
    toast(`Replayed with the edited payload as job ${done.job_id} (replay ${done.replay} of 5)`);
    await openEntry(entry.id);
    await reload();
  } catch (error) {
    const fields = (error.errors || []).map((item) => `${item.field}: ${item.reason}`);
    showFormError($("#entry-edit-error"), fields.length ? `${error.title}: ${fields.join("; ")}` : describe(error));
    toast(describe(error), "error");
  } finally {
    button.disabled = false;
  }
});
$("#entry-delete").addEventListener("click", async (event) => {
  const button = event.currentTarget;
  const entry = currentEntry;
  closeDialog(entryDialog);
  const ok = await confirmAction({ title: "Delete entry", text: `Delete the DLQ entry of job ${entry.job_id} (${entry.name}) for good?`,
    confirmLabel: "Delete" });
  if (ok === null) return;
  await act(button, () => api.del(`/owner/dlq/entries/${encodeURIComponent(entry.id)}`), "Entry deleted");
  await reload();
});

// ---- clear ------------------------------------------------------------------------------------------------------

$("#open-clear").addEventListener("click", () => {
  showFormError($("#clear-error"), "");
  openDialog($("#clear-dialog"));
});
$("#clear-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const body = {};
  if (form.elements.queue.value) body.queue = form.elements.queue.value;
  if (form.elements.replays.value) body.replays = Number(form.elements.replays.value);
  if (form.elements.older_than_hours.value) {
    const hours = Number(form.elements.older_than_hours.value);
    if (!Number.isInteger(hours) || hours < 1) {
      showFormError($("#clear-error"), "older than: a whole number of hours, 1 or more");
      return;
    }
    body.older_than_hours = hours;
  }
  let impact;
  try {
    impact = await api.post("/owner/dlq/clear", body);
  } catch (error) {
    showFormError($("#clear-error"), describe(error));
    toast(describe(error), "error");
    return;
  }
  closeDialog($("#clear-dialog"));
  const phrase = await confirmAction({
    title: "Clear the DLQ",
    text: `This deletes ${fmtNumber(impact.count)} entr${impact.count === 1 ? "y" : "ies"}`
      + `${impact.queues.length ? ` of ${impact.queues.join(", ")}` : ""} for good. It expires in ${impact.expires_in} s.`,
    sample: impact.sample.map((item) => `${item.queue} · ${item.name} · job ${item.job_id}`),
    phrase: impact.phrase,
    confirmLabel: "Clear",
  });
  if (phrase === null) {
    toast("Clear cancelled: nothing was deleted", "info");
    return;
  }
  const started = await act(null, () => api.post("/owner/dlq/clear", { ...body, confirmation_token: impact.confirmation_token, phrase }),
    (result) => `Clearing ${fmtNumber(result.count)} entries`);
  if (started) await loadTasks();
});

// ---- start ------------------------------------------------------------------------------------------------------

restore();
const retentionBanner = () => showRetention($("#retention-banner"), { target: "dlq" });
retentionBanner();
onRefresh(() => Promise.all([loadEntries(), loadTasks(), retentionBanner()]));
// The entries first: the options and tasks are fetched once the list is on screen.
loadEntries()
  .catch(() => {})
  .finally(() => {
    loadOptions().catch((error) => toast(`Could not load the filter options: ${describe(error)}`, "error"));
    loadTasks();
  });
