"""The reference platform's catalogue: six work queues plus the DLQ, nineteen job contracts, eleven workers."""

from __future__ import annotations

import json
from collections.abc import Hashable, Sequence
from dataclasses import replace
from typing import Annotated, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    JsonValue,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from corral.contracts.base import JobContract, JobType, QueueConfig, RateLimit, Registry, Retention
from corral.contracts.secrets import Secret

# Conventions shared by every contract below.
ID_PATTERN = r"^[A-Za-z0-9_.:-]+$"
NAME_PATTERN = r"^[a-z][a-z0-9_.:-]*$"
SINGLE_LINE_PATTERN = r"^[^\x00-\x1f\x7f]*$"
LOCALE_PATTERN = r"^[a-z]{2}(-[A-Z]{2})?$"
MAX_ID_LENGTH = 128
MAX_NAME_LENGTH = 64
MAX_TITLE_LENGTH = 300
MAX_TEXT_LENGTH = 100_000
MAX_PROMPT_LENGTH = 20_000
MAX_OBJECT_KEYS = 100
MAX_URL_LENGTH = 2_048

_Item = TypeVar("_Item", bound=Hashable)


def _json_object(value: dict[str, JsonValue]) -> dict[str, JsonValue]:
    """Refuse objects with too many keys, over-long keys, or values JSON cannot carry (NaN, infinity)."""
    if len(value) > MAX_OBJECT_KEYS:
        raise ValueError(f"at most {MAX_OBJECT_KEYS} keys, got {len(value)}")
    long_keys = [key for key in value if len(key) > MAX_NAME_LENGTH * 2]
    if long_keys:
        raise ValueError(f"keys are at most {MAX_NAME_LENGTH * 2} characters")
    try:
        json.dumps(value, allow_nan=False)
    except ValueError as exc:
        raise ValueError(f"must be JSON-serialisable: {exc}") from None
    return value


def _unique(items: list[_Item]) -> list[_Item]:
    """Refuse repeated items, naming the first repeat."""
    seen: set[_Item] = set()
    for item in items:
        if item in seen:
            raise ValueError(f"duplicate item {item!r}")
        seen.add(item)
    return items


