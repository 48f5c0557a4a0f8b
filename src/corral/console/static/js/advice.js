// Where a health issue's recommendation can be acted on: the console page that helps, per rule.

import { el } from "./ui.js";

const q = (queue) => encodeURIComponent(queue);

const PAGES = {
  error_rate: (queue) => [`/console/queues/${q(queue)}#failures`, `Failure reasons of ${queue}`],
  processing_drift: (queue) => [`/console/queues/${q(queue)}#processing`, `Processing times of ${queue}`],
  dlq_growth: (queue) => [`/console/dlq?queue=${q(queue)}`, `Dead letters of ${queue}`],
  no_workers: () => ["/console/workers", "Workers"],
  stalled: () => ["/console/workers", "Workers"],
  backlog_size: (queue) => [`/console/queues/${q(queue)}`, `Queue ${queue}`],
  backlog_age: (queue) => [`/console/queues/${q(queue)}`, `Queue ${queue}`],
  retention_dlq: () => ["/console/dlq", "Dead-letter queue"],
  retention_failed: (queue) => [`/console/queues/${q(queue)}?state=failed`, `Failed jobs of ${queue}`],
  retention_audit: () => ["/console/audit", "Audit log"],
};

/** The page that helps with `issue` ({rule, queue}) as [href, label], or null. */
export function advicePage(issue) {
  const page = PAGES[issue.rule];
  return page ? page(issue.queue) : null;
}

/** The recommendation's text followed by a link to the page that helps (text only when there is none). */
export function recommendation(issue) {
  const target = advicePage(issue);
  return el("div", { class: "recommendation" }, issue.recommendation,
    target ? [" ", el("a", { href: target[0], class: "advice", text: `${target[1]} →` })] : null);
}
