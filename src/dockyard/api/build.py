"""``POST /build`` (the classic builder's API) and ``POST /build/prune``.

The body is the context tar (any compression). Secrets from dockyard's own CLI come first in
the body, before the tar, as raw bytes whose ids and sizes the ``dockyard-secrets`` query
parameter lists: they go to a private directory and never into the context, so no COPY can
reach them. Errors before the first step (a bad Dockerfile, an unknown target) are HTTP
errors, as Docker's; later ones end the JSON stream with ``errorDetail``.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import shutil
import time

from aiohttp import web

from ..errors import DockyardError, InvalidArgument, Unavailable
from .body import consume_body
from .filters import query_bool

log = logging.getLogger(__name__)

_MAX_SECRET = 1 << 20


def service(app: web.Application):
    """The engine's BuildService, made on first use (its cleanup of leftovers runs then)."""
    svc = app.get("build_service")
    if svc is None:
        from ..build.service import BuildService

        svc = BuildService(app["engine"])
        svc.cleanup_leftovers()
        app["build_service"] = svc
    return svc


def _json_param(q, name: str, default):
    raw = q.get(name)
    if not raw:
        return default
    try:
        value = json.loads(raw)
    except ValueError:
        raise InvalidArgument(f"invalid {name}: not JSON") from None
    if not isinstance(value, type(default)):
        raise InvalidArgument(f"invalid {name}: expected a JSON {type(default).__name__}")
    return value


def _int_param(q, name: str) -> int:
    raw = q.get(name) or "0"
    try:
        return int(raw)
    except ValueError:
        raise InvalidArgument(f"invalid {name}: {raw!r} is not an integer") from None


def parse_options(q):
    from ..build.options import BuildOptions

    args = _json_param(q, "buildargs", {})
    labels = _json_param(q, "labels", {})
    cache_from = _json_param(q, "cachefrom", [])
    hosts: list[str] = []
    for v in q.getall("extrahosts", []):
        hosts.extend(h for h in v.split(",") if h)
    nano = 0
    period, quota = _int_param(q, "cpuperiod"), _int_param(q, "cpuquota")
    if quota > 0:
        nano = int(quota * 1e9 / (period or 100000))
    network = q.get("networkmode") or "default"
    if network.startswith("container:"):
        raise InvalidArgument(f"network mode {network!r} is not supported by the builder "
                              "(default, none, host or a network's name)")
    return BuildOptions(
        tags=[t for t in q.getall("t", []) if t],
        dockerfile=q.get("dockerfile") or "Dockerfile",
        build_args={str(k): (None if v is None else str(v)) for k, v in args.items()},
        target=q.get("target") or "",
        no_cache=query_bool(q.get("nocache")),
        labels={str(k): str(v) for k, v in labels.items()},
        quiet=query_bool(q.get("q")),
        rm=query_bool(q.get("rm", "1")),
        forcerm=query_bool(q.get("forcerm")),
        pull=query_bool(q.get("pull")),
        network="default" if network == "bridge" else network,
        platform=q.get("platform") or "",
        cache_from=[str(c) for c in cache_from],
        shm_size=_int_param(q, "shmsize"),
        memory=_int_param(q, "memory"),
        nano_cpus=nano,
        cpu_shares=_int_param(q, "cpushares"),
        extra_hosts=hosts,
    )


def _tag_events(request: web.Request, image_id: str, tags: list[str]) -> None:
    """dockerd's image ``tag`` event for each ``-t`` of a finished build."""
    from .. import reference
    from ..engine.events import emit_image

    for t in tags:
        try:
            name = reference.parse(t).with_default_tag().familiar_string()
        except DockyardError:
            name = t
        emit_image(request.app["engine"].events, "tag", image_id, name)


def _registry_config(value: str | None) -> dict:
    """``X-Registry-Config``: base64url JSON of {registry: auth config}, as docker sends."""
    if not value or not value.strip():
        return {}
    import base64
    import binascii

    raw = value.strip()
    try:
        doc = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError):
        try:
            doc = json.loads(raw)
        except ValueError:
            return {}
    return doc if isinstance(doc, dict) else {}


