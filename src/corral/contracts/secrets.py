"""Secret payload fields: `Annotated[str, Secret()]` in a contract masks the value wherever a payload is shown.

A path is a tuple of keys; `*` stands for every item of a list (or every value of a dict of models), so a secret
inside a nested model or a list of models is found as well. Job names the registry does not know have no secrets.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Union

from pydantic import BaseModel

MASK = "••••"
EACH = "*"
Path = tuple[str, ...]


@dataclass(frozen=True)
class Secret:
    """Marks a contract field as secret: `token: Annotated[str, Secret()]`; its value is shown as `MASK`."""


def _models_in(annotation: Any) -> list[tuple[Path, type[BaseModel]]]:
    """The models an annotation holds, each with the path steps (`*` for list items / dict values) to reach it."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [((), annotation)]
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _models_in(args[0])
    if origin in (Union, types.UnionType):
        return [found for arg in args for found in _models_in(arg)]
    if origin in (list, tuple, set, frozenset) or (origin is not None and origin is typing.Sequence):
        return [((EACH, *path), model) for arg in args if arg is not Ellipsis for path, model in _models_in(arg)]
    if origin is dict and len(args) == 2:
        return [((EACH, *path), model) for path, model in _models_in(args[1])]
    return []


@cache
def secret_paths(model: type[BaseModel]) -> tuple[Path, ...]:
    """Every secret field of `model` and of the models nested in it, by the keys a payload uses (aliases)."""
    paths: list[Path] = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        if any(isinstance(item, Secret) for item in info.metadata):
            paths.append((key,))
            continue
        for steps, nested in _models_in(info.annotation):
            if nested is not model:
                paths.extend((key, *steps, *inner) for inner in secret_paths(nested))
    return tuple(paths)


def _masked(value: Any, path: Path) -> Any:
    head, rest = path[0], path[1:]
    if head == EACH:
        if isinstance(value, list):
            return [_masked(item, rest) for item in value]
        if isinstance(value, dict):
            return {key: _masked(item, rest) for key, item in value.items()}
        return value
    if not isinstance(value, dict) or head not in value:
        return value
    inner = value[head]
    return {**value, head: (MASK if inner is not None else None) if not rest else _masked(inner, rest)}


def mask(data: Any, paths: tuple[Path, ...]) -> Any:
    """A copy of `data` with the value at every secret path replaced by `MASK` (keys kept, `None` left as is)."""
    for path in paths:
        data = _masked(data, path)
    return data


def _restored(edited: Any, original: Any, path: Path) -> Any:
    head, rest = path[0], path[1:]
    if head == EACH:
        if isinstance(edited, list) and isinstance(original, list):
            # Items are matched by position: an item the operator kept at its place keeps its secret.
            return [
                _restored(item, original[index], rest) if index < len(original) else item
                for index, item in enumerate(edited)
            ]
        if isinstance(edited, dict) and isinstance(original, dict):
            return {key: _restored(item, original.get(key), rest) for key, item in edited.items()}
        return edited
    if not isinstance(edited, dict) or head not in edited:
        return edited
    before = original.get(head) if isinstance(original, dict) else None
    if not rest:
        if edited[head] == MASK and before is not None:
            return {**edited, head: before}
        return edited
    return {**edited, head: _restored(edited[head], before, rest)}


def restore(edited: Any, original: Any, paths: tuple[Path, ...]) -> Any:
    """`edited` with every secret still showing `MASK` given back its real value from `original`."""
    for path in paths:
        edited = _restored(edited, original, path)
    return edited


def still_masked(data: Any, paths: tuple[Path, ...]) -> list[str]:
    """The dotted paths of secrets in `data` whose value is the mask itself (one that had no real value to keep)."""
    found: list[str] = []

    def walk(value: Any, path: Path, trail: list[str]) -> None:
        if not path:
            if value == MASK:
                found.append(".".join(trail))
            return
        head, rest = path[0], path[1:]
        if head == EACH:
            items = enumerate(value) if isinstance(value, list) else value.items() if isinstance(value, dict) else ()
            for key, item in items:
                walk(item, rest, [*trail, str(key)])
        elif isinstance(value, dict) and head in value:
            walk(value[head], rest, [*trail, head])

    for path in paths:
        walk(data, path, [])
    return found


def paths_of(contracts: Mapping[str, type[BaseModel]], name: str) -> tuple[Path, ...]:
    """The secret paths of job `name`'s contract; none for a job name that is not registered."""
    contract = contracts.get(name)
    return secret_paths(contract) if contract is not None else ()


def dotted(paths: tuple[Path, ...]) -> list[str]:
    """Paths as text, for the data-access log and API answers: `steps.*.token`."""
    return [".".join(path) for path in paths]


def _texts_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list):
        return [text for item in value for text in _texts_in(item)]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _texts_in(item)]
    return []


def secret_values(data: Any, paths: tuple[Path, ...]) -> tuple[str, ...]:
    """The real text at every secret path of `data` (the strings inside a secret list or object too), each also as
    JSON escapes it (a reason quoting the payload as JSON); longest first, so a secret inside another goes with it."""
    found: set[str] = set()

    def walk(value: Any, path: Path) -> None:
        if not path:
            for text in _texts_in(value):
                found.update({text, json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1]})
            return
        head, rest = path[0], path[1:]
        if head == EACH:
            items = value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else []
            for item in items:
                walk(item, rest)
        elif isinstance(value, dict) and head in value:
            walk(value[head], rest)

    for path in paths:
        walk(data, path)
    return tuple(sorted(found, key=len, reverse=True))


def redact(value: Any, secrets: tuple[str, ...]) -> Any:
    """`value` (text, or a JSON-like document) with every occurrence of the `secrets` strings in its text replaced
    by `MASK`: for failure reasons, stack traces, log lines, progress and results that quote a payload."""
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, MASK)
        return value
    if isinstance(value, list):
        return [redact(item, secrets) for item in value]
    if isinstance(value, tuple):
        return tuple(redact(item, secrets) for item in value)
    if isinstance(value, dict):
        return {redact(key, secrets): redact(item, secrets) for key, item in value.items()}
    return value
