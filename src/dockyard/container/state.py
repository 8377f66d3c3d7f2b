"""Table-driven container state machine: which operation is allowed from which status.

One table instead of scattered ifs, so every API path refuses the same things with the same error.
"""

from ..errors import Conflict, NotModified

# operation -> statuses from which it may proceed
_ALLOWED: dict[str, frozenset[str]] = {
    "start": frozenset({"created", "exited"}),
    "stop": frozenset({"running", "restarting", "paused"}),
    "kill": frozenset({"running", "restarting", "paused"}),
    "restart": frozenset({"created", "exited", "running", "restarting"}),
    "remove": frozenset({"created", "exited", "dead"}),
    "attach": frozenset({"created", "exited", "running", "restarting", "paused"}),
}

# The transitions an event causes.
TRANSITIONS: dict[tuple[str, str], str] = {
    ("created", "started"): "running",
    ("exited", "started"): "running",
    ("running", "exited"): "exited",
    ("restarting", "exited"): "exited",
    ("paused", "exited"): "exited",
    ("running", "died-restarting"): "restarting",
    ("restarting", "started"): "running",
}


def check(op: str, status: str, name: str) -> None:
    """Raise the error Docker gives for ``op`` on a container in ``status``."""
    if status in _ALLOWED[op]:
        return
    if op == "start" and status in ("running",):
        raise NotModified(f"container {name} is already running")
    if op == "stop" and status in ("created", "exited", "dead"):
        raise NotModified(f"container {name} is not running")
    if op == "kill":
        raise Conflict(f"Container {name} is not running")
    if op == "remove":
        raise Conflict(
            f"You cannot remove a running container {name}. "
            "Stop the container before attempting removal or force remove"
        )
    if op == "start" and status == "removing":
        raise Conflict(f"container {name} is marked for removal and cannot be started")
    raise Conflict(f"cannot {op} container {name} in state {status}")


def next_status(status: str, event: str) -> str:
    return TRANSITIONS.get((status, event), status)
