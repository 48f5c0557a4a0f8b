// Queue detail: jobs by state with search and pages, the job view and its actions, pause/resume, clean,
// purge behind the typed double confirmation, and the enqueue form generated from the queue's contracts.

import { api } from "../api.js";
import { barChart, widthOf } from "../charts.js";
import { schemaForm } from "../schemaform.js";
import { showRetention } from "../retention.js";
import { markTabs, onRefresh, startShell, wireTabs } from "../shell.js";
import {
  $, act, clear, closeDialog, confirmAction, describe, el, fmtAgo, fmtNumber, fmtTime, openDialog, pretty,
  setState, showFormError, toast, truncate,
} from "../ui.js";

startShell();

const QUEUE = document.body.dataset.queue;
const BASE = `/owner/queues/${encodeURIComponent(QUEUE)}`;
const STATES = ["waiting", "active", "delayed", "prioritized", "completed", "failed", "paused", "waiting-children"];
const params = new URLSearchParams(location.search);
const view = {
  state: STATES.includes(params.get("state")) ? params.get("state") : "waiting",
  page: Math.max(1, Number(params.get("page")) || 1),
  size: [20, 50, 100, 200].includes(Number(params.get("size"))) ? Number(params.get("size")) : 50,
  q: params.get("q") || "",
  job: params.get("job") || "",
};
let queue = null;
let total = 0;
let currentJob = null;

const tabs = $("#state-tabs");
const tbody = $("#jobs-table tbody");
const jobsState = $("#jobs-state");
const jobDialog = $("#job-dialog");

function remember() {
  const next = new URLSearchParams();
  if (view.state !== "waiting") next.set("state", view.state);
  if (view.page > 1) next.set("page", String(view.page));
  if (view.size !== 50) next.set("size", String(view.size));
  if (view.q) next.set("q", view.q);
  if (view.job) next.set("job", view.job);
  const query = next.toString();
  history.replaceState(null, "", location.pathname + (query ? `?${query}` : ""));
}

// ---- queue summary and tabs -----------------------------------------------------------------------------------

for (const state of STATES) {
  const tab = el("button", { type: "button", role: "tab", id: `tab-${state}`, dataset: { value: state },
    "aria-controls": "jobs-table" }, state, " ", el("span", { class: "count", text: "…" }));
  tab.addEventListener("click", () => selectState(state));
  tabs.appendChild(tab);
}
markTabs(tabs, view.state);
wireTabs(tabs, (tab) => selectState(tab.dataset.value));

function selectState(state) {
  view.state = state;
  view.page = 1;
  markTabs(tabs, state);
  remember();
  loadJobs().catch(() => {});
}

async function loadQueue() {
  try {
    queue = await api.get(BASE);
  } catch (error) {
    $("#queue-policy").textContent = `Could not load the queue: ${describe(error)}`;
    throw error;
  }
  $("#paused-badge").hidden = !queue.paused;
  const toggle = $("#toggle-pause");
  toggle.textContent = queue.paused ? "Resume" : "Pause";
  toggle.disabled = false;
  const config = queue.config;
  const limit = config.rate_limit ? ` · at most ${config.rate_limit.max_jobs} per ${config.rate_limit.per_ms} ms` : "";
  $("#queue-policy").textContent = `${config.attempts} attempts · backoff ${config.backoff_ms} ms · concurrency `
    + `${config.concurrency} · timeout ${config.timeout_seconds} s${limit} · job types: ${queue.job_types.join(", ")}`;
  for (const state of STATES) {
    $(`#tab-${state} .count`).textContent = fmtNumber(queue.counts[state] || 0);
  }
}

// ---- jobs -----------------------------------------------------------------------------------------------------

function fmtDue(ms) {
  if (!ms) return "–";
  const seconds = Math.round((ms - Date.now()) / 1000);
  if (seconds <= 0) return `due now (${fmtTime(ms)})`;
  const wait = seconds < 60 ? `${seconds} s` : seconds < 3600 ? `${Math.round(seconds / 60)} min`
    : seconds < 86400 ? `${(seconds / 3600).toFixed(1)} h` : `${(seconds / 86400).toFixed(1)} d`;
  return `in ${wait} (${fmtTime(ms)})`;
}

