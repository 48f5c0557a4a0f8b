// Bulk DLQ actions by filter: the API's preview (count, sample, queues) and confirmation token, shown in the
// confirmation dialog, then the second call that starts the background task.

import { api } from "./api.js";
import { act, confirmAction, fmtNumber, toast, truncate } from "./ui.js";

/** A replay's plan in words: its rate and slow start, its brake, its in-flight limit (a task or a preview's plan). */
export function planText(plan) {
  if (!plan) return "";
  const brake = plan.brake_threshold
    ? `pauses when more than ${fmtNumber(plan.brake_threshold)} replayed jobs die again within ${plan.brake_window} s`
    : "no brake";
  const rate = plan.slow_start < 100
    ? `starts at ${fmtNumber(plan.start_rate)}/s (slow start ${plan.slow_start}%), doubling every ${plan.ramp_window} s `
      + `without a death up to ${fmtNumber(plan.rate)}/s`
    : `${fmtNumber(plan.rate)}/s from the start`;
  const inFlight = plan.max_in_flight ? `; at most ${fmtNumber(plan.max_in_flight)} jobs in flight` : "";
  return `${rate}; ${brake}${inFlight}`;
}

/** The plan of a stored task (its brake and slow start records). */
export function taskPlan(task) {
  const slow = task.slow_start || {};
  return {
    rate: task.rate,
    slow_start: slow.slow_start ?? 100,
    start_rate: slow.start_rate ?? task.rate,
    ramp_window: slow.ramp_window ?? task.brake.brake_window,
    brake_threshold: task.brake.brake_threshold,
    brake_window: task.brake.brake_window,
    max_in_flight: task.max_in_flight,
  };
}

/** Preview then (once confirmed) start a bulk `kind` ("replay" or "delete") over `filter`; the started answer or null. */
export async function bulkByFilter(kind, filter, button) {
  const path = `/owner/dlq/${kind}`;
  const preview = await act(button, () => api.post(path, { filter }));
  if (!preview) return null;
  if (preview.count === 0) {
    toast("No entry matches this filter: nothing to do.", "info");
    return null;
  }
  const verb = kind === "replay" ? "Replay" : "Delete";
  const plural = preview.count === 1 ? "entry" : "entries";
  const confirmed = await confirmAction({
    title: `${verb} all matching`,
    text: `${verb} ${fmtNumber(preview.count)} ${plural} from ${preview.queues.join(", ") || "no queue"} as a background `
      + `task?${preview.plan ? ` It ${planText(preview.plan)}.` : ""} A sample of what matches:`,
    sample: preview.sample.map((item) => `${item.queue} · ${item.name} · job ${item.job_id} · ${truncate(item.failed_reason, 60)}`),
    phrase: preview.phrase,
    confirmLabel: verb,
  });
  if (confirmed === null) {
    toast(`${verb} cancelled: nothing was changed`, "info");
    return null;
  }
  // `confirmed` is the typed phrase when the API asks for one (every delete does).
  const body = { filter, confirmation_token: preview.confirmation_token };
  if (preview.phrase) body.phrase = confirmed;
  const started = await act(button, () => api.post(path, body),
    (result) => `${verb} of ${fmtNumber(result.count)} ${result.count === 1 ? "entry" : "entries"} started`);
  return started || null;
}
