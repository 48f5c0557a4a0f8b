// Schedules page: every schedule with its rule, status and next run; create and edit (payload form generated from
// the job contract), pause/resume, run now, and delete behind a confirmation.

import { api, request } from "../api.js";
import { schemaForm } from "../schemaform.js";
import { onRefresh, startShell } from "../shell.js";
import {
  $, act, clear, closeDialog, confirmAction, describe, el, fmtTime, openDialog, setState, showFormError,
  toast, truncate,
} from "../ui.js";

startShell();

const tbody = $("#schedules-table tbody");
const state = $("#schedules-state");
const dialog = $("#schedule-dialog");
const OWN_FIELDS = ["id", "name", "every_ms", "cron", "tz"];
const UNITS = [86_400_000, 3_600_000, 60_000, 1_000];
let jobTypes = null;
let payloadForm = null;
let editing = null;
let timer = null;
let loading = null;
let queue = new URLSearchParams(location.search).get("queue") || "";

function path(schedule, suffix = "") {
  return `/owner/schedules/${encodeURIComponent(schedule.queue)}/${encodeURIComponent(schedule.id)}${suffix}`;
}

function fmtIn(ms) {
  const seconds = Math.max(0, Math.round((ms - Date.now()) / 1000));
  if (seconds < 60) return `in ${seconds} s`;
  if (seconds < 3600) return `in ${Math.round(seconds / 60)} min`;
  if (seconds < 86400) return `in ${Math.round(seconds / 3600)} h`;
  return `in ${Math.round(seconds / 86400)} d`;
}

function every(ms) {
  for (const [unit, label] of [[86_400_000, "d"], [3_600_000, "h"], [60_000, "min"], [1_000, "s"]]) {
    if (ms % unit === 0) return `every ${ms / unit} ${label}`;
  }
  return `every ${ms} ms`;
}

function rule(schedule) {
  if (schedule.every_ms) return every(schedule.every_ms);
  return `cron ${schedule.cron}${schedule.tz ? ` (${schedule.tz})` : " (UTC)"}`;
}

function nextRun(schedule) {
  if (schedule.status === "paused") {
    return el("td", { class: "muted", title: schedule.paused_at ? `paused ${fmtTime(schedule.paused_at)}` : null,
      text: "paused" });
  }
  if (!schedule.next_run) return el("td", { class: "muted", text: "–" });
  const when = schedule.next_run > Date.now() ? fmtIn(schedule.next_run) : "due now";
  return el("td", { class: "next-run", title: fmtTime(schedule.next_run) }, fmtTime(schedule.next_run),
    el("span", { class: "muted small-text", text: ` · ${when}` }));
}

function actions(schedule) {
  const label = `${schedule.queue}/${schedule.id}`;
  const paused = schedule.status === "paused";
  const toggle = el("button", { type: "button", class: "small", text: paused ? "Resume" : "Pause",
    "aria-label": `${paused ? "Resume" : "Pause"} schedule ${label}` });
  toggle.addEventListener("click", async () => {
    const done = await act(toggle, () => api.post(path(schedule, paused ? "/resume" : "/pause")),
      `Schedule ${label} ${paused ? "resumed" : "paused"}`);
    if (done) await refresh().catch(() => {});
  });
  const run = el("button", { type: "button", class: "small", text: "Run now", "aria-label": `Run schedule ${label} now`,
    disabled: !schedule.registered, title: schedule.registered ? null : "its job type is not registered here" });
  run.addEventListener("click", () => act(run, () => api.post(path(schedule, "/run")),
    (job) => `Enqueued ${job.name} as job ${job.id} on ${job.queue}`));
  const edit = el("button", { type: "button", class: "small", text: "Edit…", "aria-label": `Edit schedule ${label}`,
    disabled: !schedule.registered });
  edit.addEventListener("click", () => openForm(schedule));
  const remove = el("button", { type: "button", class: "small danger", text: "Delete…", "data-destructive": true,
    "aria-label": `Delete schedule ${label}` });
  remove.addEventListener("click", async () => {
    const confirmed = await confirmAction({ title: "Delete schedule",
      text: `Delete schedule ${label} (${schedule.name}, ${rule(schedule)})? Its pending next run is removed too.`,
      confirmLabel: "Delete" });
    if (confirmed === null) return;
    const done = await act(remove, () => api.del(path(schedule)), `Schedule ${label} deleted`);
    if (done) await refresh().catch(() => {});
  });
  return el("td", {}, el("div", { class: "row-actions" }, toggle, run, edit, remove));
}