async function loadJobs() {
  setState(jobsState, "loading", "Loading jobs…");
  $("#due-head").hidden = view.state !== "delayed";
  $("#q").value = view.q;
  $("#page-size").value = String(view.size);
  let page;
  try {
    page = await api.get(`${BASE}/jobs`, { state: view.state, page: view.page, size: view.size, q: view.q });
  } catch (error) {
    clear(tbody);
    setState(jobsState, "error", `Could not load the jobs: ${describe(error)}`);
    throw error;
  }
  total = page.total;
  clear(tbody);
  for (const job of page.items) {
    const open = el("button", { type: "button", class: "link mono", text: job.id, "aria-label": `Open job ${job.id}` });
    open.addEventListener("click", () => openJob(job.id));
    const progress = typeof job.progress === "number" ? `${job.progress}%` : job.progress ? truncate(pretty(job.progress), 40) : "";
    tbody.appendChild(el("tr", { dataset: { job: job.id } },
      el("td", {}, open),
      el("td", { text: job.name }),
      el("td", { title: fmtTime(job.created_at), text: fmtAgo(job.created_at) }),
      view.state === "delayed" ? el("td", { class: "due", title: fmtTime(job.due_at), text: fmtDue(job.due_at) }) : null,
      el("td", { class: "num", text: `${job.attempts_made}/${job.attempts}` }),
      el("td", { text: progress }),
      el("td", { class: "error-text", title: job.failed_reason || "", text: truncate(job.failed_reason || "", 80) })));
  }
  const pages = Math.max(1, Math.ceil(total / view.size));
  const searched = page.scanned !== null && page.scanned !== undefined
    ? ` · searched the newest ${fmtNumber(page.scanned)}${page.truncated ? " (older jobs not searched)" : ""}` : "";
  $("#page-info").textContent = `Page ${view.page} of ${pages} · ${fmtNumber(total)} job(s)${searched}`;
  $("#prev-page").disabled = view.page <= 1;
  $("#next-page").disabled = view.page >= pages;
  if (!page.items.length) {
    setState(jobsState, "empty", view.q ? `No ${view.state} job matches “${view.q}”.` : `No ${view.state} jobs.`);
  } else {
    setState(jobsState, null);
  }
}

$("#search").addEventListener("submit", (event) => {
  event.preventDefault();
  view.q = $("#q").value.trim();
  view.page = 1;
  remember();
  loadJobs().catch(() => {});
});
$("#clear-search").addEventListener("click", () => {
  view.q = "";
  view.page = 1;
  remember();
  loadJobs().catch(() => {});
});
$("#prev-page").addEventListener("click", () => {
  view.page = Math.max(1, view.page - 1);
  remember();
  loadJobs().catch(() => {});
});
$("#next-page").addEventListener("click", () => {
  view.page += 1;
  remember();
  loadJobs().catch(() => {});
});
$("#page-size").addEventListener("change", () => {
  view.size = Number($("#page-size").value);
  view.page = 1;
  remember();
  loadJobs().catch(() => {});
});

// ---- one job --------------------------------------------------------------------------------------------------

function fact(name, value) {
  return [el("dt", { text: name }), el("dd", { text: value })];
}

