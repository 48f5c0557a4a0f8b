"""The built-in step actions' params and the pure ones: `delay` waits, `condition` compares; no eval anywhere."""

from __future__ import annotations

import asyncio
import math
import operator
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StringConstraints, field_validator

from corral.errors import UnrecoverableJobError
from corral_reference.contracts import HttpUrlText

MAX_DELAY_MS = 280_000
"""Below the workflows queue's 300 s job timeout, so a delay step never times out."""


class ActionParams(BaseModel):
    """Base of built-in action params: unknown fields refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DelayParams(ActionParams):
    """`delay`: wait `ms` milliseconds."""

    ms: int = Field(ge=0, le=MAX_DELAY_MS, strict=True)


HeaderName = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")]
HeaderValue = Annotated[str, StringConstraints(max_length=8_192, pattern=r"^[^\r\n\x00]*$")]


class HttpParams(ActionParams):
    """`http`: one request; the step fails unless the status is expected (any 2xx by default)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    url: HttpUrlText
    headers: dict[HeaderName, HeaderValue] = Field(default_factory=dict, max_length=50)
    json_body: JsonValue = Field(default=None, alias="json")
    expectedStatus: list[Annotated[int, Field(ge=100, le=599)]] | None = Field(default=None, min_length=1)

    @field_validator("expectedStatus", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, int) else value

    def expects(self, status: int) -> bool:
        """Whether `status` counts as success."""
        return status in self.expectedStatus if self.expectedStatus else 200 <= status < 300


Operator = Literal["==", "!=", ">", ">=", "<", "<=", "in", "not in", "contains", "not contains"]


class ConditionParams(ActionParams):
    """`condition`: `left op right`; when false, dependants are skipped (or the run fails with onFalse=fail)."""

    left: JsonValue = None
    op: Operator
    right: JsonValue = None
    onFalse: Literal["skip", "fail"] = "skip"


BUILTIN_PARAMS: dict[str, type[ActionParams]] = {
    "delay": DelayParams,
    "http": HttpParams,
    "condition": ConditionParams,
}
"""Built-in action name -> its params model; these actions run as `workflow.step` jobs."""

_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


async def run_delay(params: DelayParams) -> dict[str, Any]:
    """Wait, then report how long."""
    await asyncio.sleep(params.ms / 1000)
    return {"delayedMs": params.ms}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def compare(left: Any, op: str, right: Any) -> bool:
    """`left op right` over JSON values; raises ValueError when the operands do not suit the operator."""
    if op == "==":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    if op in _ORDER:
        if (_is_number(left) and _is_number(right)) or (isinstance(left, str) and isinstance(right, str)):
            return _ORDER[op](left, right)
        raise ValueError(f"cannot order {type(left).__name__} {left!r} and {type(right).__name__} {right!r}")
    container, item = (right, left) if op in ("in", "not in") else (left, right)
    if isinstance(container, str) and isinstance(item, str):
        found = item in container
    elif isinstance(container, list):
        found = item in container
    elif isinstance(container, dict) and isinstance(item, str):
        found = item in container
    else:
        raise ValueError(f"{op!r} needs a list, an object or a string to look in, got {type(container).__name__}")
    return found if op in ("in", "contains") else not found


def run_condition(params: ConditionParams) -> dict[str, Any]:
    """Evaluate the comparison; a false one with onFalse=fail fails the step unrecoverably."""
    try:
        passed = compare(params.left, params.op, params.right)
    except ValueError as exc:
        raise UnrecoverableJobError(f"condition {params.op!r}: {exc}") from None
    if not passed and params.onFalse == "fail":
        raise UnrecoverableJobError(f"condition is false: {params.left!r} {params.op} {params.right!r}")
    return {"passed": passed, "left": params.left, "op": params.op, "right": params.right}
