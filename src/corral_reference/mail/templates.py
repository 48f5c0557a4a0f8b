"""Mail templates: rendered in Jinja2's sandbox, in a process of their own that is killed past a time limit."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from corral.errors import UnrecoverableJobError
from corral_reference.mail.message import MailContent
from corral_reference.mail_sandbox import BUILTIN_TEMPLATES, RenderProblem, SandboxTemplates

logger = logging.getLogger(__name__)

__all__ = [
    "BUILTIN_TEMPLATES",
    "BoundedRenderer",
    "TemplateRegistry",
    "TemplateRenderError",
    "template_directory",
]

TEMPLATE_DIRECTORY_NAME = "mail-templates"
RENDER_MEMORY_MB = 256
"""Address-space limit of the render process (the interpreter and Jinja2 take about 30 MB of it)."""
STARTUP_SECONDS = 30.0
"""Time the render process gets to start and load Jinja2, before the rendering's own time limit starts."""
MAX_RENDERED_BYTES = 16 * 1_048_576


class TemplateRenderError(UnrecoverableJobError):
    """Raised when a template is unknown or fails to render (a missing variable, a syntax or sandbox error, or
    rendering past its time or memory limit)."""


class TemplateRegistry:
    """Renders mail templates by id in this process (see `corral_reference.mail_sandbox.SandboxTemplates`).

    For trusted callers and tests only: the worker renders with `BoundedRenderer`, which can stop a template.
    """

    def __init__(self, directory: Path | None = None, builtins: Mapping[str, str] | None = None) -> None:
        self._templates = SandboxTemplates(directory, builtins)

    def render(self, template_id: str, subject: str, variables: Mapping[str, Any]) -> MailContent:
        """The subject and bodies of template `template_id` rendered with `variables`; the subject is a template too."""
        try:
            rendered = self._templates.render(template_id, subject, variables)
        except RenderProblem as exc:
            raise TemplateRenderError(str(exc)) from None
        return MailContent(subject=str(rendered["subject"]), text=rendered["text"], html=rendered["html"])


class BoundedRenderer:
    """Renders each mail in a fresh `python -m corral_reference.mail_sandbox` process with a time and a memory limit.

    Past `timeout_seconds` (counted once the process is ready) the process is killed and the job fails
    unrecoverably; a job timeout or shutdown that cancels the render kills it too, so no rendering outlives the job
    that asked for it.
    """

    def __init__(
        self,
        directory: Path | None,
        timeout_seconds: float,
        memory_mb: int = RENDER_MEMORY_MB,
        python: str = sys.executable,
    ) -> None:
        self.directory = directory
        self.timeout_seconds = timeout_seconds
        self.memory_mb = memory_mb
        self.python = python

    async def render(self, template_id: str, subject: str, variables: Mapping[str, Any]) -> MailContent:
        """The subject and bodies of template `template_id` rendered with `variables`; raises TemplateRenderError."""
        label = f"mail template {template_id!r}"
        request = {
            "directory": str(self.directory) if self.directory is not None else None,
            "template": template_id,
            "subject": subject,
            "variables": dict(variables),
        }
        process = await asyncio.create_subprocess_exec(
            self.python,
            "-m",
            "corral_reference.mail_sandbox",
            "--memory-mb",
            str(self.memory_mb),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,  # its own process group, killed as a whole
            env={name: value for name, value in os.environ.items() if not name.startswith("CORRAL_")},
            limit=MAX_RENDERED_BYTES,
        )
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(json.dumps(request).encode())
            await process.stdin.drain()
            process.stdin.close()
            if (await _read_line(process.stdout, STARTUP_SECONDS, label)).get("event") != "ready":
                raise TemplateRenderError(f"{label}: the render process did not start")
            try:
                answer = await _read_line(process.stdout, self.timeout_seconds, label)
            except TimeoutError:
                raise TemplateRenderError(
                    f"{label}: rendering took longer than {self.timeout_seconds:g} s and was stopped"
                ) from None
        except TimeoutError:
            raise TemplateRenderError(f"{label}: the render process did not start in {STARTUP_SECONDS:g} s") from None
        finally:
            _kill_group(process)
            await process.wait()
        if answer.get("ok") is True:
            return MailContent(subject=str(answer["subject"]), text=answer.get("text"), html=answer.get("html"))
        if answer.get("kind") == "memory":
            raise TemplateRenderError(f"{label}: rendering needed more than {self.memory_mb} MB and was stopped")
        raise TemplateRenderError(str(answer.get("message") or f"{label}: rendering failed"))


async def _read_line(stream: asyncio.StreamReader, timeout: float, label: str) -> dict[str, Any]:
    """The render process's next JSON line; raises TimeoutError, or TemplateRenderError when it has none."""
    try:
        async with asyncio.timeout(timeout):
            line = await stream.readline()
    except ValueError:  # longer than the stream's limit
        raise TemplateRenderError(f"{label}: renders more than {MAX_RENDERED_BYTES} bytes") from None
    try:
        document = json.loads(line) if line.endswith(b"\n") else None
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise TemplateRenderError(f"{label}: the render process stopped without an answer")
    return document


def _kill_group(process: asyncio.subprocess.Process) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def template_directory(data_dir: Path) -> Path:
    """Where operators put their own templates: `<data_dir>/mail-templates`."""
    return data_dir / TEMPLATE_DIRECTORY_NAME
