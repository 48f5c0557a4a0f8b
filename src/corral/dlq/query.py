"""Listing and searching DLQ entries from their indexes: filters, cursors, newest first, no scan of every entry."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from corral.dlq.entry import REPLAY_STATUSES
from corral.dlq.fields import normalise_value
from corral.dlq.fingerprint import search_tokens
from corral.dlq.scripts import DlqScripts
from corral.dlq.search import expand
from corral.dlq.store import MAX_REPLAYS, DeadLetterStore
from corral.errors import FieldError, InvalidRequestError
from corral.keys import Keys
from corral.releases import RELEASE_NAME

# Entries one index walk may examine per call; a sparse filter answers a shorter page and a cursor to go on.
WALK_BUDGET = 5_000
# Entries a total may examine when several conditions combine; past it, `total` is not given.
COUNT_BUDGET = 10_000
MAX_PAGE = 1_000
STATUSES = (*REPLAY_STATUSES, "limit")
FINGERPRINT_PREFIX = re.compile(r"^[0-9a-f]{4,16}$")
# Fingerprints a fingerprint prefix, and error tokens a word prefix, may stand for.
MAX_PREFIX_MATCHES = 100


@dataclass(frozen=True)
class Cursor:
    """A position in newest-first order: the failed-at score and the id of the last entry seen."""

    score: int
    entry_id: str

    def __str__(self) -> str:
        return f"{self.score}:{self.entry_id}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        """A cursor from its text form `<failed-at ms>:<entry id>`; raises InvalidRequestError."""
        score, _, entry_id = text.partition(":")
        if not score.isdigit() or not entry_id.isdigit():
            raise InvalidRequestError("invalid cursor", [FieldError("cursor", "expected <failed-at ms>:<entry id>")])
        return cls(int(score), entry_id)


@dataclass(frozen=True)
class DlqFilter:
    """Which entries: every given condition must hold (`text` matches job id, payload values or error words)."""

    queue: str | None = None
    name: str | None = None
    fingerprint: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    replays: int | None = None
    status: str | None = None
    job_id: str | None = None
    error: str | None = None
    fields: tuple[tuple[str, str], ...] = ()
    text: str | None = None
    release: str | None = None

    def as_params(self) -> dict[str, Any]:
        """The filter's given conditions, for audit rows, task records and confirmations."""
        params = {k: v for k, v in vars(self).items() if v not in (None, ())}
        if self.fields:
            params["fields"] = [f"{name}:{value}" for name, value in self.fields]
        return params

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> DlqFilter:
        """The filter `as_params` described."""
        values = dict(params)
        values["fields"] = tuple(tuple(item.split(":", 1)) for item in values.get("fields", ()))
        return cls(**values)

    @property
    def is_empty(self) -> bool:
        """Whether the filter selects every entry."""
        return not self.as_params()


@dataclass(frozen=True)
class EntrySummary:
    """An entry as lists show it: no payload, the reason cut to 500 characters."""

    id: str
    queue: str
    job_id: str
    name: str
    failed_at: int
    attempts_made: int
    replay_count: int
    status: str
    fingerprint: str
    failed_reason: str
    release: str = ""

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> EntrySummary:
        """From a `summary` row of the rows script."""
        return cls(
            id=str(row["id"]),
            queue=str(row["queue"]),
            job_id=str(row["jobId"]),
            name=str(row["name"]),
            failed_at=int(row["failedAt"]),
            attempts_made=int(row["attemptsMade"]),
            replay_count=int(row["replayCount"]),
            status=str(row["status"]),
            fingerprint=str(row["fingerprint"]),
            failed_reason=str(row["failedReason"]),
            release=str(row.get("release") or ""),
        )


@dataclass(frozen=True)
class Page:
    """Entries newest first; `next_cursor` is None at the end. `total` is known when one index answers the filter."""

    items: list[EntrySummary]
    next_cursor: str | None
    total: int | None


@dataclass
class _Plan:
    drivers: list[str] = field(default_factory=list)
    static_ids: list[str] | None = None
    checks: list[str] = field(default_factory=list)
    excludes: list[str] = field(default_factory=list)
    anys: list[str] = field(default_factory=list)
    empty: bool = False
    # The drivers share no entry (fingerprint indexes), so their counts add up to the total.
    disjoint: bool = False


@dataclass(frozen=True)
class _Walk:
    matches: list[tuple[int, str]]
    frontier: tuple[int, str] | None
    exhausted: bool


