// Queues page: summary cards, every queue with counts, health, throughput sparkline and pause/resume.

import { api } from "../api.js";
import { sparkline } from "../charts.js";
import { onRefresh, startShell } from "../shell.js";
import { $, act, clear, describe, el, fmtNumber, fmtPercent, setState } from "../ui.js";

startShell();

const tbody = $("#queues-table tbody");
const listState = $("#queues-state");
const summary = $("#summary");
let timer = null;
let loading = null;

function card(name, value, tone = "", hint = null) {
  const node = $(`[data-card="${name}"]`, summary);
  const target = $(".value", node);
  target.textContent = value;
  node.dataset.tone = tone;
  if (hint !== null) $(".hint", node).textContent = hint;
}

function cardError(name, error) {
  card(name, "error", "bad");
  $(`[data-card="${name}"] .hint`, summary).textContent = describe(error);
}

export function healthBadge(status, score) {
  const tone = { healthy: "good", degraded: "warn", warning: "warn", critical: "bad", unhealthy: "bad" }[status] || "";
  return el("span", { class: `badge badge-${tone || "neutral"}`, title: score === undefined ? "" : `score ${score}/100`,
    text: score === undefined ? status : `${status} · ${score}` });
}

async function loadQueues(fresh) {
  const queues = await api.get("/owner/queues");
  const [health, metrics] = await Promise.all([
    api.get("/owner/health", { refresh: fresh || undefined }).catch((error) => ({ error })),
    loadMetrics(queues.map((queue) => queue.name), fresh),
  ]);
  return { queues, health, metrics };
}

async function loadMetrics(names, fresh) {
  const entries = await Promise.all(names.map(async (name) => {
    try {
      return [name, await api.get(`/owner/metrics/${encodeURIComponent(name)}`, { points: 60, refresh: fresh || undefined })];
    } catch (error) {
      return [name, { error }];
    }
  }));
  return Object.fromEntries(entries);
}

// The current rate: completed jobs of the last few minutes (the current one included), not the hour's average,
// which a system that started minutes ago would show far too low.
const RATE_MINUTES = 5;

function currentRate(report) {
  const recent = report.points.slice(-RATE_MINUTES);
  return recent.reduce((sum, point) => sum + point.completed, 0) / RATE_MINUTES;
}

function renderSummary(queues, stats, health, metrics) {
  const waiting = queues.reduce((sum, queue) => sum + queue.backlog, 0);
  const active = queues.reduce((sum, queue) => sum + (queue.counts.active || 0), 0);
  card("waiting", fmtNumber(waiting), waiting > 0 ? "" : "good");
  card("active", fmtNumber(active));
  const reports = Object.values(metrics).filter((report) => !report.error);
  if (reports.length) {
    const perMinute = reports.reduce((sum, report) => sum + currentRate(report), 0);
    const completed = reports.reduce((sum, report) => sum + report.summary.completed, 0);
    const failed = reports.reduce((sum, report) => sum + report.summary.failed, 0);
    card("throughput", `${perMinute.toFixed(perMinute < 10 ? 1 : 0)}/min`, "",
      `jobs per minute, last ${RATE_MINUTES} minutes · ${fmtNumber(completed)} completed in the last hour`);
    const rate = completed + failed ? failed / (completed + failed) : null;
    card("error-rate", fmtPercent(rate), rate === null ? "" : rate >= 0.5 ? "bad" : rate >= 0.1 ? "warn" : "good",
      `${fmtNumber(failed)} failed of ${fmtNumber(completed + failed)} attempts, last hour`);
  } else {
    const failure = Object.values(metrics).find((report) => report.error);
    if (failure) {
      cardError("throughput", failure.error);
      cardError("error-rate", failure.error);
    } else {
      card("throughput", "–");
      card("error-rate", "–");
    }
  }
  if (stats.error) cardError("dlq", stats.error);
  else card("dlq", fmtNumber(stats.dlq), stats.dlq > 0 ? "warn" : "good");
  if (health.error) cardError("health", health.error);
  else {
    const tone = { healthy: "good", critical: "bad" }[health.status] || "warn";
    card("health", `${health.status}`, tone, `score ${health.score}/100 · ${health.issues.length} issue(s)`);
  }
  summary.setAttribute("aria-busy", "false");
}

const COLUMNS = ["waiting", "active", "delayed", "completed", "failed"];
const current = new Map();