def _http_url(value: str) -> str:
    """Accept only absolute http(s) URLs with a host and no whitespace."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        raise ValueError("URL scheme must be http or https")
    if not parts.hostname:
        raise ValueError("URL must have a host")
    if any(char.isspace() for char in value):
        raise ValueError("URL must not contain whitespace")
    return value


Identifier = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN)]
"""Every id (articleId, userId, runId, ...): 1..128 of letters, digits, '_', '.', ':' and '-'."""
Name = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME_LENGTH, pattern=NAME_PATTERN)]
"""Machine names (actions, hooks, events, metrics, channels): lower-case, starting with a letter."""
Title = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TITLE_LENGTH, pattern=SINGLE_LINE_PATTERN)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT_LENGTH)]
Locale = Annotated[str, StringConstraints(pattern=LOCALE_PATTERN)]
Keyword = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=SINGLE_LINE_PATTERN)]
HttpUrlText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_URL_LENGTH), AfterValidator(_http_url)]
JsonObject = Annotated[dict[str, JsonValue], AfterValidator(_json_object)]
Tone = Literal["neutral", "formal", "casual", "friendly", "professional", "persuasive", "informative"]


class _Part(BaseModel):
    """A nested piece of a payload, as strict as the contract that holds it."""

    model_config = JobContract.model_config


# --- ai ---------------------------------------------------------------------------------------------------------------


class AiContentGenerate(JobContract):
    """Generate article text from a prompt."""

    articleId: Identifier
    prompt: Annotated[str, StringConstraints(min_length=1, max_length=MAX_PROMPT_LENGTH)]
    tone: Tone = "neutral"
    maxWords: int = Field(default=500, ge=1, le=10_000, strict=True)
    locale: Locale = "en"


class AiContentRewrite(JobContract):
    """Rewrite a text following an instruction."""

    articleId: Identifier
    text: Text
    instruction: Annotated[str, StringConstraints(min_length=1, max_length=2_000)]


class AiContentSummarize(JobContract):
    """Summarise a text in at most `maxSentences` sentences."""

    articleId: Identifier
    text: Text
    maxSentences: int = Field(default=3, ge=1, le=50, strict=True)


class AiSeoAnalyze(JobContract):
    """Produce an SEO report for an article."""

    articleId: Identifier
    title: Title
    body: Text
    focusKeyword: Keyword | None = None


class AiSeoMeta(JobContract):
    """Produce a meta description, slug and keywords for an article."""

    articleId: Identifier
    title: Title
    body: Text


# --- workflows --------------------------------------------------------------------------------------------------------


class WorkflowStep(_Part):
    """One step of a workflow run and the steps it waits for."""

    id: Identifier
    action: Name
    params: JsonObject = Field(default_factory=dict)
    dependsOn: Annotated[list[Identifier], AfterValidator(_unique)] = Field(default_factory=list, max_length=100)


def _dependency_problem(steps: Sequence[WorkflowStep]) -> str | None:
    """The first unknown dependency or cycle among the steps, described; None when the graph is a DAG."""
    known = {step.id for step in steps}
    for step in steps:
        for dependency in step.dependsOn:
            if dependency not in known:
                return f"step {step.id!r} depends on unknown step {dependency!r}"
    graph = {step.id: step.dependsOn for step in steps}
    finished: set[str] = set()
    for root in graph:
        if root in finished:
            continue
        # Iterative depth-first search along dependsOn; `path` is the chain being visited (at most 100 steps).
        path = [root]
        children = [iter(graph[root])]
        while children:
            child = next(children[-1], None)
            if child is None:
                children.pop()
                finished.add(path.pop())
            elif child in path:
                cycle = [*path[path.index(child) :], child]
                return "dependency cycle: " + " -> ".join(cycle)
            elif child not in finished:
                path.append(child)
                children.append(iter(graph[child]))
    return None


class WorkflowRun(JobContract):
    """Run a workflow's steps as a flow that respects their dependencies."""

    workflowId: Identifier
    runId: Identifier
    input: JsonObject = Field(default_factory=dict)
    steps: list[WorkflowStep] = Field(min_length=1, max_length=100)

    @field_validator("steps")
    @classmethod
    def _steps_form_a_dag(cls, steps: list[WorkflowStep]) -> list[WorkflowStep]:
        ids = [step.id for step in steps]
        duplicates = sorted({step_id for step_id in ids if ids.count(step_id) > 1})
        if duplicates:
            raise ValueError(f"step ids must be unique; repeated: {', '.join(duplicates)}")
        problem = _dependency_problem(steps)
        if problem:
            raise ValueError(problem)
        return steps


class WorkflowStepJob(JobContract):
    """Run one step of a workflow run."""

    workflowId: Identifier
    runId: Identifier
    stepId: Identifier
    action: Name
    params: JsonObject = Field(default_factory=dict)


# --- analytics --------------------------------------------------------------------------------------------------------


class AnalyticsEvent(_Part):
    """One raw analytics event."""

    type: Name
    ts: AwareDatetime
    articleId: Identifier | None = None
    userId: Identifier | None = None
    sessionId: Identifier | None = None
    props: JsonObject = Field(default_factory=dict)


class AnalyticsEventsIngest(JobContract):
    """Store a batch of raw analytics events."""

    events: list[AnalyticsEvent] = Field(min_length=1, max_length=1_000)


class AnalyticsRollup(JobContract):
    """Aggregate the events of one hour or day starting at `start`."""

    granularity: Literal["hour", "day"]
    start: AwareDatetime


