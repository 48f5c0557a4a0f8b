// Bulk DLQ actions by filter: the API's preview (count, sample, queues) and confirmation token, shown in the
// confirmation dialog, then the second call that starts the background task.

import { api } from "./api.js";
import { act, confirmAction, fmtNumber, toast, truncate } from "./ui.js";

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
      + "task? A sample of what matches:",
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
