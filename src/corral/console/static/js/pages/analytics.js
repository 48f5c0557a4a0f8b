// DLQ analytics: Overview, Failures (by fingerprint and job type, with actions), Trends (hourly chart, peak, average)
// and Replays (success rate, limit reached), over a 24 h / 7 d / 30 d / custom range, with CSV export.

import { api } from "../api.js";
import { bulkByFilter } from "../bulk.js";
import { barChart, widthOf } from "../charts.js";
import { markTabs, onRefresh, startShell, wireTabs } from "../shell.js";
import { $, clear, describe, el, fmtNumber, fmtPercent, fmtTime, setState, showFormError, truncate } from "../ui.js";

startShell();

const TABS = ["overview", "failures", "trends", "replays"];
const RANGES = ["24h", "7d", "30d", "custom"];
const params = new URLSearchParams(location.search);
const view = {
  tab: TABS.includes(params.get("tab")) ? params.get("tab") : "overview",
  range: RANGES.includes(params.get("range")) ? params.get("range") : "24h",
  since: Number(params.get("since")) || null,
  until: Number(params.get("until")) || null,
};
const tabs = $("#views");
let loaded = null;
const state = $("#analytics-state");

function localInput(ms) {
  return new Date(ms - new Date(ms).getTimezoneOffset() * 60000).toISOString().slice(0, 16);
}

function remember() {
  const query = new URLSearchParams();
  if (view.tab !== "overview") query.set("tab", view.tab);
  if (view.range !== "24h") query.set("range", view.range);
  if (view.range === "custom" && view.since && view.until) {
    query.set("since", String(view.since));
    query.set("until", String(view.until));
  }
  const text = query.toString();
  history.replaceState(null, "", location.pathname + (text ? `?${text}` : ""));
}

function showTab(tab) {
  view.tab = tab;
  markTabs(tabs, tab);
  for (const name of TABS) $(`#panel-${name}`).hidden = name !== tab;
  remember();
  if (loaded) render(...loaded);
}

function card(name, value, hint = null) {
  const node = $(`[data-card="${name}"]`);
  $(".value", node).textContent = value;
  if (hint !== null) $(".hint", node).textContent = hint;
}

function trendQuery() {
  if (view.range === "custom") return { since: view.since, until: view.until };
  return { window: view.range };
}

function hourLabel(ms, long) {
  const date = new Date(ms);
  const time = date.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit", hour12: false });
  return long ? `${date.toLocaleDateString("en-GB", { day: "2-digit", month: "short" })} ${time}` : time;
}

function keyedRows(tbody, mapping, linkFor) {
  clear(tbody);
  const entries = Object.entries(mapping).sort((a, b) => b[1] - a[1]);
  if (!entries.length) tbody.appendChild(el("tr", {}, el("td", { class: "muted", text: "None." })));
  for (const [key, count] of entries) {
    tbody.appendChild(el("tr", {}, el("th", { scope: "row" }, linkFor ? el("a", { href: linkFor(key), text: key }) : key),
      el("td", { class: "num", text: fmtNumber(count) })));
  }
}

function actionButtons(filter, label) {
  const replay = el("button", { type: "button", class: "small", text: "Replay all…", "aria-label": `Replay all entries of ${label}` });
  replay.addEventListener("click", async () => {
    if (await bulkByFilter("replay", filter, replay)) await load();
  });
  const remove = el("button", { type: "button", class: "small danger", text: "Delete all…", dataset: { destructive: "" },
    "aria-label": `Delete all entries of ${label}` });
  remove.addEventListener("click", async () => {
    if (await bulkByFilter("delete", filter, remove)) await load();
  });
  const query = new URLSearchParams(Object.entries(filter));
  return el("div", { class: "row-actions" }, el("a", { class: "button small", href: `/console/dlq?${query}`, text: "View" }), replay, remove);
}