class DlqQuery:
    """Answers filters and searches by walking the smallest matching index and checking the others."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        scripts: DlqScripts,
        layout: str,
        fields: Mapping[str, list[str]],
        store: DeadLetterStore | None = None,
    ):
        self.redis = redis
        self.keys = keys
        self.scripts = scripts
        self.layout = layout
        self.searchable = sorted({name for names in fields.values() for name in names})
        self.store = store

    def validate(self, flt: DlqFilter) -> DlqFilter:
        """The filter with its search text's `key:value` terms applied; refuses unknown keys, statuses, replay
        counts, fields and fingerprints, naming each."""
        flt = expand(flt, self.searchable)
        errors = []
        if flt.status is not None and flt.status not in STATUSES:
            errors.append(FieldError("status", f"one of {', '.join(STATUSES)}"))
        if flt.replays is not None and not 0 <= flt.replays <= MAX_REPLAYS:
            errors.append(FieldError("replays", f"between 0 and {MAX_REPLAYS}"))
        if flt.fingerprint is not None and not FINGERPRINT_PREFIX.match(flt.fingerprint.lower()):
            errors.append(FieldError("fingerprint", "a fingerprint or its first 4 or more hex characters"))
        for name, _value in flt.fields:
            if name not in self.searchable:
                errors.append(
                    FieldError("field", f"{name!r} is not searchable; searchable: {', '.join(self.searchable)}")
                )
        if flt.release is not None and not RELEASE_NAME.match(flt.release):
            errors.append(FieldError("release", "a release name: letters, digits, '.', '_', '+' or '-'"))
        if flt.job_id and flt.text:
            errors.append(FieldError("q", "search by a job id or by free text, not both"))
        if flt.error is not None and not search_tokens(flt.error):
            errors.append(FieldError("error", "give at least one word of two letters or more"))
        if errors:
            raise InvalidRequestError("invalid filter: " + "; ".join(map(str, errors)), errors)
        return flt

    def _range(self, flt: DlqFilter) -> tuple[str, str]:
        high = f"({flt.until_ms}" if flt.until_ms is not None else "+inf"
        low = str(flt.since_ms) if flt.since_ms is not None else "-inf"
        return high, low

    async def _plan(self, flt: DlqFilter) -> _Plan:
        ix = self.keys.dlq_index
        plan = _Plan()
        required: list[str] = []
        if flt.queue:
            required.append(ix("queue", flt.queue))
        if flt.name:
            required.append(ix("name", flt.name))
        if flt.release:
            required.append(ix("release", flt.release))
        if flt.status in ("pending", "succeeded", "died"):
            required.append(ix("status", flt.status))
        elif flt.status == "never":
            plan.excludes.append(self.keys.dlq_replayed)
        elif flt.status == "limit":
            required.append(ix("replays", str(MAX_REPLAYS)))
        if flt.replays:
            required.append(ix("replays", str(flt.replays)))
        elif flt.replays == 0:
            plan.excludes.append(self.keys.dlq_replayed)
        required.extend(ix("f", f"{name}:{normalise_value(value)}") for name, value in flt.fields)
        # The fingerprints allowed by a fingerprint (prefix) and by error words; None: any.
        fingerprints: list[str] | None = None
        if flt.fingerprint:
            fingerprints = await self._fingerprints(flt.fingerprint)
        if flt.error:
            by_words = await self._error_fingerprints(flt.error)
            fingerprints = by_words if fingerprints is None else [fp for fp in fingerprints if fp in set(by_words)]
        if fingerprints is not None and not fingerprints:
            plan.empty = True
            return plan
        fp_keys = [ix("fp", fp) for fp in fingerprints or []]
        if len(fp_keys) == 1:
            required.extend(fp_keys)
            fp_keys = []
        if flt.text:
            union, plan.static_ids = await self._text_sources(flt.text)
            plan.drivers, plan.checks, plan.anys = union, required, fp_keys
            plan.empty = not union and not plan.static_ids
            return plan
        if flt.job_id:
            plan.static_ids, plan.checks, plan.anys = await self._job_entries(flt.job_id), required, fp_keys
            return plan
        if fp_keys:
            plan.drivers, plan.checks, plan.disjoint = fp_keys, required, True
            return plan
        if not required:
            plan.drivers = [self.keys.dlq_by_time]
            return plan
        high, low = self._range(flt)
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in required:
                pipe.zcount(key, low, high)
            sizes = await pipe.execute()
        smallest = min(range(len(required)), key=lambda i: sizes[i])
        plan.drivers = [required[smallest]]
        plan.checks = [key for i, key in enumerate(required) if i != smallest]
        plan.empty = sizes[smallest] == 0
        return plan

    async def _fingerprints(self, given: str) -> list[str]:
        """The fingerprints a full fingerprint or a prefix of one stands for (the list shows 10 characters)."""
        prefix = given.lower()
        if len(prefix) == 16:
            return [prefix]
        found = await self._fingerprints_named(prefix)
        if not found and not await self.redis.exists(self.keys.dlq_fingerprint_names):
            # Entries captured before the lexical sets existed: name their fingerprints once, then look again.
            if self.store is not None:
                await self.store.index_names()
            found = await self._fingerprints_named(prefix)
        if len(found) > MAX_PREFIX_MATCHES:
            raise InvalidRequestError(
                f"fingerprint prefix {given!r} is too short",
                [FieldError("fingerprint", f"matches over {MAX_PREFIX_MATCHES} fingerprints; give more characters")],
            )
        return found

    async def _fingerprints_named(self, prefix: str) -> list[str]:
        found: list[str] = await self.redis.zrangebylex(
            self.keys.dlq_fingerprint_names, f"[{prefix}", f"[{prefix}\xff", 0, MAX_PREFIX_MATCHES + 1
        )  # type: ignore[assignment]
        return found

    async def _error_fingerprints(self, text: str, named_now: bool = False) -> list[str]:
        """The fingerprints whose reason pattern holds, for every word of `text`, a word starting with it."""
        tokens = search_tokens(text)
        if not tokens:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for token in tokens:
                pipe.zrangebylex(self.keys.dlq_token_names, f"[{token}", f"[{token}\xff", 0, MAX_PREFIX_MATCHES)
            pipe.exists(self.keys.dlq_token_names)
            *expansions, named = await pipe.execute()
        if not named and not named_now and self.store is not None and await self.store.index_names():
            # Entries captured before the lexical sets existed: their words are named now.
            return await self._error_fingerprints(text, named_now=True)
        async with self.redis.pipeline(transaction=False) as pipe:
            for token, words in zip(tokens, expansions, strict=True):
                pipe.sunion([self.keys.dlq_token(word) for word in {token, *words}])
            per_token: list[set[str]] = await pipe.execute()
        return sorted(set.intersection(*per_token))

    async def _text_sources(self, text: str) -> tuple[list[str], list[str]]:
        """Indexes matching free text: a payload value of any searchable field, the leading word of one, error words
        (by prefix); and the entries of a job id."""
        text = text.strip()
        value = normalise_value(text)
        value_keys = [self.keys.dlq_index("f", f"{name}:{value}") for name in self.searchable]
        if " " not in value:
            value_keys.append(self.keys.dlq_index("w", value))
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in value_keys:
                pipe.exists(key)
            present = await pipe.execute()
        sources = [key for key, found in zip(value_keys, present, strict=True) if found]
        sources.extend(self.keys.dlq_index("fp", fp) for fp in await self._error_fingerprints(text))
        return sources, await self._job_entries(text)

    async def _job_entries(self, job_id: str) -> list[str]:
        found = await self.redis.hget(self.keys.dlq_job_ids, job_id)
        return str(found).split() if found else []

    async def _walk(
        self, driver: str, plan: _Plan, flt: DlqFilter, cursor: Cursor | None, wanted: int, budget: int
    ) -> _Walk:
        high, low = self._range(flt)
        flat: list[str] = await self.scripts.page(
            keys=[driver, *plan.checks, *plan.excludes, *plan.anys],
            args=[
                len(plan.checks),
                len(plan.excludes),
                high,
                low,
                cursor.score if cursor else "",
                cursor.entry_id if cursor else "",
                wanted,
                budget,
                len(plan.anys),
            ],
        )
        joined, last_id, last_score, exhausted = flat
        matches = []
        for pair in str(joined).split():
            score, _, entry_id = pair.partition(":")
            matches.append((int(float(score)), entry_id))
        frontier = (int(float(last_score)), str(last_id)) if last_id else None
        return _Walk(matches, frontier, bool(int(exhausted)))

    async def _static(self, ids: Sequence[str], plan: _Plan, flt: DlqFilter, cursor: Cursor | None) -> _Walk:
        async with self.redis.pipeline(transaction=False) as pipe:
            for entry_id in ids:
                pipe.zscore(self.keys.dlq_by_time, entry_id)
                for key in (*plan.checks, *plan.excludes, *plan.anys):
                    pipe.zscore(key, entry_id)
            answers = await pipe.execute()
        width = 1 + len(plan.checks) + len(plan.excludes) + len(plan.anys)
        found = []
        for index, entry_id in enumerate(ids):
            score, *rest = answers[index * width : (index + 1) * width]
            checks, rest = rest[: len(plan.checks)], rest[len(plan.checks) :]
            excludes, anys = rest[: len(plan.excludes)], rest[len(plan.excludes) :]
            if score is None or any(c is None for c in checks) or any(x is not None for x in excludes):
                continue
            if plan.anys and all(a is None for a in anys):
                continue
            item = (int(score), entry_id)
            if flt.since_ms is not None and item[0] < flt.since_ms:
                continue
            if flt.until_ms is not None and item[0] >= flt.until_ms:
                continue
            if cursor is not None and item >= (cursor.score, cursor.entry_id):
                continue
            found.append(item)
        return _Walk(sorted(found, reverse=True), None, True)

    async def page_ids(
        self, flt: DlqFilter, cursor: Cursor | None, limit: int, budget: int = WALK_BUDGET
    ) -> tuple[list[tuple[int, str]], Cursor | None, _Plan]:
        """Up to `limit` (failed-at, id) pairs after `cursor`, newest first, and the cursor to go on (None: done)."""
        flt = self.validate(flt)
        return await self._page_ids(flt, cursor, limit, budget)

    async def _page_ids(
        self, flt: DlqFilter, cursor: Cursor | None, limit: int, budget: int = WALK_BUDGET
    ) -> tuple[list[tuple[int, str]], Cursor | None, _Plan]:
        plan = await self._plan(flt)
        if plan.empty:
            return [], None, plan
        walks = [await self._walk(driver, plan, flt, cursor, limit, budget) for driver in plan.drivers]
        if plan.static_ids:
            walks.append(await self._static(plan.static_ids, plan, flt, cursor))
        merged = sorted({item for walk in walks for item in walk.matches}, reverse=True)
        # A walk that stopped early (page full or budget spent) vouches only for entries down to its frontier.
        frontiers = [walk.frontier for walk in walks if not walk.exhausted and walk.frontier is not None]
        bound = max(frontiers) if frontiers else None
        if bound is not None:
            merged = [item for item in merged if item >= bound]
        items = merged[:limit]
        if len(items) == limit:
            next_cursor: Cursor | None = Cursor(*items[-1])
        elif bound is not None:
            next_cursor = Cursor(*bound)
        else:
            next_cursor = None
        return items, next_cursor, plan

    async def page(self, flt: DlqFilter, cursor: Cursor | None = None, limit: int = 50) -> Page:
        """One page of entry summaries matching `flt`, newest first."""
        limit = max(1, min(limit, MAX_PAGE))
        flt = self.validate(flt)
        items, next_cursor, plan = await self._page_ids(flt, cursor, limit)
        rows = await self.rows([entry_id for _score, entry_id in items], "summary")
        total = await self._total(plan, flt)
        summaries = [EntrySummary.from_row(row) for row in json.loads(rows)]
        return Page(summaries, str(next_cursor) if next_cursor else None, total)

    async def _total(self, plan: _Plan, flt: DlqFilter) -> int | None:
        """How many entries match, when it costs at most COUNT_BUDGET examined entries; else None."""
        if plan.empty:
            return 0
        if plan.static_ids is not None and not plan.drivers:
            return len((await self._static(plan.static_ids, plan, flt, None)).matches)
        if plan.static_ids or not (len(plan.drivers) == 1 or plan.disjoint):
            return None
        high, low = self._range(flt)
        total, budget = 0, COUNT_BUDGET
        for driver in plan.drivers:
            found, examined = await self.scripts.count(
                keys=[driver, *plan.checks, *plan.excludes, *plan.anys],
                args=[len(plan.checks), len(plan.excludes), len(plan.anys), low, high, budget],
            )
            if int(found) < 0:
                return None
            total += int(found)
            budget -= int(examined)
        return total

    async def rows(self, entry_ids: Sequence[str], shape: str, reason_max: int = 500) -> str:
        """Encoded rows of entries, missing ones skipped (see lua/rows.lua): JSON Lines text for `jsonl`, else a
        JSON array of rows (`csv`: arrays, `summary`: objects)."""
        if not entry_ids:
            return "" if shape == "jsonl" else "[]"
        found: str = await self.scripts.rows(
            keys=[self.keys.dlq_sequence], args=[self.layout, shape, reason_max, " ".join(entry_ids)]
        )
        return found

    async def walk_ids(
        self, flt: DlqFilter, batch: int = 1_000, after: Cursor | None = None
    ) -> AsyncIterator[list[tuple[int, str]]]:
        """Every matching (failed-at, id) after `after`, newest first, a batch at a time; entries stay put."""
        cursor: Cursor | None = after
        while True:
            items, cursor, _plan = await self.page_ids(flt, cursor, batch)
            if items:
                yield items
            if cursor is None:
                return

    async def count(self, flt: DlqFilter) -> int:
        """How many entries match (exact; walks the smallest index when several conditions combine)."""
        page = await self.page(flt, None, 1)
        if page.total is not None:
            return page.total
        total = 0
        async for batch in self.walk_ids(flt):
            total += len(batch)
        return total