class AnalyticsReport(JobContract):
    """Write a report of some metrics over [from, to) as CSV or JSON."""

    model_config = ConfigDict(**JobContract.model_config, populate_by_name=True)

    reportId: Identifier
    from_: AwareDatetime = Field(alias="from")
    to: AwareDatetime
    metrics: Annotated[list[Name], AfterValidator(_unique)] = Field(min_length=1, max_length=50)
    format: Literal["csv", "json"] = "json"

    @field_validator("to")
    @classmethod
    def _to_after_from(cls, to: AwareDatetime, info: ValidationInfo) -> AwareDatetime:
        start = info.data.get("from_")
        if start is not None and to <= start:
            raise ValueError("'to' must be after 'from'")
        return to


# --- email ------------------------------------------------------------------------------------------------------------


class EmailSend(JobContract):
    """Deliver an email from a text and/or HTML body, or from a template with its variables."""

    to: list[EmailStr] = Field(min_length=1, max_length=50)
    subject: Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=SINGLE_LINE_PATTERN)]
    text: Text | None = None
    html: Text | None = None
    templateId: Identifier | None = None
    vars: JsonObject | None = None
    replyTo: EmailStr | None = None

    @model_validator(mode="after")
    def _one_body_source(self) -> EmailSend:
        inline = self.text is not None or self.html is not None
        if self.templateId is not None and inline:
            raise ValueError("give either templateId or text/html, not both")
        if self.templateId is None and not inline:
            raise ValueError("one of text, html or templateId is required")
        if self.vars is not None and self.templateId is None:
            raise ValueError("vars are only allowed with templateId")
        return self


class EmailOtp(JobContract):
    """Make a one-time code, keep only its hash for `ttlSeconds`, and mail it."""

    userId: Identifier
    # Who receives a one-time code is OTP-related data: masked wherever the payload is shown.
    to: Annotated[EmailStr, Secret()]
    purpose: Name
    ttlSeconds: int = Field(default=300, ge=30, le=3_600, strict=True)


# --- plugins ----------------------------------------------------------------------------------------------------------


class PluginExecute(JobContract):
    """Run an installed plugin's hook in a subprocess within `timeoutMs`."""

    pluginId: Identifier
    hook: Name
    payload: JsonObject = Field(default_factory=dict)
    timeoutMs: int = Field(default=30_000, ge=100, le=300_000, strict=True)


class PluginWebhook(JobContract):
    """POST an event to a plugin's webhook URL, signed with HMAC-SHA256."""

    pluginId: Identifier
    url: HttpUrlText
    event: Name
    body: JsonObject = Field(default_factory=dict)
    secretRef: Annotated[Identifier | None, Secret()] = None


# --- system -----------------------------------------------------------------------------------------------------------


class SearchIndex(JobContract):
    """Index a document into the full-text index."""

    docType: Name
    docId: Identifier
    title: Title
    body: Annotated[str, StringConstraints(max_length=MAX_TEXT_LENGTH)]
    tags: Annotated[
        list[Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME_LENGTH, pattern=SINGLE_LINE_PATTERN)]],
        AfterValidator(_unique),
    ] = Field(default_factory=list, max_length=50)
    url: HttpUrlText | None = None


class SearchRemove(JobContract):
    """Remove a document from the full-text index."""

    docType: Name
    docId: Identifier


class ArticlePublish(JobContract):
    """Publish an article now or at `scheduledFor`, on the given channels."""

    articleId: Identifier
    scheduledFor: AwareDatetime | None = None
    channels: Annotated[list[Name], AfterValidator(_unique)] = Field(min_length=1, max_length=20)


class ArticleAutosave(JobContract):
    """Store an article revision; an older revision never overwrites a newer one."""

    articleId: Identifier
    userId: Identifier
    revision: int = Field(ge=1, le=2**31 - 1, strict=True)
    title: Annotated[str, StringConstraints(max_length=MAX_TITLE_LENGTH, pattern=SINGLE_LINE_PATTERN)]
    body: Annotated[str, StringConstraints(max_length=MAX_TEXT_LENGTH)]


