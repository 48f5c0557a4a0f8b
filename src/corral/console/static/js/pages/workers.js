// Workers page: every worker process with host, pid, queues, concurrency, active and processed jobs, heartbeat.

import { api } from "../api.js";
import { onRefresh, startShell } from "../shell.js";
import { $, clear, describe, el, fmtAgo, fmtNumber, fmtTime, setState } from "../ui.js";

startShell();

const tbody = $("#workers-table tbody");
const state = $("#workers-state");
let timer = null;
let loading = null;

function row(worker) {
  const queues = el("td", {}, ...worker.queues.flatMap((queue, index) => [index ? ", " : "",
    el("a", { href: `/console/queues/${encodeURIComponent(queue)}`, text: queue })]));
  const beat = Date.now() - worker.seconds_since_heartbeat * 1000;
  return el("tr", { dataset: { worker: worker.id, status: worker.status } },
    el("td", { class: "mono", text: worker.host }),
    el("td", { class: "num mono", text: String(worker.pid) }),
    el("td", {}, el("span", { class: `badge badge-${worker.status === "live" ? "good" : "bad"}`, text: worker.status })),
    queues,
    el("td", { class: "num", text: fmtNumber(worker.concurrency) }),
    el("td", { class: "num", text: fmtNumber(worker.active_jobs) }),
    el("td", { class: "num", text: fmtNumber(worker.processed) }),
    el("td", { class: "num", text: fmtNumber(worker.failed) }),
    el("td", { title: fmtTime(worker.started_at), text: fmtAgo(worker.started_at) }),
    el("td", { class: "heartbeat", title: fmtTime(worker.last_heartbeat), text: fmtAgo(beat) }));
}

async function refresh() {
  if (loading) return loading;
  if (!tbody.children.length) setState(state, "loading", "Loading workers…");
  loading = (async () => {
    try {
      const workers = await api.get("/owner/workers");
      clear(tbody);
      for (const worker of workers) tbody.appendChild(row(worker));
      const live = workers.filter((worker) => worker.status === "live");
      $("#workers-summary").textContent = `${live.length} live, ${workers.length - live.length} lost · `
        + `${fmtNumber(live.reduce((sum, worker) => sum + worker.active_jobs, 0))} job(s) running`;
      if (!workers.length) setState(state, "empty", "No worker has sent a heartbeat. Start one with corral worker (or corral up).");
      else setState(state, null);
      $("#updated").textContent = `Updated ${new Date().toLocaleTimeString("en-GB", { hour12: false })}`;
    } catch (error) {
      setState(state, "error", `Could not load the workers: ${describe(error)}`);
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
  timer = seconds > 0 ? setInterval(() => refresh().catch(() => {}), seconds * 1000) : null;
}

$("#auto-refresh").addEventListener("change", () => {
  schedule();
  const seconds = Number($("#auto-refresh").value);
  $("#updated").textContent = seconds ? `Auto-refresh every ${seconds} s` : "Auto-refresh off";
});
onRefresh(() => refresh());
schedule();
refresh().catch(() => {});