async function openJob(id) {
  view.job = id;
  remember();
  currentJob = null;
  $("#job-title").textContent = `Job ${id}`;
  for (const part of ["#job-facts", "#job-timeline", "#job-data", "#job-opts", "#job-progress", "#job-failure",
    "#job-stack", "#job-result", "#job-logs"]) clear($(part));
  for (const button of ["#job-retry", "#job-promote", "#job-remove"]) $(button).hidden = true;
  $("#job-secrets").hidden = true;
  setState($("#job-state"), "loading", "Loading the job…");
  openDialog(jobDialog);
  let job;
  try {
    job = await api.get(`${BASE}/jobs/${encodeURIComponent(id)}`);
  } catch (error) {
    setState($("#job-state"), "error", `Could not load job ${id}: ${describe(error)}`);
    return;
  }
  currentJob = job;
  setState($("#job-state"), null);
  $("#job-title").textContent = `${job.name} · ${job.id}`;
  $("#job-facts").append(
    ...fact("State", job.state), ...fact("Attempts", `${job.attempts_made} of ${job.attempts}`),
    ...fact("Created", fmtTime(job.created_at)), ...fact("Started", fmtTime(job.processed_on)),
    ...fact("Finished", fmtTime(job.finished_on)), ...fact("Delay", `${job.delay_ms} ms`),
    ...(job.due_at ? fact("Due", fmtDue(job.due_at)) : []),
    ...fact("Priority", String(job.priority)),
    ...(job.trace_id ? fact("Trace", job.trace_id) : []),
    ...(job.linked_trace_id ? fact("Replay of trace", job.linked_trace_id) : []));
  for (const moment of job.timeline) {
    $("#job-timeline").appendChild(el("li", {}, el("time", { text: fmtTime(moment.at) }), " ", moment.event));
  }
  $("#job-data").textContent = pretty(job.data);
  // Secret fields arrive masked; "Reveal" asks for their values, which the server logs as a data access.
  const secrets = job.secret_fields || [];
  $("#job-secrets").hidden = !secrets.length;
  $("#job-secrets-text").textContent = `Secret fields masked: ${secrets.join(", ")}.`;
  $("#job-reveal").disabled = false;
  $("#job-opts").textContent = pretty(job.opts);
  $("#job-progress").textContent = pretty(job.progress);
  $("#job-failure-section").hidden = !job.failed_reason && !job.stacktrace.length;
  $("#job-failure").textContent = job.failed_reason || "";
  $("#job-stack").textContent = job.stacktrace.join("\n\n");
  $("#job-result").textContent = job.return_value === null ? "–" : pretty(job.return_value);
  $("#job-logs").textContent = job.logs.length ? job.logs.join("\n") : "No logs.";
  $("#job-log-count").textContent = job.log_count > job.logs.length ? `(latest ${job.logs.length} of ${job.log_count})` : "";
  $("#job-retry").hidden = !["failed", "completed"].includes(job.state);
  $("#job-promote").hidden = job.state !== "delayed";
  $("#job-remove").hidden = job.state === "active";
}

jobDialog.addEventListener("close", () => {
  view.job = "";
  remember();
});

async function afterChange() {
  await Promise.all([loadQueue(), loadJobs()]).catch(() => {});
}

$("#job-retry").addEventListener("click", async (event) => {
  const job = currentJob;
  const done = await act(event.currentTarget, () => api.post(`${BASE}/jobs/${encodeURIComponent(job.id)}/retry`),
    `Job ${job.id} will run again`);
  if (done) {
    closeDialog(jobDialog);
    await afterChange();
  }
});
$("#job-reveal").addEventListener("click", async (event) => {
  const job = currentJob;
  const button = event.currentTarget;
  const shown = await act(button, () => api.post(`${BASE}/jobs/${encodeURIComponent(job.id)}/reveal`, {}),
    "Secret values shown; this view is in the data-access log");
  if (shown && currentJob === job) {
    $("#job-data").textContent = pretty(shown.data);
    $("#job-secrets-text").textContent = `Secret fields shown: ${shown.secret_fields.join(", ")}.`;
    button.disabled = true;
  }
});
$("#job-promote").addEventListener("click", async (event) => {
  const job = currentJob;
  const done = await act(event.currentTarget, () => api.post(`${BASE}/jobs/${encodeURIComponent(job.id)}/promote`),
    `Job ${job.id} promoted: it runs now`);
  if (done) {
    closeDialog(jobDialog);
    await afterChange();
  }
});
$("#job-remove").addEventListener("click", async (event) => {
  const job = currentJob;
  const button = event.currentTarget;
  closeDialog(jobDialog);
  const confirmed = await confirmAction({ title: "Remove job", text: `Remove job ${job.id} (${job.name}) for good?`,
    confirmLabel: "Remove" });
  if (confirmed === null) return;
  const done = await act(button, () => api.del(`${BASE}/jobs/${encodeURIComponent(job.id)}`), `Job ${job.id} removed`);
  if (done) await afterChange();
});

// ---- queue actions --------------------------------------------------------------------------------------------