def _receive(body, dest: str, secrets_dir: str, secret_specs: list,
             dockerfile: str, spill: str | None = None) -> tuple[dict[str, str], str]:
    """Blocking: the secrets prefix, then the context tar extracted into ``dest`` (moved to
    ``spill`` if ``dest``'s filesystem fills up); returns (secrets, context directory)."""
    from ..build import context as _context

    secrets: dict[str, str] = {}
    for i, spec in enumerate(secret_specs):
        sid, size = spec.get("id"), spec.get("size")
        if not isinstance(sid, str) or not isinstance(size, int) or not 0 <= size <= _MAX_SECRET:
            raise InvalidArgument("invalid secret specification")
        data = body.read(size) if size else b""
        if len(data) != size:
            raise InvalidArgument(f"secret {sid}: body ended early")
        path = os.path.join(secrets_dir, f"s{i}")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        secrets[sid] = path
    try:
        where = _context.extract_context(_PaddedTar(body), dest, dockerfile=dockerfile,
                                         spill_dir=spill)
    except OSError as e:
        if e.errno != errno.ENOSPC:
            raise
        raise Unavailable("no space left for the build context in "
                          f"{os.path.dirname(spill or dest)}") from None
    return secrets, where


_COMPRESSED = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd")


class _PaddedTar:
    """A plain tar body completed with its end-of-archive blocks.

    docker 28's CLI sends ``-f -`` contexts cut right after the last file's data (no padding,
    no trailer), which Go's tar reader accepts at EOF; Python's needs the blocks. Compressed
    bodies pass through untouched."""

    def __init__(self, body):
        self._body = body
        self._head = body.read(6)
        self._plain = not any(self._head.startswith(m) for m in _COMPRESSED)
        self._size = 0
        self._tail: bytes | None = None

    def read(self, n: int = -1) -> bytes:
        if self._head:
            out, self._head = self._head, b""
            if n is not None and 0 <= n < len(out):
                out, self._head = out[:n], out[n:]
            self._size += len(out)
            return out
        if self._tail is None:
            data = self._body.read(n)
            if data or not self._plain:
                self._size += len(data)
                return data
            self._tail = b"\0" * ((-self._size) % 512 + 1024)
        out = self._tail if n is None or n < 0 else self._tail[:n]
        self._tail = self._tail[len(out):]
        return out


