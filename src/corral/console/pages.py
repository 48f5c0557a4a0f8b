"""The console's pages: owner-only HTML shells whose scripts load their data from the API."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import quote, unquote

from fastapi import Depends, Request, Response
from fastapi.responses import RedirectResponse
from starlette.routing import Route

from corral.api.context import ApiServices, services
from corral.api.routing import CorralRoute, owner_router
from corral.api.security import Principal, require
from corral.console.headers import secure
from corral.console.render import page
from corral.errors import NotFoundError
from corral.security.permissions import Permission

LOGIN_PATH = "/login"


def wants_html(request: Request) -> bool:
    """Whether the caller is a browser navigating (it accepts HTML), rather than an API client."""
    return "text/html" in request.headers.get("accept", "")


CONSOLE_HOME = "/console"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def safe_next(target: str | None) -> str:
    """A same-origin path to go to after signing in; anything else becomes the console's first page.

    Checked on the decoded value, and again once more decoded: a path (leading `/`), never `//` or a backslash
    (which browsers read as another host), no control character (browsers drop tab, CR and LF from a URL, so
    `/<TAB>/host` would become `//host`), hence no scheme either. The sign-in page applies the same rule.
    """
    if not target:
        return CONSOLE_HOME
    for form in (target, unquote(target)):
        if not form.startswith("/") or form.startswith("//") or "\\" in form or _CONTROL.search(form):
            return CONSOLE_HOME
    return target


class PageRoute(CorralRoute):
    """A console page: guarded like any API route, but a browser is sent to the login page instead of a 401
    and sees an HTML page for other errors; API clients (no `text/html` in Accept) get problem+json."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            response = await original(request)
            if response.status_code < 400 or not wants_html(request):
                return secure(response)
            if response.status_code == 401:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return secure(RedirectResponse(f"{LOGIN_PATH}?next={quote(target, safe='')}", status_code=303))
            try:
                detail = str(json.loads(bytes(response.body)).get("detail", ""))
            except (ValueError, AttributeError):
                detail = ""
            principal: Principal | None = getattr(request.state, "principal", None)
            if response.status_code == 404 and principal is not None:
                # A signed-in owner who followed a stale link stays in the console, with its navigation.
                return page(
                    "not_found.html",
                    status_code=404,
                    script="notfound",
                    active="",
                    title="Not found",
                    actor=principal.actor,
                    detail=detail,
                )
            return page("error.html", status_code=response.status_code, status=response.status_code, detail=detail)

        return handler


router = owner_router(tags=["console"])
router.route_class = PageRoute

Api = Annotated[ApiServices, Depends(services)]
QueuesReader = Annotated[Principal, require(Permission.QUEUES_READ)]
JobsReader = Annotated[Principal, require(Permission.JOBS_READ)]
AuditReader = Annotated[Principal, require(Permission.AUDIT_READ)]
DlqReader = Annotated[Principal, require(Permission.DLQ_READ)]
LiveReader = Annotated[Principal, require(Permission.REALTIME)]
MonitoringReader = Annotated[Principal, require(Permission.MONITORING_READ)]
SchedulesReader = Annotated[Principal, require(Permission.SCHEDULES_READ)]


@router.get("/", name="console.home", include_in_schema=False)
async def home(_: QueuesReader) -> RedirectResponse:
    """The console's first page."""
    return RedirectResponse("/console", status_code=303)


@router.get("/console", name="console.queues", include_in_schema=False)
async def queues_page(principal: QueuesReader) -> Response:
    """Queues: summary cards and every queue with its counts, health, throughput and pause control."""
    return page("queues.html", script="queues", active="queues", title="Queues", actor=principal.actor)


@router.get("/console/queues/{queue}", name="console.queue", include_in_schema=False)
async def queue_page(queue: str, api: Api, principal: JobsReader) -> Response:
    """One queue: its jobs by state, job detail and actions, and the enqueue form."""
    if queue not in api.registry.work_queues:
        raise NotFoundError(f"no queue {queue!r}; queues: {', '.join(api.registry.work_queues)}")
    return page(
        "queue.html", script="queue", active="queues", title=f"Queue {queue}", actor=principal.actor, queue=queue
    )


@router.get("/console/dlq", name="console.dlq", include_in_schema=False)
async def dlq_page(principal: DlqReader) -> Response:
    """The DLQ: entries with filters and search, bulk actions and tasks, entry detail, replay, delete and clear."""
    return page("dlq.html", script="dlq", active="dlq", title="DLQ", actor=principal.actor)


@router.get("/console/dlq/analytics", name="console.dlq_analytics", include_in_schema=False)
async def dlq_analytics_page(principal: DlqReader) -> Response:
    """DLQ analytics: overview, failures, trends and replays over a time range."""
    return page(
        "dlq_analytics.html", script="analytics", active="analytics", title="DLQ analytics", actor=principal.actor
    )


@router.get("/console/live", name="console.live", include_in_schema=False)
async def live_page(principal: LiveReader) -> Response:
    """Live dashboard: health, queue overview, throughput and the realtime event feed."""
    return page("live.html", script="live", active="live", title="Live", actor=principal.actor)


@router.get("/console/audit", name="console.audit", include_in_schema=False)
async def audit_page(principal: AuditReader) -> Response:
    """The audit log with filters and CSV export."""
    return page("audit.html", script="audit", active="audit", title="Audit", actor=principal.actor)


@router.get("/console/workers", name="console.workers", include_in_schema=False)
async def workers_page(principal: MonitoringReader) -> Response:
    """Workers: every worker process with its host, pid, queues, active and processed jobs and last heartbeat."""
    return page("workers.html", script="workers", active="workers", title="Workers", actor=principal.actor)


@router.get("/console/alerts", name="console.alerts", include_in_schema=False)
async def alerts_page(principal: MonitoringReader) -> Response:
    """Alerts: those firing now (acknowledge them), their history and the rules in force."""
    return page("alerts.html", script="alerts", active="alerts", title="Alerts", actor=principal.actor)


@router.get("/console/schedules", name="console.schedules", include_in_schema=False)
async def schedules_page(principal: SchedulesReader) -> Response:
    """Schedules: repeatable and cron jobs with their next run; create, edit, pause, resume, run now, delete."""
    return page("schedules.html", script="schedules", active="schedules", title="Schedules", actor=principal.actor)


@router.get("/console/audit/data-access", name="console.data_access", include_in_schema=False)
async def data_access_page(principal: AuditReader) -> Response:
    """The data-access log: who read which sensitive records, with filters and older pages."""
    return page("data_access.html", script="data_access", active="audit", title="Data access", actor=principal.actor)


# Last of the console's routes: any other path under /console is a console page that does not exist.
@router.get("/console/{rest:path}", name="console.not_found", include_in_schema=False)
async def not_found_page(rest: str, _: QueuesReader) -> Response:
    """An unknown console path: an HTML 404 in the console's layout for a signed-in owner (the login page for a
    browser without a session, problem+json for an API client)."""
    raise NotFoundError(f"there is no console page /console/{rest}")


async def login_page(request: Request) -> Response:
    """The sign-in form; it holds no data, so it is served to anyone, like the console's scripts."""
    return page("login.html", title="Sign in", next=safe_next(request.query_params.get("next")))


login_route = Route(LOGIN_PATH, login_page, methods=["GET"], name="console.login")
