"""Templated step params: `{{steps.<id>.result.<path>}}` and `{{input.<path>}}`, substituted before a step runs.

A string that is exactly one template becomes the referenced value with its JSON type; a template inside a
longer string is replaced by the value's text (JSON for anything but a string). Paths are dotted keys, and
numbers index lists. Nothing is evaluated: a template is a lookup.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

TEMPLATE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


class TemplateError(ValueError):
    """Raised when a template is malformed or refers to something that is not there."""


@dataclass(frozen=True)
class Reference:
    """What one template refers to: a step's result (step_id set) or the run's input, and a path inside it."""

    step_id: str | None
    path: tuple[str, ...]

    def __str__(self) -> str:
        head = "input" if self.step_id is None else f"steps.{self.step_id}.result"
        return ".".join((head, *self.path))


def parse(expression: str, step_ids: Collection[str]) -> Reference:
    """The reference named by one template's expression; step ids may themselves contain dots."""
    if expression == "input" or expression.startswith("input."):
        return Reference(None, _path(expression.removeprefix("input").removeprefix(".")))
    if expression.startswith("steps."):
        rest = expression.removeprefix("steps.")
        for step_id in sorted(step_ids, key=len, reverse=True):
            tail = rest.removeprefix(step_id)
            if tail != rest and (tail == ".result" or tail.startswith(".result.")):
                return Reference(step_id, _path(tail.removeprefix(".result").removeprefix(".")))
        raise TemplateError(f"{{{{{expression}}}}}: expected steps.<step id>.result[.<path>] naming a known step")
    raise TemplateError(f"{{{{{expression}}}}}: expected input[.<path>] or steps.<step id>.result[.<path>]")


def _path(dotted: str) -> tuple[str, ...]:
    parts = tuple(dotted.split(".")) if dotted else ()
    if any(not part for part in parts):
        raise TemplateError(f"empty segment in path {dotted!r}")
    return parts


def references(value: Any, step_ids: Collection[str]) -> list[Reference]:
    """Every template reference inside a JSON value (dict keys are not templated)."""
    if isinstance(value, str):
        return [parse(match.group(1), step_ids) for match in TEMPLATE.finditer(value)]
    if isinstance(value, Mapping):
        return [ref for item in value.values() for ref in references(item, step_ids)]
    if isinstance(value, list):
        return [ref for item in value for ref in references(item, step_ids)]
    return []


def render(value: Any, results: Mapping[str, Any], run_input: Mapping[str, Any]) -> Any:
    """`value` with every template replaced by what it refers to in `results` (by step id) or `run_input`."""
    step_ids = list(results)
    if isinstance(value, str):
        whole = TEMPLATE.fullmatch(value)
        if whole:
            return _lookup(parse(whole.group(1), step_ids), results, run_input)
        return TEMPLATE.sub(lambda match: _text(_lookup(parse(match.group(1), step_ids), results, run_input)), value)
    if isinstance(value, Mapping):
        return {key: render(item, results, run_input) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, results, run_input) for item in value]
    return value


def _lookup(reference: Reference, results: Mapping[str, Any], run_input: Mapping[str, Any]) -> Any:
    if reference.step_id is None:
        current: Any = run_input
    elif reference.step_id in results:
        current = results[reference.step_id]
    else:
        raise TemplateError(f"{{{{{reference}}}}}: step {reference.step_id!r} has no result")
    for depth, part in enumerate(reference.path):
        where = ".".join(reference.path[:depth]) or "the top level"
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            raise TemplateError(f"{{{{{reference}}}}}: nothing at {part!r} under {where}")
    return current


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
