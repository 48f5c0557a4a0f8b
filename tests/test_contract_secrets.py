"""Secret fields of a contract: found through nested models, lists and dicts; masked; restored from an edit."""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import BaseModel, Field

from corral import JobContract, Secret
from corral.contracts.secrets import MASK, mask, redact, restore, secret_paths, secret_values, still_masked


class Credential(BaseModel):
    token: Annotated[str, Secret()]
    label: str


class Deploy(JobContract):
    apiKey: Annotated[str, Secret()] = Field(alias="api-key")
    primary: Credential | None = None
    mirrors: list[Credential] = Field(default_factory=list)
    named: dict[str, Credential] = Field(default_factory=dict)
    note: str = ""


PAYLOAD = {
    "api-key": "k-1",
    "primary": {"token": "t-0", "label": "main"},
    "mirrors": [{"token": "t-1", "label": "eu"}, {"token": "t-2", "label": "us"}],
    "named": {"backup": {"token": "t-3", "label": "cold"}},
    "note": "hello",
}


def test_secret_paths_follow_aliases_nested_models_lists_and_dicts() -> None:
    # When the secret paths of a contract with nested credentials are read
    paths = secret_paths(Deploy)
    # Then every secret is found, by the keys a payload uses
    assert set(paths) == {("api-key",), ("primary", "token"), ("mirrors", "*", "token"), ("named", "*", "token")}


def test_mask_keeps_keys_and_other_values_and_leaves_the_input_alone() -> None:
    # When a payload is masked
    masked = mask(PAYLOAD, secret_paths(Deploy))
    # Then every secret value is the mask, the keys and other values stay, and the original is unchanged
    assert masked == {
        "api-key": MASK,
        "primary": {"token": MASK, "label": "main"},
        "mirrors": [{"token": MASK, "label": "eu"}, {"token": MASK, "label": "us"}],
        "named": {"backup": {"token": MASK, "label": "cold"}},
        "note": "hello",
    }
    assert PAYLOAD["mirrors"][0]["token"] == "t-1"
    assert mask({"primary": None, "note": "x"}, secret_paths(Deploy)) == {"primary": None, "note": "x"}


def test_restore_gives_masked_secrets_their_values_and_keeps_new_ones() -> None:
    # Given an edit made from the masked view: one mirror's token typed anew, one mirror added, the note changed
    paths = secret_paths(Deploy)
    edited = mask(PAYLOAD, paths)
    edited["mirrors"][1]["token"] = "t-new"
    edited["mirrors"].append({"token": MASK, "label": "ap"})
    edited["note"] = "changed"
    # When the edit is restored against the stored payload
    restored = restore(edited, PAYLOAD, paths)
    # Then left-alone secrets are real again, the typed one is kept, and the added item's mask has nothing to keep
    assert restored["api-key"] == "k-1" and restored["primary"]["token"] == "t-0"
    assert [m["token"] for m in restored["mirrors"]] == ["t-1", "t-new", MASK]
    assert restored["named"]["backup"]["token"] == "t-3" and restored["note"] == "changed"
    assert still_masked(restored, paths) == ["mirrors.2.token"]


def test_secret_values_are_found_at_every_path_and_redacted_wherever_text_quotes_them() -> None:
    # Given a payload's secret values, one of them with characters JSON escapes
    payload = {**PAYLOAD, "api-key": 'k-"quoted"-é'}
    found = secret_values(payload, secret_paths(Deploy))
    # When a reason quoting the payload as JSON, a log line and a result document are redacted
    reason = f"hook refused {json.dumps(payload)} (token t-2)"
    result = {"echo": {"t-3": ["t-1 and t-0"]}, "count": 3, "note": "hello"}
    # Then every secret, plain or JSON-escaped, is the mask; other text and non-text values are kept
    assert set(found) >= {"t-0", "t-1", "t-2", "t-3", 'k-"quoted"-é', 'k-\\"quoted\\"-\\u00e9'}
    redacted = redact(reason, found)
    assert all(secret not in redacted for secret in ("t-0", "t-1", "t-2", "t-3", "quoted"))
    assert redacted.count(MASK) == 6 and '"note": "hello"' in redacted
    assert redact(result, found) == {"echo": {MASK: [f"{MASK} and {MASK}"]}, "count": 3, "note": "hello"}
    # And a payload without secret values redacts nothing
    assert secret_values({"note": "hello"}, secret_paths(Deploy)) == ()
    assert redact("t-1", ()) == "t-1"