async def build(request: web.Request) -> web.StreamResponse:
    from ..build.builder import build_json_error
    from ..build.step import StepFailed

    q = request.query
    if q.get("remote"):
        raise InvalidArgument("remote build contexts (git, URLs) are not supported: send the "
                              "context as a tar body")
    options = parse_options(q)
    options.registry_auths = _registry_config(request.headers.get("X-Registry-Config"))
    secret_specs = _json_param(q, "dockyard-secrets", [])
    svc = service(request.app)
    workdir, spilldir = svc.context_dirs(request.content_length)
    ctx = os.path.join(workdir, "context")
    secrets_dir = os.path.join(workdir, "secrets")
    os.mkdir(ctx, 0o755)
    os.mkdir(secrets_dir, 0o700)
    loop = asyncio.get_running_loop()
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    state = {"broken": False, "build": None}

    async def write(msg: dict) -> None:
        if not resp.prepared:
            await resp.prepare(request)
        await resp.write(json.dumps(msg).encode() + b"\r\n")

    def emit(msg: dict) -> None:
        if isinstance(msg.get("aux"), dict) and msg["aux"].get("ID"):
            state["image"] = msg["aux"]["ID"]  # the built image: its tags make tag events
        if state["broken"]:
            return
        try:
            asyncio.run_coroutine_threadsafe(write(msg), loop).result()
        except Exception:  # noqa: BLE001 - the client went away: stop the build
            state["broken"] = True
            if state["build"] is not None:
                state["build"].cancel()

    def started(b) -> None:
        state["build"] = b
        if state["broken"]:  # the client went away while the context was coming in
            b.cancel()

    async def watch_client() -> None:
        """aiohttp does not cancel a handler when its client goes: look for it, so a build
        whose client went away (ctrl-c) stops and removes its step container."""
        while True:
            await asyncio.sleep(0.5)
            tr = request.transport
            if tr is None or tr.is_closing():
                state["broken"] = True
                if state["build"] is not None:
                    state["build"].cancel()
                return

    watcher = asyncio.create_task(watch_client())
    try:
        t0 = time.perf_counter()
        secrets, ctx = await consume_body(request, _receive, ctx, secrets_dir, secret_specs,
                                          options.dockerfile, spilldir)
        t1 = time.perf_counter()
        try:
            await asyncio.to_thread(svc.build, ctx, options, emit, secrets, started)
            if state.get("image"):
                _tag_events(request, state["image"], options.tags)
            log.debug("build: context received in %.0f ms, built in %.0f ms",
                      (t1 - t0) * 1e3, (time.perf_counter() - t1) * 1e3)
        except asyncio.CancelledError:
            if state["build"] is not None:
                state["build"].cancel()
            raise
        except Exception as e:  # noqa: BLE001 - the daemon survives any build failure
            if not isinstance(e, DockyardError | StepFailed):
                log.exception("build failed")
            if not resp.prepared:
                raise
            if not state["broken"]:
                await write(build_json_error(e))
    finally:
        watcher.cancel()
        await asyncio.to_thread(shutil.rmtree, workdir, True)
        if spilldir:
            await asyncio.to_thread(shutil.rmtree, spilldir, True)
    if state["broken"]:
        return resp
    if not resp.prepared:
        await resp.prepare(request)
    await resp.write_eof()
    return resp


async def prune(request: web.Request) -> web.Response:
    q = request.query
    all_ = query_bool(q.get("all"))
    result = await asyncio.to_thread(service(request.app).prune, all_)
    return web.json_response({"CachesDeleted": result["CachesDeleted"],
                              "SpaceReclaimed": result["SpaceReclaimed"]})


def cache_usage(app: web.Application) -> tuple[list[dict], int]:
    """``system df``'s BuildCache records and BuilderSize (blocking)."""
    from ..util import rfc3339_nano

    svc = service(app)
    chains = {c for img in svc.images.list() for c in img.chain_ids}
    entries, total = [], 0
    for u in svc.cache.usage(chains):
        total += u["size"]  # as moby: every record's size, shared or not
        parent = u["parent"].split(":", 1)[-1][:25]
        entries.append({"ID": u["key"].split(":", 1)[-1][:25], "Parent": parent,
                        "Parents": [parent] if parent else None, "Type": "regular",
                        "Description": u["description"], "InUse": False,
                        "Shared": u["shared"], "Size": u["size"],
                        "CreatedAt": rfc3339_nano(u["created"]),
                        "LastUsedAt": rfc3339_nano(u["last_used"]),
                        "UsageCount": u["usage_count"]})
    from ..build.service import _du

    for n in sorted(os.listdir(svc.cache_mount_root)):  # RUN --mount=type=cache
        path = os.path.join(svc.cache_mount_root, n)
        st = os.stat(path)
        size = _du(path)
        total += size
        entries.append({"ID": n[:25], "Parent": "", "Parents": None, "Type": "exec.cachemount",
                        "Description": "cached mount", "InUse": False, "Shared": False,
                        "Size": size, "CreatedAt": rfc3339_nano(st.st_ctime),
                        "LastUsedAt": rfc3339_nano(st.st_mtime), "UsageCount": 1})
    return entries, total


async def _startup(app: web.Application) -> None:
    """Make the service when the daemon starts, so a crashed daemon's step containers,
    snapshots and temp dirs are cleaned before anything else runs."""
    await asyncio.to_thread(service, app)


def register(r) -> None:
    r.add("POST", "/build", build)
    r.add("POST", "/build/prune", prune)
    r.app.on_startup.append(_startup)