function queueRow(name) {
  const toggle = el("button", { type: "button", class: "small", dataset: { queue: name }, text: "Pause" });
  toggle.addEventListener("click", () => togglePause(toggle, current.get(name)));
  return el("tr", { dataset: { queue: name } },
    el("th", { scope: "row" }, el("a", { href: `/console/queues/${encodeURIComponent(name)}`, text: name })),
    el("td", { class: "status" }), el("td", { class: "health" }),
    ...COLUMNS.map((state) => el("td", { class: "num", dataset: { state } })),
    el("td", { class: "spark" }), el("td", {}, toggle));
}

// Rows are updated in place (keyed by queue) so a refresh never takes the focus away from a control.
function renderQueues(queues, health, metrics) {
  const byQueue = new Map((health.queues || []).map((item) => [item.queue, item]));
  if (!queues.length) {
    clear(tbody);
    setState(listState, "empty", "No queues are registered.");
    return;
  }
  setState(listState, null);
  const names = new Set(queues.map((queue) => queue.name));
  for (const row of [...tbody.children]) if (!names.has(row.dataset.queue)) row.remove();
  for (const queue of queues) {
    current.set(queue.name, queue);
    let row = tbody.querySelector(`tr[data-queue="${CSS.escape(queue.name)}"]`);
    if (!row) row = queueRow(queue.name);
    tbody.appendChild(row);
    const report = metrics[queue.name];
    const queueHealth = byQueue.get(queue.name);
    $(".status", row).replaceChildren(el("span", { class: `badge ${queue.paused ? "badge-warn" : "badge-good"}`,
      text: queue.paused ? "paused" : "running" }));
    $(".health", row).replaceChildren(queueHealth ? healthBadge(queueHealth.status, queueHealth.score)
      : el("span", { class: "muted", text: health.error ? "unavailable" : "–" }));
    for (const state of COLUMNS) {
      $(`td[data-state="${state}"]`, row).textContent = fmtNumber(state === "waiting" ? queue.backlog : queue.counts[state] || 0);
    }
    const series = report && !report.error ? report.points.map((point) => point.completed) : [];
    $(".spark", row).replaceChildren(report && report.error
      ? el("span", { class: "muted", text: "unavailable", title: describe(report.error) })
      : sparkline(series, { label: `${queue.name}: completed per minute, last 60 minutes` }),
    report && !report.error ? el("span", { class: "muted small-text",
      text: ` ${currentRate(report).toFixed(1)}/min`, title: `jobs per minute, last ${RATE_MINUTES} minutes` }) : "");
    const toggle = $("button[data-queue]", row);
    toggle.textContent = queue.paused ? "Resume" : "Pause";
  }
}

async function togglePause(button, queue) {
  if (!queue) return;
  const action = queue.paused ? "resume" : "pause";
  await act(button, () => api.post(`/owner/queues/${encodeURIComponent(queue.name)}/${action}`),
    `Queue ${queue.name} ${queue.paused ? "resumed" : "paused"}`);
  await refresh(true);
}

async function refresh(fresh = false) {
  if (loading) return loading;
  if (!tbody.children.length) setState(listState, "loading", "Loading queues…");
  loading = (async () => {
    try {
      const [{ queues, health, metrics }, stats] = await Promise.all([
        loadQueues(fresh),
        api.get("/owner/stats", { refresh: fresh || undefined }).catch((error) => ({ error })),
      ]);
      renderSummary(queues, stats, health, metrics);
      renderQueues(queues, health, metrics);
      $("#updated").textContent = `Updated ${new Date().toLocaleTimeString("en-GB", { hour12: false })}`;
    } catch (error) {
      setState(listState, "error", `Could not load the queues: ${describe(error)}`);
      throw error;
    } finally {
      loading = null;
    }
  })();
  return loading;
}

function schedule() {
  clearInterval(timer);
  const seconds = Number($("#auto-refresh").value);
  timer = seconds > 0 ? setInterval(() => refresh(false).catch(() => {}), seconds * 1000) : null;
  $("#updated").dataset.auto = String(seconds);
}

$("#auto-refresh").addEventListener("change", () => {
  schedule();
  const seconds = Number($("#auto-refresh").value);
  $("#updated").textContent = seconds ? `Auto-refresh every ${seconds} s` : "Auto-refresh off";
});
onRefresh(refresh);
schedule();
refresh(false).catch(() => {});
