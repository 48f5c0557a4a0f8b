"""Roles and permissions: every API route, console page and the WebSocket declares one permission."""

from __future__ import annotations

import enum
from collections.abc import Mapping


class Role(enum.StrEnum):
    """An account's role."""

    OWNER = "owner"
    ADMIN = "admin"
    EDITOR = "editor"
    VIEWER = "viewer"


class Permission(enum.StrEnum):
    """One thing an account may do."""

    QUEUES_READ = "queues:read"
    JOBS_READ = "jobs:read"
    JOBS_OPERATE = "jobs:operate"
    JOBS_ENQUEUE = "jobs:enqueue"
    QUEUES_OPERATE = "queues:operate"
    QUEUES_DESTROY = "queues:destroy"
    DLQ_READ = "dlq:read"
    DLQ_REPLAY = "dlq:replay"
    DLQ_DELETE = "dlq:delete"
    PAYLOAD_REVEAL = "payload:reveal"
    SCHEDULES_READ = "schedules:read"
    SCHEDULES_MANAGE = "schedules:manage"
    RELEASES_MARK = "releases:mark"
    EXPORT = "export"
    MONITORING_READ = "monitoring:read"
    ALERTS_MANAGE = "alerts:manage"
    REALTIME = "realtime"
    AUDIT_READ = "audit:read"
    USERS_READ = "users:read"
    USERS_MANAGE = "users:manage"
    ACCOUNT_SELF = "account:self"


# The platform's owner-only policy: every permission belongs to the owner alone by default. The other roles exist
# for the application's own accounts; `CORRAL_ROLE_GRANTS` can widen them (for example
# {"admin": ["queues:read", "account:self"]}); a role with no permission cannot sign in.
DEFAULT_ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    Role.OWNER: frozenset(Permission),
    Role.ADMIN: frozenset(),
    Role.EDITOR: frozenset(),
    Role.VIEWER: frozenset(),
}


class Policy:
    """Which permissions each role holds: the defaults, widened by explicit grants from settings."""

    def __init__(self, grants: Mapping[str, list[str]] | None = None) -> None:
        table = {role: set(perms) for role, perms in DEFAULT_ROLE_PERMISSIONS.items()}
        for role_name, permission_names in (grants or {}).items():
            table[Role(role_name)].update(Permission(name) for name in permission_names)
        self._table = {role: frozenset(perms) for role, perms in table.items()}

    def permissions(self, role: Role) -> frozenset[Permission]:
        """Every permission `role` holds."""
        return self._table[role]

    def allows(self, role: Role, permission: Permission) -> bool:
        """Whether `role` holds `permission`."""
        return permission in self._table[role]
