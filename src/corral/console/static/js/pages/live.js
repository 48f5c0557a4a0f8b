// Live dashboard: health cards with issues and recommendations, queue overview and throughput charts (polled),
// and the event feed over the WebSocket with a severity filter, pause, and reconnects that resume from the last
// event id so no event is missed.

import { recommendation } from "../advice.js";
import { api } from "../api.js";
import { barChart, widthOf } from "../charts.js";
import { onRefresh, startShell } from "../shell.js";
import { $, clear, describe, el, fmtNumber, setState, toast, truncate } from "../ui.js";

startShell();

const FEED_MAX = 300;
const PAUSE_MAX = 2000;
const feed = $("#feed");
const connection = $("#connection");
let socket = null;
let lastId = null;
let retry = 0;
let paused = false;
let held = [];
let pingTimer = null;
const seen = new Set();

// ---- polled panels ----------------------------------------------------------------------------------------------

async function loadHealth(fresh) {
  let health;
  try {
    health = await api.get("/owner/health", { refresh: fresh || undefined });
  } catch (error) {
    setState($("#health-state"), "error", `Could not load health: ${describe(error)}`);
    return;
  }
  setState($("#health-state"), null);
  $("#health-overall").textContent = `· ${health.status}, score ${health.score}/100`;
  const grid = clear($("#health"));
  for (const queue of health.queues) {
    const issues = el("ul", {});
    for (const issue of queue.issues) {
      issues.appendChild(el("li", {}, el("strong", { text: `${issue.severity}: ` }), issue.summary,
        recommendation(issue)));
    }
    if (!queue.issues.length) issues.appendChild(el("li", { class: "muted", text: "No issues." }));
    grid.appendChild(el("article", { class: "card health-card", dataset: { status: queue.status, queue: queue.queue } },
      el("h3", {}, el("a", { href: `/console/queues/${encodeURIComponent(queue.queue)}`, text: queue.queue }),
        ` · ${queue.status} · ${queue.score}`), issues));
  }
}

async function loadOverview(fresh) {
  let stats;
  try {
    stats = await api.get("/owner/stats", { refresh: fresh || undefined });
  } catch (error) {
    setState($("#overview-state"), "error", `Could not load the queues: ${describe(error)}`);
    return [];
  }
  setState($("#overview-state"), null);
  const tbody = clear($("#overview tbody"));
  for (const queue of stats.queues) {
    tbody.appendChild(el("tr", {}, el("th", { scope: "row" }, queue.name, queue.paused ? el("span", { class: "badge badge-warn", text: " paused" }) : null),
      ...["waiting", "active", "delayed", "completed", "failed"].map((state) =>
        el("td", { class: "num", text: fmtNumber(state === "waiting" ? queue.backlog : queue.counts[state] || 0) }))));
  }
  return stats.queues.map((queue) => queue.name);
}

async function loadThroughput(names, fresh) {
  const reports = await Promise.all(names.map((name) =>
    api.get(`/owner/metrics/${encodeURIComponent(name)}`, { points: 60, refresh: fresh || undefined }).catch((error) => ({ error }))));
  const failure = reports.find((report) => report.error);
  const good = reports.filter((report) => !report.error);
  const target = clear($("#throughput"));
  if (failure && !good.length) {
    target.appendChild(el("p", { class: "error-text", text: `Could not load metrics: ${describe(failure.error)}` }));
    return;
  }
  const byMinute = new Map();
  for (const report of good) {
    for (const point of report.points) {
      const slot = byMinute.get(point.at) || { completed: 0, failed: 0 };
      slot.completed += point.completed;
      slot.failed += point.failed;
      byMinute.set(point.at, slot);
    }
  }
  const points = [...byMinute.entries()].sort((a, b) => a[0] - b[0]).map(([at, slot]) => {
    const label = new Date(at * 1000).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit", hour12: false });
    return { label, value: slot.completed, value2: slot.failed, title: `${label}: ${slot.completed} completed, ${slot.failed} failed` };
  });
  target.appendChild(barChart(points, { label: "Jobs completed and failed per minute, every queue", width: widthOf(target) - 32 }));
}

async function refresh(fresh = false) {
  const [names] = await Promise.all([loadOverview(fresh), loadHealth(fresh)]);
  await loadThroughput(names, fresh);
}

// ---- the event feed ---------------------------------------------------------------------------------------------

function setConnection(stateName, text) {
  connection.dataset.state = stateName;
  connection.textContent = text;
}

function describeEvent(event) {
  const parts = [];
  if (event.queue) parts.push(event.queue);
  if (event.jobName) parts.push(event.jobName);
  if (event.jobId) parts.push(`job ${event.jobId}`);
  const data = { ...(event.data || {}) };
  const detail = data.reason || data.failedReason || data.summary || data.message;
  for (const key of ["reason", "failedReason", "summary", "message", "at"]) delete data[key];
  if (detail) parts.push(truncate(detail, 160));
  const facts = readable(data);
  if (facts) parts.push(truncate(facts, 200));
  return parts.join(" · ");
}

// Event data as words ("attempt 2", "progress 40%", "steps 3, finished 1"), never raw JSON.
const LABELS = { delay_ms: "retry in", entry_id: "DLQ entry", final: "final", worker: "worker" };

