"""``dockyard build`` (the classic builder's output) and ``dockyard builder prune``.

The context is tarred while it is sent (``build.context.pack_context``, .dockerignore applied
here already); secrets travel ahead of the tar in the same body, listed by id and size in a
query parameter, so the daemon keeps them out of the context. Exit codes as docker's: the
failing step's code (a RUN's exit status), 1 for other build errors, 125 for bad flags.
"""

from __future__ import annotations

import os
import sys

from dockyard.cli.base import CLIError, Context, out
from dockyard.cli.common import confirm, no_args, print_ids
from dockyard.cli.flags import BOOL, LIST, STR, TRUE_BOOL, UsageError
from dockyard.client import dumps, loads

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from typing import Any

    from dockyard.cli.flags import FlagSpec

BUILD_SPEC: list[FlagSpec] = [
    ("", "add-host", LIST, "Add a custom host-to-IP mapping (host:ip)"),
    ("", "build-arg", LIST, "Set build-time variables"),
    ("", "cache-from", LIST, "Images to consider as cache sources"),
    ("", "cpu-shares", STR, "CPU shares (relative weight)"),
    ("f", "file", STR, "Name of the Dockerfile (Default is 'PATH/Dockerfile')"),
    ("", "force-rm", BOOL, "Always remove intermediate containers"),
    ("", "iidfile", STR, "Write the image ID to the file"),
    ("", "label", LIST, "Set metadata for an image"),
    ("m", "memory", STR, "Memory limit"),
    ("", "network", STR, 'Set the networking mode for the RUN instructions during build '
                         '(default "default")'),
    ("", "no-cache", BOOL, "Do not use cache when building the image"),
    ("", "platform", STR, "Set platform if server is multi-platform capable"),
    ("", "progress", STR, "Set type of progress output (only plain is supported)"),
    ("", "pull", BOOL, "Always attempt to pull a newer version of the image"),
    ("q", "quiet", BOOL, "Suppress the build output and print image ID on success"),
    ("", "rm", TRUE_BOOL, "Remove intermediate containers after a successful build "
                          "(default true)"),
    ("", "secret", LIST, "Secret file to expose to the build: id=mysecret,src=/local/secret"),
    ("", "shm-size", STR, "Size of /dev/shm"),
    ("t", "tag", LIST, "Name and optionally a tag in the 'name:tag' format"),
    ("", "target", STR, "Set the target build stage to build."),
]

_MAX_SECRET = 1 << 20


def _build_args(items: list[str]) -> dict[str, str | None]:
    """``K=V``, or ``K`` alone taking the value from the environment (null when unset)."""
    args: dict[str, str | None] = {}
    for item in items:
        k, eq, v = item.partition("=")
        args[k] = v if eq else os.environ.get(k)
    return args


def _labels(items: list[str]) -> dict[str, str]:
    out_: dict[str, str] = {}
    for item in items:
        k, _, v = item.partition("=")
        out_[k] = v
    return out_


def _secrets(items: list[str]) -> list[tuple[str, bytes]]:
    result = []
    for item in items:
        fields: dict[str, str] = {}
        for part in item.split(","):
            k, eq, v = part.partition("=")
            if not eq:
                raise UsageError(f"invalid secret {item!r}: expected key=value fields")
            fields[k.strip().lower()] = v
        sid = fields.get("id", "")
        src = fields.get("src") or fields.get("source")
        env = fields.get("env")
        if not sid:
            sid = os.path.basename(src or env or "")
        if not sid:
            raise UsageError(f"invalid secret {item!r}: an id is required")
        if src:
            try:
                with open(src, "rb") as f:
                    data = f.read(_MAX_SECRET + 1)
            except OSError as e:
                raise CLIError(f"failed to read secret {sid} from {src}: "
                               f"{(e.strerror or str(e)).lower()}", 1) from None
        elif env:
            if env not in os.environ:
                raise CLIError(f"secret {sid}: environment variable {env} is not set", 1)
            data = os.environ[env].encode()
        else:
            raise UsageError(f"invalid secret {item!r}: src or env is required")
        if len(data) > _MAX_SECRET:
            raise CLIError(f"secret {sid} is larger than 1MiB", 1)
        result.append((sid, data))
    return result


def _looks_like_archive(head: bytes) -> bool:
    return (head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00"
            or head[:4] == b"\x28\xb5\x2f\xfd" or head[257:262] == b"ustar")


class _Counted:
    """Counts the bytes of the context as they are sent."""

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks = chunks
        self.size = 0

    def __iter__(self) -> Iterator[bytes]:
        for c in self._chunks:
            self.size += len(c)
            yield c


def _stdin_chunks(head: bytes) -> Iterator[bytes]:
    yield head
    while piece := sys.stdin.buffer.read(1 << 20):
        yield piece


def _context(args: list[str], dockerfile: str | None) -> tuple[Iterable[bytes], str | None]:
    """(the body's context chunks, the dockerfile query value)."""
    from dockyard.build.context import pack_context

    path = args[0]
    if path == "-":
        if dockerfile == "-":
            raise UsageError("invalid argument: can't use stdin for both build context and "
                             "dockerfile")
        head = sys.stdin.buffer.read(512)
        while len(head) < 512:
            more = sys.stdin.buffer.read(512 - len(head))
            if not more:
                break
            head += more
        if _looks_like_archive(head):
            return _stdin_chunks(head), dockerfile
        # a Dockerfile on stdin: an empty context with just that file
        data = head + sys.stdin.buffer.read()
        import tempfile

        empty = tempfile.mkdtemp(prefix="dockyard-build-")
        try:
            stream = pack_context(empty, dockerfile_content=data)
            body = b"".join(stream)
        finally:
            os.rmdir(empty)
        return [body], stream.dockerfile
    if path.startswith(("http://", "https://", "git@", "git://")):
        raise CLIError("dockyard build: remote contexts (URLs, git) are not supported; "
                       "use a directory or -", 1)
    if dockerfile == "-":
        content = sys.stdin.buffer.read()
        stream = pack_context(path, dockerfile_content=content)
    else:
        stream = pack_context(path, dockerfile)
    return stream, stream.dockerfile


