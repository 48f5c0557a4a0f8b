"""A crawler for the console: follows every link and clicks every non-destructive control, failing on any 4xx/5xx
answer, any browser console error, or any control that changes nothing (no DOM change, request or navigation)."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from playwright.sync_api import Locator, Page, Request
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from console.console_peers import Console

SKIPPED = "[data-destructive], #sign-out, #toasts *"
WATCH_MUTATIONS = """
window.__mutations = 0;
new MutationObserver((records) => { window.__mutations += records.length; })
  .observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
"""


@dataclass
class CrawlReport:
    """What the crawl visited and clicked, and the controls that did nothing."""

    pages: list[str] = field(default_factory=list)
    clicked: list[str] = field(default_factory=list)
    downloads: list[str] = field(default_factory=list)
    inert: list[str] = field(default_factory=list)


CANDIDATES = """
(args) => {
  const [selector, skipped] = args;
  window.__crawlSeq = window.__crawlSeq || 0;
  const found = [];
  for (const element of document.querySelectorAll(selector)) {
    if (element.matches(skipped) || element.disabled || !element.checkVisibility()) continue;
    if (!element.dataset.crawlId) element.dataset.crawlId = String(++window.__crawlSeq);
    const label = (element.getAttribute("aria-label") || element.textContent || "").trim().slice(0, 40);
    const row = element.closest("tr, li, article");
    const where = row ? JSON.stringify(Object.assign({}, row.dataset)) : "";
    const sig = `${element.tagName.toLowerCase()}#${element.id}[${label}]${where}`;
    found.push({ id: element.dataset.crawlId, sig });
  }
  return found;
}
"""
CONTROLS = "button, [role=tab], select, input[type=checkbox], summary"
MAX_CLICKS_PER_PAGE = 250


def _close_dialogs(page: Page) -> None:
    for _ in range(3):
        if page.locator("dialog[open]").count() == 0:
            return
        page.keyboard.press("Escape")
        page.wait_for_timeout(50)


def _operate(page: Page, control: Locator) -> None:
    tag = control.evaluate("e => e.tagName", timeout=2_000)
    if tag == "SELECT":
        options = control.locator("option")
        values = [options.nth(i).get_attribute("value") or options.nth(i).inner_text() for i in range(options.count())]
        current = control.input_value()
        others = [value for value in values if value != current]
        if others:
            control.select_option(others[-1], timeout=2_000)
    else:
        control.click(timeout=2_000)


def _exercise(console: Console, report: CrawlReport, path: str) -> None:
    page = console.page
    requests: list[Request] = []

    def record(request: Request) -> None:
        requests.append(request)

    page.on("request", record)
    done: set[str] = set()
    for _ in range(MAX_CLICKS_PER_PAGE):
        _close_dialogs(page)
        if urlsplit(page.url).path != urlsplit(console.url(path)).path:
            console.goto(path)
        candidates = page.evaluate(CANDIDATES, [CONTROLS, SKIPPED])
        todo = [item for item in candidates if item["sig"] not in done]
        if not todo:
            break
        item = todo[0]
        control = page.locator(f'[data-crawl-id="{item["id"]}"]')
        if control.count() == 0:
            continue  # re-rendered (auto-refresh) since it was listed: list again
        done.add(item["sig"])
        before_url, before_requests = page.url, len(requests)
        before_mutations = page.evaluate("window.__mutations")
        try:
            _operate(page, control)
        except PlaywrightTimeout:
            done.discard(item["sig"])
            continue  # re-rendered while being operated: list again
        page.wait_for_timeout(100)
        page.wait_for_load_state("networkidle")
        changed = (
            page.url != before_url
            or len(requests) > before_requests
            or (page.evaluate("window.__mutations ?? -1") != before_mutations)
        )
        report.clicked.append(f"{path} {item['sig']}")
        if not changed:
            report.inert.append(f"{path} {item['sig']}")
    else:
        raise AssertionError(f"{path}: more than {MAX_CLICKS_PER_PAGE} controls; is a control creating new ones?")
    page.remove_listener("request", record)


def crawl(console: Console, start: list[str], click_on: set[str]) -> CrawlReport:
    """Visit `start` and every console link found; click every control on pages whose path is in `click_on`."""
    page = console.page
    page.context.add_init_script(WATCH_MUTATIONS)
    report = CrawlReport()
    queue, seen, exercised = list(start), set(), set()
    while queue:
        target = queue.pop(0)
        if target in seen:
            continue
        seen.add(target)
        console.goto(target)
        report.pages.append(target)
        for anchor in page.locator("a[href]").all():
            href = anchor.get_attribute("href") or ""
            if anchor.get_attribute("download") is not None:
                if href not in report.downloads:
                    answer = page.context.request.get(console.url(href))
                    assert answer.status == 200, (href, answer.status)
                    report.downloads.append(href)
                continue
            if href.startswith("/console") and href not in seen:
                queue.append(href)
        path = urlsplit(target).path
        if path in click_on and path not in exercised:
            exercised.add(path)
            _exercise(console, report, target)
    return report