$("#toggle-pause").addEventListener("click", async (event) => {
  const action = queue.paused ? "resume" : "pause";
  await act(event.currentTarget, () => api.post(`${BASE}/${action}`),
    `Queue ${QUEUE} ${action === "pause" ? "paused" : "resumed"}`);
  await loadQueue().catch(() => {});
});

$("#open-clean").addEventListener("click", () => {
  showFormError($("#clean-error"), "");
  openDialog($("#clean-dialog"));
});
$("#clean-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const minutes = Number(form.elements.minutes.value);
  if (!Number.isInteger(minutes) || minutes < 0) {
    showFormError($("#clean-error"), "minutes: a whole number, 0 or more");
    return;
  }
  const body = { state: form.elements.state.value, older_than_seconds: minutes * 60 };
  try {
    const result = await api.post(`${BASE}/clean`, body);
    toast(`Removed ${fmtNumber(result.affected)} ${body.state} job(s) from ${QUEUE}`);
    closeDialog($("#clean-dialog"));
    await afterChange();
  } catch (error) {
    showFormError($("#clean-error"), describe(error));
    toast(describe(error), "error");
  }
});

$("#open-purge").addEventListener("click", async (event) => {
  const button = event.currentTarget;
  const impact = await act(button, () => api.post(`${BASE}/purge`, {}));
  if (!impact) return;
  const parents = Object.entries(impact.parents || {}).map(([name, count]) => `${fmtNumber(count)} ${name}`);
  const ends = impact.children ? ` ${fmtNumber(impact.children)} of them are steps that other jobs wait for: `
    + `purging ends ${parents.join(", ")} job(s) (their runs fail, missing these steps).` : "";
  const phrase = await confirmAction({
    title: `Purge ${QUEUE}`,
    text: `This removes ${fmtNumber(impact.count)} job(s) that have not started (waiting, prioritized, delayed).${ends} `
      + `It cannot be undone. The confirmation expires in ${impact.expires_in} s.`,
    sample: impact.sample.map((id) => `job ${id}`),
    phrase: impact.phrase,
    confirmLabel: "Purge",
  });
  if (phrase === null) {
    toast("Purge cancelled: nothing was removed", "info");
    return;
  }
  await act(button, () => api.post(`${BASE}/purge`, { confirmation_token: impact.confirmation_token, phrase }),
    (result) => `Purged ${fmtNumber(result.count)} job(s) from ${QUEUE}`);
  await afterChange();
});

// ---- enqueue --------------------------------------------------------------------------------------------------

let jobTypes = null;
let form = null;

async function openEnqueue() {
  const dialog = $("#enqueue-dialog");
  showFormError($("#enqueue-error"), "");
  if (!jobTypes) {
    try {
      jobTypes = await api.get("/owner/job-types", { queue: QUEUE });
    } catch (error) {
      toast(`Could not load the job types: ${describe(error)}`, "error");
      return;
    }
    const select = clear($("#enqueue-type"));
    for (const type of jobTypes) select.appendChild(el("option", { value: type.name, text: type.name }));
    renderEnqueueFields();
  }
  openDialog(dialog);
}

function renderEnqueueFields() {
  const type = jobTypes.find((item) => item.name === $("#enqueue-type").value) || jobTypes[0];
  if (!type) {
    showFormError($("#enqueue-error"), "this queue has no job types");
    return;
  }
  $("#enqueue-description").textContent = type.description;
  form = schemaForm($("#enqueue-fields"), type.json_schema);
}

$("#open-enqueue").addEventListener("click", () => openEnqueue());
$("#enqueue-type").addEventListener("change", () => {
  showFormError($("#enqueue-error"), "");
  renderEnqueueFields();
});
$("#enqueue-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const element = event.currentTarget;
  showFormError($("#enqueue-error"), "");
  const { payload, valid } = form.read();
  if (!valid) {
    showFormError($("#enqueue-error"), "Some fields need attention.");
    return;
  }
  const body = { name: $("#enqueue-type").value, payload,
    delay_ms: Number(element.elements.delay_ms.value) || 0, priority: Number(element.elements.priority.value) || 0 };
  const submit = element.querySelector("button[type=submit]");
  submit.disabled = true;
  try {
    const created = await api.post("/owner/jobs", body);
    toast(`Enqueued ${created.name} as job ${created.id}`);
    closeDialog($("#enqueue-dialog"));
    await afterChange();
  } catch (error) {
    const rest = form.showErrors(error.errors || []);
    showFormError($("#enqueue-error"), rest.length ? `${error.title}: ${rest.join("; ")}` : `${error.title}: see the fields above`);
    if (!error.errors || !error.errors.length) showFormError($("#enqueue-error"), describe(error));
    toast(describe(error), "error");
  } finally {
    submit.disabled = false;
  }
});