/** A fingerprint's releases: the first and last it was seen in, and a badge when it began in a release. */
function releaseCells(item) {
  if (!item.first_release) return [el("span", { class: "muted", text: "–" })];
  const span = item.last_release && item.last_release !== item.first_release
    ? `${item.first_release} → ${item.last_release}` : item.first_release;
  const cells = [el("span", { class: "mono", text: span, title: `seen in ${item.releases.join(", ")}` })];
  if (item.new_in) {
    cells.push(" ", el("span", { class: "badge badge-bad", text: `new in ${item.new_in}`,
      title: `not seen before release ${item.new_in}` }));
  }
  return cells;
}

function render(summary, trend) {
  const span = view.range === "custom" ? `${fmtTime(trend.start)} – ${fmtTime(trend.end)}` : `last ${view.range}`;
  card("total", fmtNumber(summary.total));
  card("range", fmtNumber(summary.in_range ?? trend.total), `failed in the ${span}`);
  card("fingerprints", fmtNumber(summary.fingerprints), `distinct errors, ${span}`);
  card("success", fmtPercent(summary.replay_success_rate));
  // Every breakdown below counts the entries that failed in the selected range, like the links it offers.
  const inRange = { since: String(trend.start), until: String(trend.end) };
  keyedRows($("#by-queue tbody"), summary.by_queue,
    (queue) => `/console/dlq?${new URLSearchParams({ queue, ...inRange })}`);
  keyedRows($("#by-release tbody"), summary.by_release,
    (release) => `/console/dlq?${new URLSearchParams({ release, ...inRange })}`);
  $("#by-hour-title").textContent = `Entries per hour, ${span}`;
  const lastDay = clear($("#last-day"));
  const overviewLong = summary.by_hour.length > 24;
  lastDay.appendChild(barChart(summary.by_hour.map((item) => ({
    label: hourLabel(item.hour, overviewLong), value: item.count, title: `${hourLabel(item.hour, true)}: ${item.count} entries`,
  })), { label: `DLQ entries per hour, ${span}`, height: 180, width: widthOf(lastDay) }));

  const fingerprints = clear($("#by-fingerprint tbody"));
  for (const item of summary.top_fingerprints) {
    fingerprints.appendChild(el("tr", { dataset: { fingerprint: item.fingerprint } },
      el("td", { class: "mono", text: item.fingerprint.slice(0, 12) }),
      el("td", { class: "error-text", title: item.sample_reason, text: truncate(item.pattern || item.sample_reason, 100) }),
      el("td", { text: item.queue }),
      el("td", { class: "num", text: fmtNumber(item.count) }),
      el("td", { text: fmtTime(item.first_seen) }),
      el("td", { text: fmtTime(item.last_seen) }),
      el("td", {}, ...releaseCells(item)),
      el("td", {}, actionButtons({ fingerprint: item.fingerprint, ...inRange }, `fingerprint ${item.fingerprint}`))));
  }
  if (!summary.top_fingerprints.length) {
    fingerprints.appendChild(el("tr", {}, el("td", { colspan: 8, class: "muted", text: `No entries failed in the ${span}.` })));
  }
  const names = clear($("#by-name tbody"));
  for (const [name, count] of Object.entries(summary.by_name).sort((a, b) => b[1] - a[1])) {
    names.appendChild(el("tr", { dataset: { name } }, el("th", { scope: "row", class: "mono", text: name }),
      el("td", { class: "num", text: fmtNumber(count) }), el("td", {}, actionButtons({ name, ...inRange }, `job type ${name}`))));
  }
  if (!Object.keys(summary.by_name).length) {
    names.appendChild(el("tr", {}, el("td", { colspan: 3, class: "muted", text: `No entries failed in the ${span}.` })));
  }

  card("trend-total", fmtNumber(trend.total), `entries, ${span}`);
  card("peak", trend.peak ? fmtNumber(trend.peak.count) : "–", trend.peak ? `at ${hourLabel(trend.peak.hour, true)}` : "no entries");
  card("average", trend.average_per_hour.toFixed(trend.average_per_hour < 10 ? 2 : 0));
  const long = trend.buckets.length > 24;
  const trendChart = clear($("#trend-chart"));
  // A release marker sits where the release was first seen: failures that start right after it began with it.
  const markers = trend.releases.map((release) => ({
    at: (release.at - trend.start) / (trend.end - trend.start), label: release.name,
    title: `release ${release.name}, first seen ${fmtTime(release.at)}`,
  }));
  trendChart.appendChild(barChart(trend.buckets.map((item) => ({
    label: hourLabel(item.hour, long), value: item.count, title: `${hourLabel(item.hour, true)}: ${item.count} entries`,
  })), { label: `DLQ entries per hour, ${span}`, width: widthOf(trendChart), markers }));
  $("#trend-releases").textContent = trend.releases.length
    ? `Releases first seen in the ${span}: ${trend.releases.map((r) => `${r.name} (${fmtTime(r.at)})`).join(", ")}.`
    : `No release was first seen in the ${span}.`;

  const statuses = summary.by_status;
  card("replay-rate", fmtPercent(summary.replay_success_rate));
  card("limit", fmtNumber(statuses.limit_reached || 0));
  card("pending", fmtNumber(statuses.pending || 0));
  keyedRows($("#by-status tbody"), statuses, (status) => `/console/dlq?${new URLSearchParams(
    status === "limit_reached" ? { replays: "5", ...inRange } : { status, ...inRange })}`);

  const exportQuery = new URLSearchParams({ format: "csv", since: String(trend.start), until: String(trend.end) });
  $("#export").href = `/owner/dlq/export?${exportQuery}`;
}

