"""Restart policies (``no``, ``on-failure[:N]``, ``always``, ``unless-stopped``) with Docker's
back-off: 100 ms doubling up to a minute between restarts, back to 100 ms once a run lasted
10 seconds (moby's restartmanager)."""

from __future__ import annotations

from dataclasses import dataclass

INITIAL_DELAY = 0.1
MAX_DELAY = 60.0
RESET_AFTER = 10.0  # seconds of running that reset the back-off


@dataclass
class Backoff:
    delay: float = 0.0

    def next(self, ran_for: float) -> float:
        if ran_for >= RESET_AFTER:
            self.delay = 0.0
        self.delay = INITIAL_DELAY if self.delay == 0 else min(self.delay * 2, MAX_DELAY)
        return self.delay


def policy(host_config: dict) -> tuple[str, int]:
    rp = host_config.get("RestartPolicy") or {}
    name = rp.get("Name") or "no"
    try:
        retries = int(rp.get("MaximumRetryCount") or 0)
    except (TypeError, ValueError):
        retries = 0
    return name, retries


def should_restart(host_config: dict, exit_code: int, restart_count: int,
                   manually_stopped: bool) -> bool:
    """What the policy says after an exit the user did not ask for (``stop`` never gets here).
    ``always`` ignores a ``kill`` as Docker does; ``unless-stopped`` does not."""
    if host_config.get("AutoRemove"):
        return False
    name, retries = policy(host_config)
    if name == "always":
        return True
    if name == "unless-stopped":
        return not manually_stopped
    if name == "on-failure":
        return exit_code != 0 and (retries <= 0 or restart_count < retries)
    return False


def restart_on_daemon_start(host_config: dict, manually_stopped: bool) -> bool:
    """Docker brings back ``always`` containers (even stopped ones) and ``unless-stopped``
    ones the user did not stop when the daemon starts."""
    name, _ = policy(host_config)
    return name == "always" or (name == "unless-stopped" and not manually_stopped)
