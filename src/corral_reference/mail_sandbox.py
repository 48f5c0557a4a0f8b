"""Mail templates in Jinja2's immutable sandbox, and the process that renders one (`-m corral_reference.mail_sandbox`).

This module imports nothing of Corral's but the standard library and Jinja2, so the render process starts in a
fraction of the worker's start-up time. The worker never renders in its own process: a template (a subject is
one) can loop for hours or allocate gigabytes in a single expression, and a thread cannot be stopped, while a
process can be killed (`corral_reference.mail.templates.BoundedRenderer`).

Protocol: the process prints `{"event": "ready"}` once Jinja2 is loaded, reads one JSON request from stdin
(`directory`, `template`, `subject`, `variables`), and prints one JSON line: `{"ok": true, "subject", "text",
"html"}` or `{"ok": false, "kind", "message"}`.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import (
    BaseLoader,
    DictLoader,
    FileSystemLoader,
    PrefixLoader,
    StrictUndefined,
    Template,
    TemplateNotFound,
    select_autoescape,
)
from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

BUILTIN_TEMPLATES: dict[str, str] = {
    "otp.txt": (
        "Your one-time code{% if purpose %} for {{ purpose }}{% endif %} is:\n\n"
        "    {{ code }}\n\n"
        "It expires in {{ minutes }} minute{{ 's' if minutes != 1 }}. "
        "If you did not ask for it, ignore this message.\n"
    ),
    "otp.html": (
        "<p>Your one-time code{% if purpose %} for {{ purpose }}{% endif %} is:</p>\n"
        '<p style="font-size:24px;letter-spacing:4px"><strong>{{ code }}</strong></p>\n'
        "<p>It expires in {{ minutes }} minute{{ 's' if minutes != 1 }}. "
        "If you did not ask for it, ignore this message.</p>\n"
    ),
    "welcome.txt": "Hello {{ name }},\n\nwelcome to {{ product | default('Corral') }}.\n",
    "welcome.html": "<p>Hello {{ name }},</p>\n<p>welcome to {{ product | default('Corral') }}.</p>\n",
    "notification.txt": (
        "{{ heading }}\n\n{{ message }}\n"
        "{% if actionUrl %}\n{{ actionLabel | default('Open') }}: {{ actionUrl }}\n{% endif %}"
    ),
    "notification.html": (
        "<h1>{{ heading }}</h1>\n<p>{{ message }}</p>\n"
        '{% if actionUrl %}<p><a href="{{ actionUrl }}">{{ actionLabel | default("Open") }}</a></p>{% endif %}\n'
    ),
}
"""Templates available with no setup: `otp` (used by email.otp), `welcome` and `notification`."""


class RenderProblem(Exception):
    """Raised when a template is unknown or fails to render; the message says why."""


class SandboxTemplates:
    """Renders templates by id: a text part `<id>.txt`, an HTML part `<id>.html`, or both.

    A template in `directory` (either part) replaces the built-in template of the same id as a whole. Rendering
    runs in the immutable sandbox with strict undefined variables; the HTML part is auto-escaped, the text part is
    not; the subject is a template too, collapsed to one line.
    """

    def __init__(self, directory: Path | None = None, builtins: Mapping[str, str] | None = None) -> None:
        loaders: dict[str, BaseLoader] = {}
        if directory is not None:
            loaders["operator"] = FileSystemLoader(str(directory))
        loaders["builtin"] = DictLoader(dict(BUILTIN_TEMPLATES if builtins is None else builtins))
        self._sources = list(loaders)
        self._env = ImmutableSandboxedEnvironment(
            loader=PrefixLoader(loaders, delimiter="/"),
            undefined=StrictUndefined,
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
            keep_trailing_newline=True,
        )

    def _parts(self, template_id: str) -> dict[str, Template]:
        """The parts of a template from the first source that has any: the operator's directory, then built-ins."""
        for source in self._sources:
            parts: dict[str, Template] = {}
            for extension in ("txt", "html"):
                try:
                    parts[extension] = self._env.get_template(f"{source}/{template_id}.{extension}")
                except TemplateNotFound:
                    continue
            if parts:
                return parts
        raise RenderProblem(f"unknown mail template {template_id!r}")

    def render(self, template_id: str, subject: str, variables: Mapping[str, Any]) -> dict[str, str | None]:
        """`{"subject", "text", "html"}` of template `template_id` rendered with `variables`."""
        try:
            rendered = {extension: part.render(variables) for extension, part in self._parts(template_id).items()}
            rendered_subject = self._env.from_string(subject).render(variables)
        except TemplateError as exc:
            raise RenderProblem(f"mail template {template_id!r}: {exc}") from None
        # A rendered variable must not break the subject header over several lines.
        single_line = re.sub(r"\s+", " ", rendered_subject).strip()
        if not single_line:
            raise RenderProblem(f"mail template {template_id!r}: the subject renders empty")
        return {"subject": single_line, "text": rendered.get("txt"), "html": rendered.get("html")}


def _answer(document: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(document) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> None:
    """Render one request from stdin within the memory limit; answer on stdout."""
    parser = argparse.ArgumentParser(prog="python -m corral_reference.mail_sandbox")
    parser.add_argument("--memory-mb", type=int, required=True)
    options = parser.parse_args(argv)
    limit = options.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    _answer({"event": "ready"})
    label = "mail template"
    try:
        request = json.loads(sys.stdin.read())
        label = f"mail template {str(request['template'])!r}"
        directory = Path(request["directory"]) if request.get("directory") else None
        templates = SandboxTemplates(directory)
        rendered = templates.render(str(request["template"]), str(request["subject"]), dict(request["variables"]))
        _answer({"ok": True, **rendered})
    except RenderProblem as exc:
        _answer({"ok": False, "kind": "template", "message": str(exc)})
    except MemoryError:
        _answer({"ok": False, "kind": "memory", "message": f"{label}: rendering ran out of memory"})
    except RecursionError:
        _answer({"ok": False, "kind": "template", "message": f"{label}: rendering recursed too deeply"})
    except Exception as exc:  # an expression that raises (1/0, a bad operand) raises again on every attempt
        _answer({"ok": False, "kind": "template", "message": f"{label}: {type(exc).__name__}: {exc}"})


if __name__ == "__main__":
    main()
