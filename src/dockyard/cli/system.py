"""``version`` and ``info``: what is talking to what."""

from __future__ import annotations

import platform
import sys

from dockyard.cli.base import CLIError, Context, err, out
from dockyard.cli.flags import STR
from dockyard.client import API_VERSION, ClientError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dockyard.cli.flags import FlagSpec

FORMAT_SPEC: list[FlagSpec] = [("f", "format", STR, "Format output using a custom template")]


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


class _GoVersion(dict):
    """Docker's version structs as its templates see them: Go field names (``.APIVersion``)
    as well as the JSON ones, while ``{{json .}}`` keeps the JSON names only."""

    _GO_NAMES = {"APIVersion": "ApiVersion"}

    def get(self, key, default=None):
        if key not in self and key in self._GO_NAMES:
            key = self._GO_NAMES[key]
        return super().get(key, default)


def _render(fmt: str, data: Any) -> None:
    from dockyard.cli.formatting import compile_format
    from dockyard.cli.template import TemplateError, template_message

    _table, template = compile_format(fmt)
    try:
        out(template.render(data))
    except TemplateError as e:
        raise CLIError(template_message(e), 1) from None


def cmd_version(ctx: Context, argv: list[str]) -> int:
    opts, _args = ctx.parse(argv, "version [OPTIONS]",
                            "Show the dockyard version information", FORMAT_SPEC)
    from dockyard import __version__

    client_info = {
        "Version": __version__, "ApiVersion": API_VERSION, "DefaultAPIVersion": API_VERSION,
        "GoVersion": "python" + platform.python_version(), "Os": sys.platform,
        "Arch": _arch(), "Platform": {"Name": "dockyard"},
    }
    server: dict[str, Any] | None = None
    failure = None
    try:
        server = ctx.client.get("/version")
    except ClientError as e:
        failure = e
    if opts["format"]:
        _render(opts["format"], {"Client": _GoVersion(client_info),
                                 "Server": _GoVersion(server) if server is not None else None})
    else:
        lines = ["Client:", f" Version:           {__version__}",
                 f" API version:       {API_VERSION}",
                 f" Python version:    {platform.python_version()}",
                 f" OS/Arch:           {sys.platform}/{_arch()}"]
        if server:
            lines += ["", f"Server: {(server.get('Platform') or {}).get('Name', '')}".rstrip(),
                      " Engine:",
                      f"  Version:          {server.get('Version', '')}",
                      f"  API version:      {server.get('ApiVersion', '')} "
                      f"(minimum version {server.get('MinAPIVersion', '')})",
                      f"  OS/Arch:          {server.get('Os', '')}/{server.get('Arch', '')}",
                      f"  Kernel version:   {server.get('KernelVersion', '')}"]
            for comp in server.get("Components") or []:
                if comp.get("Name") in (None, "Engine"):
                    continue
                lines += [f" {comp['Name']}:", f"  Version:          {comp.get('Version', '')}"]
        out("\n".join(lines))
    if failure is not None:
        err(str(failure))
        return 1
    return 0


def cmd_info(ctx: Context, argv: list[str]) -> int:
    opts, _args = ctx.parse(argv, "info [OPTIONS]", "Display system-wide information",
                            FORMAT_SPEC)
    info = ctx.client.get("/info") or {}
    if opts["format"]:
        _render(opts["format"], info)
        return 0
    from dockyard.cli.render import bytes_size

    lines = [
        "Server:",
        f" Containers: {info.get('Containers', 0)}",
        f"  Running: {info.get('ContainersRunning', 0)}",
        f"  Paused: {info.get('ContainersPaused', 0)}",
        f"  Stopped: {info.get('ContainersStopped', 0)}",
        f" Images: {info.get('Images', 0)}",
        f" Server Version: {info.get('ServerVersion', '')}",
        f" Storage Driver: {info.get('Driver', '')}",
        f" Logging Driver: {info.get('LoggingDriver', '')}",
        f" Cgroup Driver: {info.get('CgroupDriver', '')}",
        f" Cgroup Version: {info.get('CgroupVersion', '')}",
        f" Default Runtime: {info.get('DefaultRuntime', '')}",
        f" Kernel Version: {info.get('KernelVersion', '')}",
        f" Operating System: {info.get('OperatingSystem', '')}",
        f" OSType: {info.get('OSType', '')}",
        f" Architecture: {info.get('Architecture', '')}",
        f" CPUs: {info.get('NCPU', 0)}",
        f" Total Memory: {bytes_size(info.get('MemTotal') or 0)}",
        f" Name: {info.get('Name', '')}",
        f" ID: {info.get('ID', '')}",
        f" Docker Root Dir: {info.get('DockerRootDir', '')}",
    ]
    out("\n".join(lines))
    for warning in info.get("Warnings") or []:
        err(warning)
    return 0
