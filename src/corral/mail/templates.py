"""Mail templates: Jinja2 in a sandbox, built-in ones plus `<id>.txt` / `<id>.html` files in a directory."""

from __future__ import annotations

import re
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

from corral.errors import UnrecoverableJobError
from corral.mail.message import MailContent

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

TEMPLATE_DIRECTORY_NAME = "mail-templates"


class TemplateRenderError(UnrecoverableJobError):
    """Raised when a template is unknown or fails to render (a missing variable, a syntax or sandbox error)."""


class TemplateRegistry:
    """Renders mail templates by id; a template is a text part `<id>.txt`, an HTML part `<id>.html`, or both.

    A template in `directory` (either part) replaces the built-in template of the same id as a whole.
    Rendering runs in Jinja2's immutable sandbox with strict undefined variables; the HTML part is
    auto-escaped, the text part is not.
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
        raise TemplateRenderError(f"unknown mail template {template_id!r}")

    def render(self, template_id: str, subject: str, variables: Mapping[str, Any]) -> MailContent:
        """The subject and bodies of template `template_id` rendered with `variables`; the subject is a template too."""
        try:
            rendered = {extension: part.render(variables) for extension, part in self._parts(template_id).items()}
            rendered_subject = self._env.from_string(subject).render(variables)
        except TemplateError as exc:
            raise TemplateRenderError(f"mail template {template_id!r}: {exc}") from None
        # A rendered variable must not break the subject header over several lines.
        single_line = re.sub(r"\s+", " ", rendered_subject).strip()
        if not single_line:
            raise TemplateRenderError(f"mail template {template_id!r}: the subject renders empty")
        return MailContent(subject=single_line, text=rendered.get("txt"), html=rendered.get("html"))


def template_directory(data_dir: Path) -> Path:
    """Where operators put their own templates: `<data_dir>/mail-templates`."""
    return data_dir / TEMPLATE_DIRECTORY_NAME
