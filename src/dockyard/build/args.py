"""Build-arg scoping as Docker's: ARGs before the first FROM are global and visible only in
FROM lines unless a stage redeclares them; a stage's ARG takes the --build-arg value, else its
default, else the global value; the proxy args are predefined (usable without ARG, kept out of
the image history). Which build args were consumed is tracked for Docker's warning."""

from __future__ import annotations

import threading

from ..image.store import host_platform

PROXY_ARGS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY",
              "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy")


def platform_args() -> dict[str, str]:
    """BuildKit's automatic platform args (given as defaults when a stage declares them)."""
    os_name, arch, variant = host_platform()
    plat = f"{os_name}/{arch}" + (f"/{variant}" if variant else "")
    return {"TARGETPLATFORM": plat, "TARGETOS": os_name, "TARGETARCH": arch,
            "TARGETVARIANT": variant, "BUILDPLATFORM": plat, "BUILDOS": os_name,
            "BUILDARCH": arch, "BUILDVARIANT": variant}


class BuildArgs:
    """The build's --build-arg values and which of them a declaration consumed."""

    def __init__(self, values: dict[str, str | None]):
        self.values = dict(values)
        self._used: set[str] = set()
        self._lock = threading.Lock()
        self.globals: dict[str, str | None] = {}
        self.auto = platform_args()

    def lookup(self, name: str) -> tuple[bool, str | None]:
        if name in self.values:
            with self._lock:
                self._used.add(name)
            return True, self.values[name]
        return False, None

    def unconsumed(self) -> list[str]:
        with self._lock:
            return sorted(k for k in self.values if k not in self._used
                          and k not in PROXY_ARGS)

    def global_env(self) -> dict[str, str]:
        env = {k: v for k, v in self.auto.items()}
        env.update({k: v for k, v in self.globals.items() if v is not None})
        return env


class StageArgs:
    """One stage's declared ARGs (ordered) with their values."""

    def __init__(self, build: BuildArgs):
        self.build = build
        self.declared: dict[str, str | None] = {}

    def declare(self, name: str, default: str | None) -> None:
        given, value = self.build.lookup(name)
        if not given or value is None:
            if default is not None:
                value = default
            elif name in self.build.globals:
                value = self.build.globals[name]
            elif name in self.build.auto:
                value = self.build.auto[name]
        self.declared[name] = value

    def values(self) -> dict[str, str]:
        """Declared ARGs that have a value (what RUN sees and its cache key uses)."""
        return {k: v for k, v in self.declared.items() if v is not None}

    def proxies(self) -> dict[str, str]:
        return {k: v for k, v in self.build.values.items()
                if k in PROXY_ARGS and v is not None and k not in self.declared}