class SystemCleanup(JobContract):
    """Trim old jobs, event streams, DLQ entries or audit rows past `olderThanHours`."""

    target: Literal["completed", "failed", "events", "dlq", "audit"]
    olderThanHours: int = Field(ge=1, le=87_600, strict=True)


# --- queues and job types ---------------------------------------------------------------------------------------------

_DAY = 86_400

# On a Redis/Valkey Cluster the catalogue's queues share one hash tag: a workflow's steps may run any job type, and a
# flow's parent and children must be on one slot (bullmq's flow scripts touch both queues' keys).
CATALOGUE_TAG = "catalogue"

CATALOGUE_QUEUES: tuple[QueueConfig, ...] = (
    QueueConfig(
        name="ai",
        hash_tag=CATALOGUE_TAG,
        attempts=3,
        backoff_ms=2_000,
        concurrency=4,
        timeout_seconds=120,
        rate_limit=RateLimit(max_jobs=60, per_ms=60_000),
    ),
    QueueConfig(
        name="workflows", hash_tag=CATALOGUE_TAG, attempts=3, backoff_ms=1_000, concurrency=8, timeout_seconds=300
    ),
    QueueConfig(
        name="analytics",
        hash_tag=CATALOGUE_TAG,
        attempts=5,
        backoff_ms=1_000,
        concurrency=4,
        timeout_seconds=120,
        keep_completed=Retention(count=500, age_seconds=_DAY),
    ),
    QueueConfig(
        name="email",
        hash_tag=CATALOGUE_TAG,
        attempts=5,
        backoff_ms=5_000,
        concurrency=10,
        timeout_seconds=30,
        rate_limit=RateLimit(max_jobs=100, per_ms=60_000),
    ),
    # The timeout leaves room above the longest plugin time limit (timeoutMs <= 300 s).
    QueueConfig(
        name="plugins", hash_tag=CATALOGUE_TAG, attempts=3, backoff_ms=2_000, concurrency=5, timeout_seconds=330
    ),
    QueueConfig(
        name="system", hash_tag=CATALOGUE_TAG, attempts=3, backoff_ms=1_000, concurrency=5, timeout_seconds=600
    ),
    # No worker consumes the DLQ; its config only says how long entries are kept.
    QueueConfig(
        name="dlq",
        attempts=1,
        backoff_ms=0,
        concurrency=1,
        keep_completed=Retention(count=10_000, age_seconds=30 * _DAY),
        keep_failed=Retention(count=10_000, age_seconds=30 * _DAY),
    ),
)

CATALOGUE_WORKERS: tuple[str, ...] = (
    "ai-content",
    "ai-seo",
    "workflow",
    "analytics-process",
    "email-send",
    "otp-send",
    "plugin-execute",
    "search-index",
    "article-publish",
    "article-autosave",
    "system-maintenance",
)

