"""The container record: what the daemon knows about one container, persisted as JSON."""

from dataclasses import asdict, dataclass, field

from ..util import ZERO_TIME


@dataclass
class State:
    status: str = "created"  # created | running | paused | restarting | removing | exited | dead
    pid: int = 0
    exit_code: int = 0
    error: str = ""
    started_at: str = ZERO_TIME
    finished_at: str = ZERO_TIME
    oom_killed: bool = False
    health: dict | None = None  # Docker's State.Health when the container has a check


@dataclass
class Container:
    id: str
    name: str  # without the leading "/"
    created: str
    image_id: str
    image_name: str  # as the user asked for it ("busybox")
    config: dict  # Docker's Config object (Cmd, Entrypoint, Env, WorkingDir, User, Tty, ...)
    host_config: dict  # Docker's HostConfig object
    path: str = ""
    args: list[str] = field(default_factory=list)
    state: State = field(default_factory=State)
    restart_count: int = 0
    # Set once the daemon gave up on the container after a start failure etc.
    has_been_started: bool = False
    # Stopped (or killed) by the user: an unless-stopped policy leaves it alone until a start.
    manually_stopped: bool = False
    # Docker's MountPoints, resolved at create: volumes by name, binds, tmpfs (see
    # engine/volumes.py); empty for a container without mounts.
    mounts: list = field(default_factory=list)

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def running(self) -> bool:
        return self.state.status in ("running", "paused", "restarting")

    def to_record(self) -> dict:
        return asdict(self)

    @classmethod
    def from_record(cls, rec: dict) -> "Container":
        rec = dict(rec)
        rec["state"] = State(**rec.get("state", {}))
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in rec.items() if k in known})