function row(schedule) {
  const payload = JSON.stringify(schedule.payload);
  return el("tr", { dataset: { schedule: schedule.id, queue: schedule.queue, status: schedule.status } },
    el("td", { class: "mono", text: schedule.id }),
    el("td", {}, el("a", { href: `/console/queues/${encodeURIComponent(schedule.queue)}`, text: schedule.queue })),
    el("td", { class: "mono", text: schedule.name }),
    el("td", { class: "rule", text: rule(schedule) }),
    el("td", {}, el("span", { class: `badge badge-${schedule.status === "active" ? "good" : "warn"}`,
      text: schedule.status })),
    nextRun(schedule),
    el("td", { class: "mono small-text", title: payload, text: truncate(payload, 60) }),
    actions(schedule));
}

async function refresh() {
  if (loading) return loading;
  if (!tbody.children.length) setState(state, "loading", "Loading schedules…");
  loading = (async () => {
    try {
      const schedules = await api.get("/owner/schedules", { queue });
      clear(tbody);
      for (const schedule of schedules) tbody.appendChild(row(schedule));
      const active = schedules.filter((schedule) => schedule.status === "active").length;
      $("#schedules-summary").textContent = `${active} active, ${schedules.length - active} paused`;
      if (!schedules.length) setState(state, "empty", "No schedule yet. Make one with New schedule… (or corral schedules add).");
      else setState(state, null);
      $("#updated").textContent = `Updated ${new Date().toLocaleTimeString("en-GB", { hour12: false })}`;
    } catch (error) {
      setState(state, "error", `Could not load the schedules: ${describe(error)}`);
      throw error;
    } finally {
      loading = null;
    }
  })();
  return loading;
}

// ---- the create and edit form ---------------------------------------------------------------------------------

async function loadJobTypes() {
  if (jobTypes) return jobTypes;
  jobTypes = await api.get("/owner/job-types");
  const select = clear($("#schedule-name"));
  for (const type of jobTypes) {
    select.appendChild(el("option", { value: type.name, text: `${type.name} (${type.queue})` }));
  }
  return jobTypes;
}

function renderPayload(values) {
  const type = jobTypes.find((item) => item.name === $("#schedule-name").value) || jobTypes[0];
  payloadForm = schemaForm($("#schedule-fields"), type.json_schema);
  if (values) payloadForm.fill(values);
}

function showRule(kind) {
  $("#rule-every").checked = kind === "every";
  $("#rule-cron").checked = kind === "cron";
  $("#every-fields").hidden = kind !== "every";
  $("#cron-fields").hidden = kind !== "cron";
}

function clearOwnErrors() {
  for (const name of OWN_FIELDS) {
    const error = document.getElementById(`schedule-${name}-error`);
    if (error) showFormError(error, "");
  }
}

async function openForm(schedule = null) {
  try {
    await loadJobTypes();
  } catch (error) {
    toast(`Could not load the job types: ${describe(error)}`, "error");
    return;
  }
  editing = schedule;
  const form = $("#schedule-form");
  form.reset();
  clearOwnErrors();
  showFormError($("#schedule-error"), "");
  $("#schedule-title").textContent = schedule ? `Edit schedule ${schedule.queue}/${schedule.id}` : "New schedule";
  $("#schedule-submit").textContent = schedule ? "Save" : "Create";
  $("#schedule-id").disabled = Boolean(schedule);
  $("#schedule-name").disabled = Boolean(schedule);
  if (schedule) {
    $("#schedule-id").value = schedule.id;
    $("#schedule-name").value = schedule.name;
    if (schedule.every_ms) {
      const unit = UNITS.find((candidate) => schedule.every_ms % candidate === 0) || 1_000;
      $("#schedule-unit").value = String(unit);
      $("#schedule-every").value = String(schedule.every_ms / unit);
    }
    $("#schedule-cron").value = schedule.cron || "";
    $("#schedule-tz").value = schedule.tz || "";
  }
  showRule(schedule && schedule.cron ? "cron" : "every");
  renderPayload(schedule ? schedule.payload : null);
  openDialog(dialog);
}

