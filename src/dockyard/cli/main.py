"""``dockyard`` entry point: global flags, lazy dispatch to one command module, error → exit code.

Only the module of the command being run is imported, so ``dockyard ps`` never pays for the
tar builder and ``dockyard run`` never pays for the template engine.
"""

from __future__ import annotations

import os
import sys

from dockyard.cli.base import CLIError, Context, ShowHelp, err, out
from dockyard.cli.flags import BOOL, STR, HelpRequested, UsageError, parse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.cli.flags import FlagSpec

COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("dockyard.cli.run", "Create and run a new container from an image"),
    "create": ("dockyard.cli.run", "Create a new container"),
    "start": ("dockyard.cli.run", "Start one or more stopped containers"),
    "exec": ("dockyard.cli.run", "Execute a command in a running container"),
    "attach": ("dockyard.cli.attach",
               "Attach local standard input, output, and error streams to a running container"),
    "stop": ("dockyard.cli.containers", "Stop one or more running containers"),
    "pause": ("dockyard.cli.containers", "Pause all processes within one or more containers"),
    "unpause": ("dockyard.cli.containers",
                "Unpause all processes within one or more containers"),
    "rename": ("dockyard.cli.containers", "Rename a container"),
    "top": ("dockyard.cli.containers", "Display the running processes of a container"),
    "events": ("dockyard.cli.events", "Get real time events from the server"),
    "cp": ("dockyard.cli.cp", "Copy files/folders between a container and the local filesystem"),
    "update": ("dockyard.cli.containers", "Update configuration of one or more containers"),
    "stats": ("dockyard.cli.stats",
              "Display a live stream of container(s) resource usage statistics"),
    "port": ("dockyard.cli.containers",
             "List port mappings or a specific mapping for the container"),
    "kill": ("dockyard.cli.containers", "Kill one or more running containers"),
    "restart": ("dockyard.cli.containers", "Restart one or more containers"),
    "rm": ("dockyard.cli.containers", "Remove one or more containers"),
    "ps": ("dockyard.cli.containers", "List containers"),
    "logs": ("dockyard.cli.containers", "Fetch the logs of a container"),
    "wait": ("dockyard.cli.containers",
             "Block until one or more containers stop, then print their exit codes"),
    "inspect": ("dockyard.cli.containers", "Return low-level information on dockyard objects"),
    "images": ("dockyard.cli.images", "List images"),
    "rmi": ("dockyard.cli.images", "Remove one or more images"),
    "tag": ("dockyard.cli.images", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"),
    "import": ("dockyard.cli.images",
               "Import the contents from a tarball to create a filesystem image"),
    "build": ("dockyard.cli.build", "Build an image from a Dockerfile"),
    "builder-prune": ("dockyard.cli.build", "Remove build cache (builder prune)"),
    "commit": ("dockyard.cli.image_tools", "Create a new image from a container's changes"),
    "diff": ("dockyard.cli.image_tools",
             "Inspect changes to files or directories on a container's filesystem"),
    "export": ("dockyard.cli.image_tools", "Export a container's filesystem as a tar archive"),
    "history": ("dockyard.cli.image_tools", "Show the history of an image"),
    "save": ("dockyard.cli.image_tools", "Save one or more images to a tar archive"),
    "load": ("dockyard.cli.image_tools", "Load an image from a tar archive or STDIN"),
    "image-prune": ("dockyard.cli.image_tools", "Remove unused images (image prune)"),
    "system-df": ("dockyard.cli.image_tools", "Show disk usage (system df)"),
    "busybox-image": ("dockyard.cli.images",
                      "Make the busybox base image from the host's busybox-static"),
    "pull": ("dockyard.cli.distribution", "Download an image from a registry"),
    "push": ("dockyard.cli.distribution", "Upload an image to a registry"),
    "login": ("dockyard.cli.distribution", "Log in to a registry"),
    "logout": ("dockyard.cli.distribution", "Log out from a registry"),
    "volume": ("dockyard.cli.volumes", "Manage volumes"),
    "network": ("dockyard.cli.networks", "Manage networks"),
    "version": ("dockyard.cli.system", "Show the dockyard version information"),
    "info": ("dockyard.cli.system", "Display system-wide information"),
    "context": ("dockyard.cli.context", "Manage contexts"),
    "tls": ("dockyard.cli.tls", "Make a CA and certificates for the daemon's TLS"),
    "system-prune": ("dockyard.cli.prune", "Remove unused data (system prune)"),
    "container-prune": ("dockyard.cli.prune", "Remove all stopped containers (container prune)"),
    "daemon": ("", "Run the dockyard daemon (serves the Docker Engine API)"),
    "registry": ("", "Run or manage the dockyard registry"),
}
ALIASES = {"container": "", "image": "", "system": ""}  # "dockyard container ls" style groups

