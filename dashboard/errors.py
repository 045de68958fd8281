"""Every error the dashboard raises on purpose; routes turn them into HTTP answers at the edge."""

from __future__ import annotations

from device.errors import CustobotError


class DashboardError(CustobotError):
    """Root of the dashboard's own errors."""


class OwnerExistsError(DashboardError):
    def __init__(self, name: str) -> None:
        super().__init__(f"owner {name!r} already exists")
        self.name = name


class InvalidOwnerInputError(DashboardError):
    """A name or password that cannot be used (too short, bad characters)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class LoginRefusedError(DashboardError):
    """Wrong name, password or TOTP code; deliberately does not say which."""

    def __init__(self) -> None:
        super().__init__("login refused")


class LoginLockedError(DashboardError):
    """Too many failed logins for this owner or client address."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins; try again in {retry_after} s")
        self.retry_after = retry_after


class SecretFileError(DashboardError):
    """The session secret file is unusable (readable by others, empty, not a file)."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path


class OrderNotFoundError(DashboardError):
    def __init__(self, order_id: str) -> None:
        super().__init__(f"order {order_id} not found")
        self.order_id = order_id


class ApprovalError(DashboardError):
    """An approve/reject that cannot be done (not pending, no governor key, reverted)."""

    def __init__(self, order_id: str, problem: str) -> None:
        super().__init__(f"order {order_id}: {problem}")
        self.order_id = order_id
        self.problem = problem


class ViewUnavailableError(DashboardError):
    """The data behind a page cannot be read right now (chain unreachable, store locked)."""

    def __init__(self, what: str, problem: str) -> None:
        super().__init__(f"{what}: {problem}")
        self.what = what
        self.problem = problem


class ServerStartError(DashboardError):
    """uvicorn did not come up (port taken, bad TLS files)."""