// ---- processing times and failure reasons ---------------------------------------------------------------------

function ms(value) {
  if (value === null || value === undefined) return "–";
  return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${value.toFixed(value < 10 ? 1 : 0)} ms`;
}

async function loadProcessing() {
  const state = $("#processing-state");
  let report;
  try {
    report = await api.get(`/owner/metrics/${encodeURIComponent(QUEUE)}`, { points: 60 });
  } catch (error) {
    setState(state, "error", `Could not load processing times: ${describe(error)}`);
    throw error;
  }
  const timing = report.summary.processing;
  const summary = clear($("#processing-summary"));
  summary.append(...fact("Jobs timed", fmtNumber(timing.count)), ...fact("Average", ms(timing.avg_ms)),
    ...fact("p50", ms(timing.p50_ms)), ...fact("p95", ms(timing.p95_ms)), ...fact("p99", ms(timing.p99_ms)),
    ...fact("Slowest", ms(timing.max_ms)), ...fact("Wait before start (avg)", ms(report.summary.wait.avg_ms)));
  const chart = clear($("#processing-chart"));
  if (!timing.count) {
    setState(state, "empty", "No job of this queue completed in the last 60 minutes.");
    return;
  }
  setState(state, null);
  const points = report.points.map((point) => {
    const label = new Date(point.at * 1000).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit", hour12: false });
    const p50 = point.processing.p50_ms || 0;
    const p95 = point.processing.p95_ms || 0;
    return { label, value: p50, value2: Math.max(p95 - p50, 0),
      title: `${label}: ${point.processing.count} job(s), p50 ${ms(point.processing.p50_ms)}, p95 ${ms(point.processing.p95_ms)}, `
        + `max ${ms(point.processing.max_ms)}` };
  });
  chart.appendChild(barChart(points, { label: `${QUEUE}: processing time per minute, p50 and p95 (ms)`, unit: " ms",
    width: widthOf(chart) - 32 }));
}

async function loadFailures() {
  const state = $("#failures-state");
  const span = $("#failures-window").value;
  let report;
  try {
    report = await api.get("/owner/failures", { queue: QUEUE, window: span, limit: 20 });
  } catch (error) {
    setState(state, "error", `Could not load failure reasons: ${describe(error)}`);
    throw error;
  }
  const body = clear($("#failures-table tbody"));
  for (const reason of report.reasons) {
    body.appendChild(el("tr", { dataset: { fingerprint: reason.fingerprint } },
      el("td", { class: "mono error-text", text: reason.pattern || "–" }),
      el("td", { text: reason.job_type }),
      el("td", { class: "num", text: fmtNumber(reason.failed_attempts) }),
      el("td", { class: "num", text: fmtNumber(reason.dead_lettered) }),
      el("td", { title: fmtTime(reason.last_seen), text: fmtAgo(reason.last_seen) }),
      el("td", { title: reason.sample, text: truncate(reason.sample, 80) })));
  }
  $("#failures-total").textContent = `${fmtNumber(report.total_failed_attempts)} failed attempt(s) in all`;
  if (!report.reasons.length) setState(state, "empty", "No attempt of this queue failed in this window.");
  else setState(state, null);
}

$("#failures-window").addEventListener("change", () => loadFailures().catch(() => {}));

// ---- start ----------------------------------------------------------------------------------------------------

const retentionBanner = () => showRetention($("#retention-banner"), { queue: QUEUE });
retentionBanner();
onRefresh(() => Promise.all([afterChange(), loadProcessing(), loadFailures(), retentionBanner()]));
Promise.all([loadQueue(), loadJobs(), loadProcessing(), loadFailures()]).catch(() => {});
if (location.hash) document.getElementById(location.hash.slice(1))?.scrollIntoView();
if (view.job) openJob(view.job);