function readRule() {
  if ($("#rule-every").checked) {
    const value = Number($("#schedule-every").value);
    return { every_ms: Number.isFinite(value) ? Math.round(value * Number($("#schedule-unit").value)) : null };
  }
  const tz = $("#schedule-tz").value.trim();
  return { cron: $("#schedule-cron").value.trim(), tz: tz || null };
}

function showErrors(error) {
  const own = [];
  const payload = [];
  for (const item of error.errors || []) {
    const name = String(item.field);
    if (OWN_FIELDS.includes(name)) own.push(item);
    else payload.push(item);
  }
  for (const { field, reason } of own) showFormError($(`#schedule-${field}-error`), reason);
  const rest = payloadForm.showErrors(payload);
  if (own.length) document.getElementById(`schedule-${own[0].field === "every_ms" ? "every" : own[0].field}`)?.focus();
  showFormError($("#schedule-error"), rest.length ? `${error.title}: ${rest.join("; ")}`
    : (error.errors || []).length ? `${error.title}: see the fields above` : describe(error));
}

$("#schedule-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  clearOwnErrors();
  showFormError($("#schedule-error"), "");
  const { payload, valid } = payloadForm.read();
  if (!valid) {
    showFormError($("#schedule-error"), "Some fields need attention.");
    return;
  }
  const submit = $("#schedule-submit");
  submit.disabled = true;
  try {
    if (editing) {
      const result = await request("PATCH", path(editing), { body: { payload, ...readRule() } });
      toast(result.changed ? `Schedule ${editing.queue}/${editing.id} saved (${result.fields.join(", ")})`
        : `Schedule ${editing.queue}/${editing.id} unchanged`);
    } else {
      const body = { id: $("#schedule-id").value.trim(), name: $("#schedule-name").value, payload, ...readRule() };
      const result = await api.post("/owner/schedules", body);
      const made = result.schedule;
      toast(result.changed ? `Schedule ${made.queue}/${made.id} created` : `Schedule ${made.queue}/${made.id} already exists, unchanged`);
    }
    closeDialog(dialog);
    await refresh().catch(() => {});
  } catch (error) {
    showErrors(error);
    toast(describe(error), "error");
  } finally {
    submit.disabled = false;
  }
});

$("#open-create").addEventListener("click", () => openForm());
$("#schedule-name").addEventListener("change", () => renderPayload(null));
$("#rule-every").addEventListener("change", () => showRule("every"));
$("#rule-cron").addEventListener("change", () => showRule("cron"));

// ---- queue filter and refresh ---------------------------------------------------------------------------------

async function loadQueues() {
  const queues = await api.get("/owner/queues");
  const select = $("#queue-filter");
  for (const item of queues) select.appendChild(el("option", { value: item.name, text: item.name, selected: item.name === queue }));
}

$("#queue-filter").addEventListener("change", () => {
  queue = $("#queue-filter").value;
  history.replaceState(null, "", location.pathname + (queue ? `?queue=${encodeURIComponent(queue)}` : ""));
  refresh().catch(() => {});
});

function autoRefresh() {
  clearInterval(timer);
  const seconds = Number($("#auto-refresh").value);
  timer = seconds > 0 ? setInterval(() => refresh().catch(() => {}), seconds * 1000) : null;
}

$("#auto-refresh").addEventListener("change", () => {
  autoRefresh();
  const seconds = Number($("#auto-refresh").value);
  $("#updated").textContent = seconds ? `Auto-refresh every ${seconds} s` : "Auto-refresh off";
});
onRefresh(() => refresh());
autoRefresh();
loadQueues().catch((error) => toast(`Could not load the queues: ${describe(error)}`, "error"));
refresh().catch(() => {});
