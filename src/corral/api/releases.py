"""Releases: list the releases workers ran and mark a deploy (for workers not told their release)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from corral.api.context import ApiServices
from corral.api.routing import AuditNote, audit_note, owner_router
from corral.api.security import Principal, require
from corral.releases import RELEASE_NAME, Release, Releases
from corral.security.permissions import Permission

router = owner_router(prefix="/owner", tags=["releases"])

Note = Annotated[AuditNote, Depends(audit_note)]
Reader = Annotated[Principal, require(Permission.DLQ_READ)]
Marker = Annotated[Principal, require(Permission.RELEASES_MARK)]


def release_service(request: Request) -> Releases:
    """The releases of this API process."""
    api: ApiServices = request.app.state.services
    return api.releases


ReleaseService = Annotated[Releases, Depends(release_service)]


class ReleasePublic(BaseModel):
    """A release: when it was first marked or seen, by whom and from where (`worker`, `api`, `cli`)."""

    name: str
    first_seen: int = Field(description="when it was first marked or seen (epoch ms)")
    marked_by: str
    source: str

    @classmethod
    def of(cls, release: Release) -> ReleasePublic:
        return cls(**vars(release))


class ReleasesPublic(BaseModel):
    """Every release, the first seen first, and the one marked current (DLQ entries of workers not told their
    release carry it)."""

    items: list[ReleasePublic]
    current: str | None


class ReleaseCreate(BaseModel):
    """A release to mark as deployed now."""

    model_config = ConfigDict(extra="forbid", strict=True)
    name: str = Field(min_length=1, max_length=64, pattern=RELEASE_NAME.pattern)


class MarkedPublic(BaseModel):
    """The release marked, and whether it was new (marking a known release again makes it current, a rollback)."""

    release: ReleasePublic
    created: bool


@router.get("/releases", name="releases.list", response_model=ReleasesPublic)
async def list_releases(releases: ReleaseService, _: Reader) -> ReleasesPublic:
    """Every release the workers ran or a deploy marked, the first seen first (the newest 200)."""
    found = await releases.all()
    return ReleasesPublic(items=[ReleasePublic.of(release) for release in found], current=await releases.current())


@router.post("/releases", name="releases.mark", response_model=MarkedPublic)
async def mark_release(body: ReleaseCreate, releases: ReleaseService, note: Note, principal: Marker) -> MarkedPublic:
    """Mark a release as deployed now: it becomes current, and the failures of workers not told their release
    (`CORRAL_RELEASE`) are tagged with it from now on. Idempotent: the first mark's time and author stay."""
    note.resource = f"release:{body.name}"
    release, created = await releases.mark(body.name, principal.actor, "api")
    note.params, note.affected = {"name": body.name, "created": created}, int(created)
    return MarkedPublic(release=ReleasePublic.of(release), created=created)