function value(key, item) {
  if (item === null || item === undefined) return "–";
  if (typeof item === "boolean") return item ? "yes" : "no";
  if (key === "delay_ms" && typeof item === "number") return item >= 1000 ? `${(item / 1000).toFixed(1)} s` : `${item} ms`;
  if (key === "progress" && typeof item === "number") return `${item}%`;
  if (Array.isArray(item)) return item.map((part) => value("", part)).join(", ");
  if (typeof item === "object") return readable(item);
  return String(item);
}

function readable(data) {
  return Object.entries(data)
    .map(([key, item]) => (typeof item === "object" && item !== null && !Array.isArray(item)
      ? `${LABELS[key] || key}: ${value(key, item)}` : `${LABELS[key] || key} ${value(key, item)}`))
    .join(", ");
}

function render(event) {
  const time = new Date(event.time).toLocaleTimeString("en-GB", { hour12: false });
  return el("li", { dataset: { id: event.id, type: event.type, severity: event.severity, job: event.jobId || "" } },
    el("time", { class: "muted", text: time }), el("span", { class: "sev", text: event.severity }),
    el("span", { class: "mono", text: event.type }), el("span", { class: "detail", text: describeEvent(event) }));
}

function show(events) {
  const fragment = document.createDocumentFragment();
  for (let index = events.length - 1; index >= 0; index -= 1) fragment.appendChild(render(events[index]));
  feed.insertBefore(fragment, feed.firstChild);
  while (feed.children.length > FEED_MAX) feed.lastChild.remove();
  $("#feed-info").textContent = feed.children.length ? "" : "No events yet.";
}

function receive(events) {
  const fresh = events.filter((event) => !seen.has(event.id));
  for (const event of fresh) {
    seen.add(event.id);
    lastId = event.id;
  }
  if (seen.size > 5000) {
    const keep = [...seen].slice(-2000);
    seen.clear();
    for (const id of keep) seen.add(id);
  }
  if (!fresh.length) return;
  if (paused) {
    held.push(...fresh);
    if (held.length > PAUSE_MAX) held = held.slice(-PAUSE_MAX);
    $("#feed-info").textContent = `Paused · ${held.length} new event(s) held`;
    return;
  }
  show(fresh);
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const query = new URLSearchParams({ rooms: "global", severity: $("#severity").value });
  if (lastId) query.set("last_id", lastId);
  setConnection(retry ? "reconnecting" : "connecting", retry ? "reconnecting…" : "connecting…");
  socket = new WebSocket(`${scheme}//${location.host}/owner/realtime?${query}`, "corral.v1");
  socket.addEventListener("message", (message) => {
    let frame;
    try {
      frame = JSON.parse(message.data);
    } catch {
      return;
    }
    if (frame.type === "hello") {
      retry = 0;
      setConnection("open", "live");
    } else if (frame.type === "latest" || frame.type === "events") {
      receive(frame.events || []);
    } else if (frame.type === "gap") {
      toast("Some events were missed while disconnected (no longer retained).", "info");
    } else if (frame.type === "resumed") {
      setConnection("open", frame.count ? `live · caught up ${frame.count} event(s)` : "live");
    } else if (frame.type === "error") {
      toast(`Realtime: ${frame.message}`, "error");
    }
  });
  socket.addEventListener("close", (event) => {
    clearInterval(pingTimer);
    socket = null;
    retry += 1;
    const delay = Math.min(10_000, 500 * 2 ** Math.min(retry - 1, 5));
    const reason = event.reason ? ` (${event.reason})` : "";
    setConnection("reconnecting", `disconnected${reason} · retrying in ${Math.round(delay / 1000)} s`);
    if (event.code === 4401 || event.code === 1008) {
      api.get("/auth/me").catch(() => {});
    }
    setTimeout(connect, delay);
  });
  clearInterval(pingTimer);
  pingTimer = setInterval(() => {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ action: "ping" }));
  }, 20_000);
}

$("#severity").addEventListener("change", () => {
  const severity = $("#severity").value;
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ action: "filter", severity }));
  for (const item of [...feed.children]) {
    const ranks = ["debug", "info", "warning", "error", "critical"];
    item.hidden = ranks.indexOf(item.dataset.severity) < ranks.indexOf(severity);
  }
  $("#feed-info").textContent = `Showing ${severity} and above.`;
});
$("#pause-feed").addEventListener("click", (event) => {
  const button = event.currentTarget;
  paused = !paused;
  button.setAttribute("aria-pressed", String(paused));
  button.textContent = paused ? "Resume" : "Pause";
  if (!paused) {
    const flushed = held;
    held = [];
    show(flushed);
    $("#feed-info").textContent = flushed.length ? `Resumed · ${flushed.length} held event(s) shown` : "Resumed.";
  } else {
    $("#feed-info").textContent = "Paused · new events are held";
  }
});
$("#clear-feed").addEventListener("click", () => {
  clear(feed);
  $("#feed-info").textContent = "Cleared.";
});

onRefresh(refresh);
refresh(false).catch(() => {});
setInterval(() => refresh(false).catch(() => {}), 10_000);
connect();
