"""Searchable payload fields: the catalogue's short scalar fields (ids, emails, names, choices) and lists of them."""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import EmailStr

from corral.contracts.base import JobContract, Registry
from corral.contracts.secrets import Secret

MAX_VALUE_LENGTH = 128
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def normalise_value(value: str) -> str:
    """A field value as the index holds it: lower-cased like the capture script does (ASCII letters only)."""
    return value.translate(_ASCII_LOWER)


def _without_none(annotation: Any) -> Any:
    if get_origin(annotation) in (typing.Union, types.UnionType):
        rest = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return annotation


def _short_scalar(annotation: Any, metadata: tuple[Any, ...] = ()) -> bool:
    annotation = _without_none(annotation)
    if get_origin(annotation) is Annotated:
        base, *more = get_args(annotation)
        return _short_scalar(base, (*metadata, *more))
    if any(isinstance(item, Secret) for item in metadata):
        return False
    if get_origin(annotation) is Literal:
        return all(isinstance(choice, str) for choice in get_args(annotation))
    if annotation is EmailStr:
        return True
    if annotation is str:
        limits = [getattr(item, "max_length", None) for item in metadata]
        return any(limit is not None and limit <= MAX_VALUE_LENGTH for limit in limits)
    return False


def contract_fields(contract: type[JobContract]) -> list[str]:
    """The top-level fields of a contract that are short strings, or lists of them, by their payload names; never a
    secret one (an index of its values would let anyone find an entry by guessing the secret)."""
    found = []
    for name, info in contract.model_fields.items():
        annotation = _without_none(info.annotation)
        metadata = tuple(info.metadata)
        if any(isinstance(item, Secret) for item in metadata):
            continue
        if get_origin(annotation) is list:
            (item,) = get_args(annotation) or (Any,)
            searchable = _short_scalar(item)
        else:
            searchable = _short_scalar(annotation, metadata)
        if searchable:
            found.append(info.alias or name)
    return found


def searchable_fields(registry: Registry) -> Mapping[str, list[str]]:
    """Job name -> its searchable payload fields, for every job type of the registry."""
    return {name: contract_fields(job.contract) for name, job in registry.jobs.items()}