def _render(resp: Any, quiet: bool) -> tuple[str, dict | None]:
    """Print the JSON message stream; returns (image id, errorDetail or None)."""
    image_id = ""
    error: dict | None = None
    buf = b""
    held: list[str] = []
    write = sys.stdout.write
    for piece in resp.stream():
        buf += piece
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if not line.strip():
                continue
            try:
                msg = loads(line)
            except ValueError:
                continue
            if not isinstance(msg, dict):
                continue
            if msg.get("error") or msg.get("errorDetail"):
                detail = msg.get("errorDetail") or {}
                error = {"message": detail.get("message") or msg.get("error") or "",
                         "code": detail.get("code") or 1}
                continue
            aux = msg.get("aux")
            if isinstance(aux, dict) and aux.get("ID"):
                image_id = str(aux["ID"])
                continue
            if quiet:
                if msg.get("stream"):
                    held.append(str(msg["stream"]))
                continue
            if msg.get("stream"):
                write(str(msg["stream"]))
                sys.stdout.flush()
            elif msg.get("status"):
                ident = f"{msg['id']}: " if msg.get("id") else ""
                prog = msg.get("progress") or ""
                write(f"{ident}{msg['status']} {prog}".rstrip() + "\n")
    if error is not None and held:  # -q: a failed build shows its output after all
        write("".join(held))
    return image_id, error


def cmd_build(ctx: Context, argv: list[str]) -> int:
    opts, args = ctx.parse(argv, "build [OPTIONS] PATH | URL | -",
                           "Build an image from a Dockerfile", BUILD_SPEC)
    if len(args) != 1:
        raise UsageError('"dockyard build" requires exactly 1 argument.')
    from dockyard.cli.run import parse_bytes

    build_args = _build_args(opts["build_arg"])
    if "SOURCE_DATE_EPOCH" not in build_args and os.environ.get("SOURCE_DATE_EPOCH"):
        build_args["SOURCE_DATE_EPOCH"] = os.environ["SOURCE_DATE_EPOCH"]
    secrets = _secrets(opts["secret"])
    query: list[tuple[str, Any]] = [("t", t) for t in opts["tag"]]
    chunks, dockerfile = _context(args, opts["file"])
    query += [
        ("dockerfile", dockerfile),
        ("buildargs", dumps(build_args) if build_args else None),
        ("labels", dumps(_labels(opts["label"])) if opts["label"] else None),
        ("target", opts["target"]),
        ("nocache", "1" if opts["no_cache"] else None),
        ("q", "1" if opts["quiet"] else None),
        ("rm", "1" if opts["rm"] else "0"),
        ("forcerm", "1" if opts["force_rm"] else None),
        ("pull", "1" if opts["pull"] else None),
        ("networkmode", opts["network"]),
        ("platform", opts["platform"]),
        ("cachefrom", dumps(opts["cache_from"]) if opts["cache_from"] else None),
        ("shmsize", str(parse_bytes(opts["shm_size"], "--shm-size"))
         if opts["shm_size"] else None),
        ("memory", str(parse_bytes(opts["memory"], "--memory")) if opts["memory"] else None),
        ("cpushares", opts["cpu_shares"]),
    ]
    query += [("extrahosts", h) for h in opts["add_host"]]
    if secrets:
        query.append(("dockyard-secrets",
                      dumps([{"id": sid, "size": len(data)} for sid, data in secrets])))
    counted = _Counted(chunks)

    def body() -> Iterator[bytes]:
        for _sid, data in secrets:
            if data:
                yield data
        yield from counted
        if not opts["quiet"]:
            from dockyard.cli.progress import human_size

            out(f"Sending build context to Docker daemon  {human_size(counted.size)}")

    resp = ctx.client.request("POST", "/build", [(k, v) for k, v in query if v is not None],
                              body(), {"Content-Type": "application/x-tar"})
    image_id, error = _render(resp, opts["quiet"])
    if error is not None:
        raise CLIError(error["message"], int(error["code"]) or 1)
    if opts["quiet"]:
        out(image_id)
    if opts["iidfile"] and image_id:
        with open(opts["iidfile"], "w") as f:
            f.write(image_id)
    return 0


PRUNE_SPEC: list[FlagSpec] = [
    ("a", "all", BOOL, "Remove all unused build cache, not just dangling ones"),
    ("", "filter", LIST, "Provide filter values"),
    ("f", "force", BOOL, "Do not prompt for confirmation"),
]


def cmd_builder_prune(ctx: Context, argv: list[str]) -> int:
    opts, args = ctx.parse(argv, "builder prune", "Remove build cache", PRUNE_SPEC)
    no_args(args, "builder prune")
    if not opts["force"] and not confirm("WARNING! This will remove all dangling build cache.",
                                         sep=" "):
        return 0
    res = ctx.client.call("POST", "/build/prune", {"all": "1" if opts["all"] else None}) or {}
    from dockyard.cli.progress import human_size

    print_ids("Deleted build cache objects:", [str(d) for d in res.get("CachesDeleted") or []])
    out(f"Total reclaimed space: {human_size(int(res.get('SpaceReclaimed') or 0))}")
    return 0