CATALOGUE_JOBS: tuple[JobType, ...] = (
    JobType("ai.content.generate", "ai", "ai-content", AiContentGenerate, "Text from the configured AI provider."),
    JobType("ai.content.rewrite", "ai", "ai-content", AiContentRewrite, "Rewrite via the AI provider."),
    JobType("ai.content.summarize", "ai", "ai-content", AiContentSummarize, "Summary via the AI provider."),
    JobType(
        "ai.seo.analyze",
        "ai",
        "ai-seo",
        AiSeoAnalyze,
        "SEO report: readability, keyword density, title/meta length, issues.",
    ),
    JobType("ai.seo.meta", "ai", "ai-seo", AiSeoMeta, "Meta description (<=160 chars), slug and keywords."),
    JobType("workflow.run", "workflows", "workflow", WorkflowRun, "Runs the steps as a flow, respecting dependencies."),
    JobType("workflow.step", "workflows", "workflow", WorkflowStepJob, "One step; its result feeds its dependants."),
    JobType("analytics.events.ingest", "analytics", "analytics-process", AnalyticsEventsIngest, "Stores raw events."),
    JobType("analytics.rollup", "analytics", "analytics-process", AnalyticsRollup, "Aggregates events into rollups."),
    JobType("analytics.report", "analytics", "analytics-process", AnalyticsReport, "Writes a report file."),
    JobType("email.send", "email", "email-send", EmailSend, "Delivers an email over SMTP."),
    JobType(
        "email.otp",
        "email",
        "otp-send",
        EmailOtp,
        "Makes a one-time code, stores only its hash with a TTL, delivers it.",
    ),
    JobType(
        "plugin.execute",
        "plugins",
        "plugin-execute",
        PluginExecute,
        "Runs an installed plugin in a subprocess with a time limit.",
    ),
    JobType(
        "plugin.webhook",
        "plugins",
        "plugin-execute",
        PluginWebhook,
        "HTTP POST signed with HMAC-SHA256; 5xx retried, 4xx unrecoverable.",
    ),
    JobType("search.index", "system", "search-index", SearchIndex, "Indexes a document into the full-text index."),
    JobType("search.remove", "system", "search-index", SearchRemove, "Removes a document from the full-text index."),
    JobType(
        "article.publish",
        "system",
        "article-publish",
        ArticlePublish,
        "Marks published, schedules if in the future, triggers search.index.",
    ),
    JobType(
        "article.autosave",
        "system",
        "article-autosave",
        ArticleAutosave,
        "Stores a revision; an older revision never overwrites a newer one.",
    ),
    JobType(
        "system.cleanup",
        "system",
        "system-maintenance",
        SystemCleanup,
        "Trims old jobs, event streams, DLQ entries and audit rows per retention.",
    ),
)


# --- AI text as secret fields -----------------------------------------------------------------------------------------
# Contracts are classes, read when the application is imported, before any setting is: a field cannot become secret
# by a setting's value. A deployment whose prompts and texts are confidential asks for these contracts instead by
# serving `CORRAL_APP=corral_reference:private_ai_app` (every process reads the same setting, so the API, the CLI and
# the workers agree on which fields are masked). Same fields, same limits; the text sent to the AI provider is secret.


class PrivateAiContentGenerate(AiContentGenerate):
    """`ai.content.generate` whose prompt is secret."""

    prompt: Annotated[str, StringConstraints(min_length=1, max_length=MAX_PROMPT_LENGTH), Secret()]


class PrivateAiContentRewrite(AiContentRewrite):
    """`ai.content.rewrite` whose text and instruction are secret."""

    text: Annotated[Text, Secret()]
    instruction: Annotated[str, StringConstraints(min_length=1, max_length=2_000), Secret()]


class PrivateAiContentSummarize(AiContentSummarize):
    """`ai.content.summarize` whose text is secret."""

    text: Annotated[Text, Secret()]


class PrivateAiSeoAnalyze(AiSeoAnalyze):
    """`ai.seo.analyze` whose body is secret."""

    body: Annotated[Text, Secret()]


class PrivateAiSeoMeta(AiSeoMeta):
    """`ai.seo.meta` whose body is secret."""

    body: Annotated[Text, Secret()]


PRIVATE_AI_CONTRACTS: dict[str, type[JobContract]] = {
    "ai.content.generate": PrivateAiContentGenerate,
    "ai.content.rewrite": PrivateAiContentRewrite,
    "ai.content.summarize": PrivateAiContentSummarize,
    "ai.seo.analyze": PrivateAiSeoAnalyze,
    "ai.seo.meta": PrivateAiSeoMeta,
}
# The catalogue with the AI provider's input text marked secret.
PRIVATE_AI_JOBS: tuple[JobType, ...] = tuple(
    replace(job, contract=PRIVATE_AI_CONTRACTS.get(job.name, job.contract)) for job in CATALOGUE_JOBS
)


def default_registry() -> Registry:
    """A fresh registry holding the catalogue's queues and job types, ready for an application's own."""
    return Registry().extend(CATALOGUE_QUEUES, CATALOGUE_JOBS)