GLOBAL_SPEC: list[FlagSpec] = [
    ("H", "host", STR, "Daemon socket to connect to (unix:///path or tcp://host:port)"),
    ("v", "version", BOOL, "Print version information and quit"),
    ("D", "debug", BOOL, "Enable debug mode"),
    ("l", "log-level", STR, "Set the logging level"),
    ("", "config", STR, "Location of client config files"),
    ("c", "context", STR, "Name of the context to use to connect to the daemon"),
    ("", "tls", BOOL, "Use TLS; implied by --tlsverify"),
    ("", "tlscacert", STR, "Trust certs signed only by this CA"),
    ("", "tlscert", STR, "Path to TLS certificate file"),
    ("", "tlskey", STR, "Path to TLS key file"),
    ("", "tlsverify", BOOL, "Use TLS and verify the remote"),
]
_CONNECT_FLAGS = ("config", "context", "tls", "tlscacert", "tlscert", "tlskey", "tlsverify")
_GROUPS = {
    "container": {"ls": "ps", "list": "ps", "run": "run", "create": "create", "start": "start",
                  "stop": "stop", "kill": "kill", "restart": "restart", "rm": "rm",
                  "remove": "rm", "logs": "logs", "wait": "wait", "inspect": "inspect",
                  "exec": "exec", "attach": "attach", "pause": "pause", "unpause": "unpause",
                  "rename": "rename", "top": "top", "port": "port", "stats": "stats", "update": "update", "commit": "commit", "diff": "diff", "export": "export",
                  "prune": "container-prune"},
    "image": {"ls": "images", "list": "images", "rm": "rmi", "remove": "rmi", "tag": "tag",
              "import": "import", "inspect": "inspect", "history": "history", "save": "save",
              "load": "load", "prune": "image-prune",
              "pull": "pull", "push": "push", "build": "build"},
    "builder": {"prune": "builder-prune"},
    "system": {"df": "system-df", "info": "info", "prune": "system-prune",
               "events": "events"},
}


def _main_help() -> str:
    lines = ["", "Usage:  dockyard [OPTIONS] COMMAND", "",
             "A Docker-compatible container platform: build, ship, run", "", "Options:"]
    rows = [((f"-{short}, " if short else "    ") + f"--{long}"
             + (f" {kind}" if kind != BOOL else ""), text)
            for short, long, kind, text in GLOBAL_SPEC]
    width = max(len(n) for n, _ in rows) + 3
    lines += [f"  {name.ljust(width)}{text}" for name, text in rows]
    # Commands reached only through a group ("image prune" runs "image-prune") stay unlisted.
    group_only = {v for subs in _GROUPS.values() for v in subs.values() if "-" in v}
    lines += ["", "Management Commands:"]
    what = {"container": "containers", "image": "images", "system": "dockyard",
            "builder": "builds"}
    lines += [f"  {name.ljust(15)}Manage {what.get(name, name)}" for name in _GROUPS]
    lines += ["", "Commands:"]
    lines += [f"  {name.ljust(15)}{summary}" for name, (_m, summary) in COMMANDS.items()
              if name not in group_only]
    lines += ["", "Run 'dockyard COMMAND --help' for more information on a command.", ""]
    return "\n".join(lines)


def _version_line() -> str:
    from dockyard import __version__

    return f"dockyard version {__version__}"


def _dispatch(name: str, argv: list[str], ctx: Context) -> int:
    if name in _GROUPS:
        if not argv or argv[0] in ("--help", "-h"):
            subs = ", ".join(sorted(_GROUPS[name]))
            out(f"\nUsage:  dockyard {name} COMMAND\n\nCommands: {subs}\n")
            return 0
        sub = _GROUPS[name].get(argv[0])
        if sub is None:
            raise UsageError(f"unknown command \"{argv[0]}\" for \"dockyard {name}\"")
        extra = ["--type", "image"] if name == "image" and sub == "inspect" else []
        return _dispatch(sub, extra + argv[1:], ctx)
    if name == "daemon":
        from dockyard.daemon.main import main as daemon_main

        return int(daemon_main(argv) or 0)
    if name == "registry":
        from dockyard.registry.cli import main as registry_main

        return int(registry_main(argv) or 0)
    entry = COMMANDS.get(name)
    if entry is None:
        raise CLIError(f"dockyard: '{name}' is not a dockyard command. "
                       "See 'dockyard --help'.", 1)
    module = __import__(entry[0], fromlist=["_"])
    return getattr(module, "cmd_" + name.replace("-", "_"))(ctx, argv)


def main(argv: list[str] | None = None) -> int:
    """Run one CLI command; returns the process exit code (docker's conventions)."""
    argv = sys.argv[1:] if argv is None else argv
    command = ""
    try:
        try:
            opts, rest = parse(argv, GLOBAL_SPEC, interspersed=False)
        except HelpRequested:
            out(_main_help())
            return 0
        if opts["version"]:
            out(_version_line())
            return 0
        if not rest:
            out(_main_help())
            return 0
        command = rest[0]
        if any(opts[k] for k in _CONNECT_FLAGS):
            from dockyard.cli.connect import GLOBAL_FLAGS

            GLOBAL_FLAGS.update({k: opts[k] for k in _CONNECT_FLAGS if opts[k]})
        ctx = Context(opts["host"], opts["debug"])
        return _dispatch(command, rest[1:], ctx)
    except ShowHelp as h:
        out(h.text)
        return 0
    except UsageError as e:
        hint = f"See 'dockyard {command} --help'." if command else "See 'dockyard --help'."
        err(f"dockyard: {e} {hint}")
        return 125
    except CLIError as e:
        if e.message:
            err(e.message)
        return e.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        try:  # stdout's reader went away (| head): stop quietly, like docker
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except OSError:
            pass
        return 0
    except Exception as e:  # noqa: BLE001 - a user never sees a traceback
        return _report(e)
    finally:
        try:
            sys.stdout.flush()
        except (BrokenPipeError, OSError):
            pass


def _report(e: Exception) -> int:
    from dockyard.client import APIError, ClientError

    if isinstance(e, APIError):
        err(f"Error response from daemon: {e.message}")
    elif isinstance(e, ClientError):
        err(str(e))
    elif isinstance(e, OSError):
        err(f"dockyard: {e.strerror or e}" + (f": {e.filename}" if e.filename else ""))
    else:
        if os.environ.get("DOCKYARD_DEBUG"):
            raise e
        err(f"dockyard: internal error: {type(e).__name__}: {e}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
