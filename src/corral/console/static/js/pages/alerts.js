// Alerts page: alerts firing now with Acknowledge, the history of fired and resolved alerts, the rules in force.

import { advicePage } from "../advice.js";
import { api } from "../api.js";
import { onRefresh, startShell } from "../shell.js";
import { $, act, clear, describe, el, fmtAgo, fmtNumber, fmtTime, setState } from "../ui.js";

startShell();

const PAGE = 25;
const TONE = { warning: "warn", critical: "bad" };
let offset = Math.max(0, Number(new URLSearchParams(location.search).get("offset")) || 0);

function severity(value) {
  return el("span", { class: `badge badge-${TONE[value] || "neutral"}`, text: value });
}

// Retention alerts of the DLQ and the audit log name those stores, which are not work queues.
const STORE_PAGES = { retention_dlq: "/console/dlq", retention_audit: "/console/audit" };

function queueLink(queue, rule) {
  const href = STORE_PAGES[rule] || `/console/queues/${encodeURIComponent(queue)}`;
  return el("a", { href, text: queue });
}

function advice(alert) {
  const target = advicePage(alert);
  return el("td", { class: "recommendation" }, alert.recommendation,
    target ? [" ", el("a", { href: target[0], class: "advice", text: `${target[1]} →` })] : null);
}

function acknowledged(alert) {
  if (!alert.acknowledged_by) return el("td", { class: "muted", text: "–" });
  return el("td", { title: fmtTime(alert.acknowledged_at), text: `${alert.acknowledged_by}, ${fmtAgo(alert.acknowledged_at)}` });
}

async function loadFiring() {
  const state = $("#firing-state");
  let firing;
  try {
    firing = await api.get("/owner/alerts");
  } catch (error) {
    setState(state, "error", `Could not load the firing alerts: ${describe(error)}`);
    throw error;
  }
  const tbody = clear($("#firing-table tbody"));
  for (const alert of firing) {
    const button = el("button", { type: "button", class: "small", text: alert.acknowledged_by ? "Acknowledged" : "Acknowledge",
      disabled: Boolean(alert.acknowledged_by), "aria-label": `Acknowledge alert ${alert.id}` });
    button.addEventListener("click", async () => {
      const done = await act(button, () => api.post(`/owner/alerts/${alert.id}/acknowledge`),
        `Alert #${alert.id} acknowledged`);
      if (done) await refresh().catch(() => {});
    });
    tbody.appendChild(el("tr", { dataset: { alert: String(alert.id), key: alert.key } },
      el("td", {}, severity(alert.severity)), el("td", {}, queueLink(alert.queue, alert.rule)),
      el("td", { class: "mono", text: alert.rule }), el("td", { text: alert.summary }), advice(alert),
      el("td", { title: fmtTime(alert.fired_at), text: fmtAgo(alert.fired_at) }), acknowledged(alert),
      el("td", {}, button)));
  }
  if (!firing.length) setState(state, "empty", "No alert is firing.");
  else setState(state, null);
}

async function loadHistory() {
  const state = $("#history-state");
  let page;
  try {
    page = await api.get("/owner/alerts/history", { limit: PAGE, offset });
  } catch (error) {
    setState(state, "error", `Could not load the alert history: ${describe(error)}`);
    throw error;
  }
  const tbody = clear($("#history-table tbody"));
  for (const item of page.items) {
    const alert = item.alert;
    tbody.appendChild(el("tr", { dataset: { event: item.event, alert: String(alert.id) } },
      el("td", { text: fmtTime(item.at) }),
      el("td", {}, el("span", { class: `badge badge-${item.event === "resolved" ? "good" : TONE[alert.severity] || "warn"}`,
        text: item.event })),
      el("td", { text: alert.severity }), el("td", {}, queueLink(alert.queue, alert.rule)),
      el("td", { class: "mono", text: alert.rule }), el("td", { text: alert.summary }),
      el("td", { text: alert.acknowledged_by || "–" })));
  }
  $("#history-total").textContent = `· ${fmtNumber(page.total)} transition(s)`;
  $("#history-page").textContent = page.total
    ? `${fmtNumber(offset + 1)}–${fmtNumber(offset + page.items.length)} of ${fmtNumber(page.total)}` : "";
  $("#newer").disabled = offset === 0;
  $("#older").disabled = offset + PAGE >= page.total;
  if (!page.items.length) setState(state, "empty", "No alert has fired yet.");
  else setState(state, null);
}

async function loadRules() {
  let rules;
  try {
    rules = await api.get("/owner/alerts/rules");
  } catch (error) {
    setState($("#rules-state"), "error", `Could not load the rules: ${describe(error)}`);
    throw error;
  }
  setState($("#rules-state"), null);
  const facts = clear($("#rules"));
  const fact = (name, value) => facts.append(el("dt", { text: name }), el("dd", { text: value }));
  fact("Rules", rules.rules.join(", "));
  fact("Fires at", `${rules.min_severity} and above, checked every ${rules.interval_seconds} s`);
  fact("Cool-down", `${rules.cooldown_seconds} s after an alert resolves`);
  fact("Webhook", rules.webhook ? "configured" : "none");
  fact("Thresholds", Object.entries(rules.thresholds).map(([key, value]) => `${key} ${value}`).join(" · "));
}

function remember() {
  history.replaceState(null, "", location.pathname + (offset ? `?offset=${offset}` : ""));
}

async function refresh() {
  const results = await Promise.allSettled([loadFiring(), loadHistory(), loadRules()]);
  $("#updated").textContent = `Updated ${new Date().toLocaleTimeString("en-GB", { hour12: false })}`;
  const failed = results.find((result) => result.status === "rejected");
  if (failed) throw failed.reason;
}

$("#older").addEventListener("click", () => {
  offset += PAGE;
  remember();
  loadHistory().catch(() => {});
});
$("#newer").addEventListener("click", () => {
  offset = Math.max(0, offset - PAGE);
  remember();
  loadHistory().catch(() => {});
});
onRefresh(() => refresh());
refresh().catch(() => {});
setInterval(() => loadFiring().catch(() => {}), 15_000);