/** Hide every panel's figures: nothing stale stays on screen while the range cannot be shown. */
function blank(message) {
  loaded = null;
  for (const name of TABS) $(`#panel-${name}`).hidden = true;
  setState(state, "error", message);
}

function validRange() {
  return view.range !== "custom" || (view.since !== null && view.until !== null && view.since < view.until);
}

async function load() {
  if (!validRange()) {
    showFormError($("#range-error"), "choose a start before the end");
    blank("Nothing to show: the range's start is not before its end.");
    return;
  }
  setState(state, "loading", "Loading analytics…");
  try {
    const [summary, trend] = await Promise.all([
      api.get("/owner/dlq/analytics", { top: 20, ...trendQuery() }),
      api.get("/owner/dlq/trends", trendQuery()),
    ]);
    loaded = [summary, trend];
    showFormError($("#range-error"), "");
    showTab(view.tab);
    setState(state, null);
  } catch (error) {
    blank(`Could not load the analytics: ${describe(error)}`);
    throw error;
  }
}

for (const tab of tabs.querySelectorAll("[role=tab]")) tab.addEventListener("click", () => showTab(tab.dataset.value));
wireTabs(tabs, (tab) => showTab(tab.dataset.value));

$("#range").value = view.range;
$("#custom-range").hidden = view.range !== "custom";
if (view.since) $("#range-since").value = localInput(view.since);
if (view.until) $("#range-until").value = localInput(view.until);
$("#range").addEventListener("change", () => {
  view.range = $("#range").value;
  $("#custom-range").hidden = view.range !== "custom";
  if (view.range === "custom") {
    if (!view.since || !view.until) {
      const now = Date.now();
      view.until = now;
      view.since = now - 3 * 86_400_000;
      $("#range-since").value = localInput(view.since);
      $("#range-until").value = localInput(view.until);
    }
  }
  remember();
  load().catch(() => {});
});
$("#custom-range").addEventListener("submit", (event) => {
  event.preventDefault();
  const since = Date.parse($("#range-since").value);
  const until = Date.parse($("#range-until").value);
  if (Number.isNaN(since) || Number.isNaN(until) || since >= until) {
    showFormError($("#range-error"), "choose a start before the end");
    // The previous range's figures would pass for this one's: show none until the range is valid.
    blank("Nothing to show: the range's start is not before its end.");
    return;
  }
  showFormError($("#range-error"), "");
  view.since = since;
  view.until = until;
  remember();
  load().catch(() => {});
});

showTab(view.tab);
onRefresh(() => load());
load().catch(() => {});
