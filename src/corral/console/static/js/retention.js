// The retention banner of the DLQ, queue and audit pages: what retention deletes within the warning horizon
// (CORRAL_RETENTION_WARNING_HOURS), with the counts and the oldest affected; hidden when nothing is due or the
// account may not read monitoring.

import { api, session } from "./api.js";
import { clear, el, fmtAgo, fmtNumber, fmtTime } from "./ui.js";

/** Fill `banner` from GET /owner/retention with `query` (target and/or queue); hide it when nothing is due. */
export async function showRetention(banner, query) {
  const me = await session().catch(() => null);
  if (!me || !(me.permissions || []).includes("monitoring:read")) {
    banner.hidden = true;
    return;
  }
  let report;
  try {
    report = await api.get("/owner/retention", query);
  } catch {
    banner.hidden = true;  // the page works without it; the health page reports the same warnings
    return;
  }
  clear(banner);
  banner.hidden = report.warnings.length === 0;
  for (const warning of report.warnings) {
    const e = warning.evidence;
    const how = [e.by_age ? `${fmtNumber(e.by_age)} by age` : null, e.by_count ? `${fmtNumber(e.by_count)} by count` : null]
      .filter(Boolean).join(", ");
    banner.appendChild(el("div", { class: "retention-warning", "data-rule": warning.rule },
      el("strong", { text: `Retention: ${fmtNumber(e.affected)} of ${fmtNumber(e.stored)} ` +
        `${noun(e.target)} will be deleted within ${report.horizon_hours} h` }),
      ` (${how}); the oldest is from ${fmtTime(e.oldest_at)} (${fmtAgo(e.oldest_at)}). `,
      el("span", { class: "muted", text: warning.recommendation })));
  }
}

function noun(target) {
  return { dlq: "dead-letter entries", failed: "failed jobs", audit: "audit rows" }[target] || "items";
}
