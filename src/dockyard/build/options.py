"""The options of one build (``POST /build`` query parameters, the CLI's flags)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class BuildOptions:
    tags: list[str] = field(default_factory=list)
    dockerfile: str = "Dockerfile"
    build_args: dict[str, str | None] = field(default_factory=dict)
    target: str = ""
    no_cache: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    quiet: bool = False
    rm: bool = True
    forcerm: bool = False
    pull: bool = False
    network: str = "default"
    platform: str = ""
    cache_from: list[str] = field(default_factory=list)
    shm_size: int = 0
    memory: int = 0
    nano_cpus: int = 0
    cpu_shares: int = 0
    extra_hosts: list[str] = field(default_factory=list)
    registry_auths: dict = field(default_factory=dict)  # X-Registry-Config
