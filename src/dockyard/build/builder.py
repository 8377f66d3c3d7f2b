"""The classic builder: a Dockerfile and a context directory in, a tagged image out.

Only the stages the target needs are built; each runs in its own thread and waits only for
the stages it uses (FROM <stage>, COPY --from, RUN --mount from=), so independent stages
overlap. The message stream stays in Dockerfile order (see output.Output). A failed build
tags nothing and leaves no step container behind.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass

from .. import reference as _reference
from ..errors import DockyardError, InvalidArgument, NotFound
from ..image.store import host_platform, parse_platform
from . import dockerfile as _dockerfile
from . import shell as _shell
from .args import BuildArgs
from .mounts import parse_mount
from .options import BuildOptions
from .output import Output
from .stage import StageBuild, short
from .state import State
from .step import StepFailed


class _NoNetwork:
    """none, host: the runner makes (or shares) the namespace itself."""

    netns_path = hosts = resolv = None


@dataclass
class _CacheSource:
    """A ``--cache-from`` image."""

    image_id: str
    config_bytes: bytes
    history: list[dict]
    layers: list


class BuildCancelled(DockyardError):
    """The client went away."""


def _stage_ref(stages, name: str, before: int) -> int | None:
    """Index of the stage ``name`` (a name or a number) usable before stage ``before``."""
    low = name.lower()
    for s in stages[:before]:
        if s.name and s.name.lower() == low:
            return s.index
    if name.isdigit() and int(name) < before:
        return int(name)
    return None


class Build:
    """One build's run; ``BuildService.build`` makes and runs it."""

    def __init__(self, svc, context_dir: str, options: BuildOptions, emit: Callable[[dict], None],
                 secrets: dict[str, str]):
        self.svc = svc
        self.images = svc.images
        self.cache = svc.cache
        self.runner = svc.runner
        self.tmp_root = svc.tmp_root
        self.cache_mount_root = svc.cache_mount_root
        self.context_dir = context_dir
        self.options = options
        self.emit = emit
        self.secrets = secrets
        self.build_args = BuildArgs(options.build_args)
        self.escape = "\\"
        self.epoch: int | None = None
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._futures: dict[int, concurrent.futures.Future] = {}
        self._views: dict[str, str] = {}
        self._tmp: list[str] = []
        self._images: dict[str, State] = {}
        self._step_no: dict[int, int] = {}
        self._checksums: dict[tuple, str] = {}
        self._running: set[str] = set()
        # steps that do work (containers, copies) at the same time, whatever the stage count
        self.work_slots = threading.BoundedSemaphore(max(2, os.cpu_count() or 2))
        self.total_steps = 0
        self.cache_sources: list[_CacheSource] | None = None
        self.output: Output = Output(emit, [], options.quiet)

    # -- services the stages use ------------------------------------------------------------

    def step_network(self, cid: str, mode: str, warn=None):
        """The network of a RUN step: the default bridge or a named network (networkmode=),
        or nothing to set up."""
        networks = getattr(self.svc.engine, "networks", None)
        if mode not in ("none", "host") and networks is not None:
            from .netns import StepNetwork

            return StepNetwork(networks, cid, self.options.extra_hosts, warn,
                               network="default" if mode == "bridge" else mode)
        return contextlib.nullcontext(_NoNetwork)

    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def check_cancelled(self) -> None:
        if self._cancel.is_set():
            raise BuildCancelled("build cancelled")

    def cancel(self) -> None:
        """Stop the build: no new step starts, running step containers are killed."""
        self._cancel.set()
        with self._lock:
            running = list(self._running)
        for cid in running:
            self.runner.cancel(cid)

    def step_started(self, cid: str) -> None:
        with self._lock:
            self._running.add(cid)
        if self._cancel.is_set():
            self.runner.cancel(cid)

    def step_ended(self, cid: str) -> None:
        with self._lock:
            self._running.discard(cid)

    def next_step(self, stage: int) -> int:
        with self._lock:
            self._step_no[stage] += 1
            return self._step_no[stage]

    def track_tmp(self, path: str) -> None:
        with self._lock:
            self._tmp.append(path)

    def checksum(self, sources: list[str], cmd: str = "COPY") -> str:
        from . import copy as _copy

        key = tuple(sources)
        with self._lock:
            hit = self._checksums.get(key)
        if hit is not None:
            return hit
        try:
            value = _copy.source_checksum(self.context_dir, sources)
        except NotFound as e:
            raise StepFailed(f"{cmd} failed: {e}") from None
        with self._lock:
            self._checksums[key] = value
        return value

    def cached(self, key: str, parent: State, plan) -> State | None:
        """A cache hit for a step. With ``--cache-from``, as Docker's classic builder, only
        the listed images are sources: a step hits when a source's history and layers start
        with the parent's and its next history entry was made by the same instruction."""
        if self.cache_sources is None:
            hit = self.cache.get(key)
            if hit is None:
                return None
            return State.from_config(hit.config_bytes, hit.layers, hit.image_id,
                                     parent.base_id)
        if plan.sources and plan.key_text.startswith("RUN "):
            return None  # its bind mounts' content is not in the history entry
        hist = parent.config.get("history") or []
        n, nl = len(hist), len(parent.layers)
        diff_ids = [li.diff_id for li in parent.layers]
        for src in self.cache_sources:
            if len(src.history) <= n or src.history[:n] != hist or \
                    [li.diff_id for li in src.layers[:nl]] != diff_ids:
                continue
            entry = src.history[n]
            if entry.get("created_by") != plan.created_by:
                continue
            empty = bool(entry.get("empty_layer"))
            if not empty and len(src.layers) <= nl:
                continue
            if n + 1 == len(src.history) and len(src.layers) == nl + (0 if empty else 1):
                return State.from_config(src.config_bytes, src.layers, src.image_id,
                                         parent.base_id)
            new = parent.fork()
            if plan.apply is not None:
                plan.apply(new)
            new.restore(entry, None if empty else src.layers[nl])
            return new
        return None

    def _load_cache_sources(self) -> list[_CacheSource] | None:
        """The ``--cache-from`` images present here (a missing one is skipped, as Docker);
        None when none was asked for (the local cache is used)."""
        if not self.options.cache_from:
            return None
        out = []
        for name in self.options.cache_from:
            try:
                img = self.images.get(name)
            except DockyardError:
                continue
            raw = self.images.config_bytes(img)
            out.append(_CacheSource(img.id, raw, json.loads(raw).get("history") or [],
                                    self.images._layer_infos(img)))
        return out

    def view(self, state: State) -> str:
        """A read-only mount of a stage's or image's filesystem, kept until the build ends."""
        chain = state.top_chain_id
        key = chain or "empty"
        with self._lock:
            if key in self._views:
                return self._views[key]
            target = tempfile.mkdtemp(dir=self.tmp_root, prefix="view-")
            if chain:
                self.images.snapshots.mount_view(chain, target)
            self._views[key] = target
            return target

    def from_text(self, stage) -> str:
        return self._from_lines[stage.index]

    def parse_trigger(self, text: str):
        df = _dockerfile.parse(f"FROM scratch\n{text}\n")
        ins = df.stages[0].instructions
        if len(ins) != 1:
            raise InvalidArgument(f"invalid ONBUILD trigger: {text}")
        return ins[0]

    def image_state(self, name: str, *, what: str = "") -> State:
        """A local image (pulled when missing and pull is available) as a State."""
        with self._lock:
            if name in self._images:
                return self._images[name]
        img = self.svc.find_image(name, self.options.pull, self._pull_progress,
                                  self.options.registry_auths)
        cfg = self.images.config_bytes(img)
        st = State.from_config(cfg, self.images._layer_infos(img), img.id, img.id)
        with self._lock:
            self._images[name] = st
        return st

    def _pull_progress(self, msg: dict) -> None:
        self.output.direct(msg)

    def resolve_from(self, sb, value: str) -> State:
        idx = _stage_ref(self.df.stages, value, sb.index)
        if idx is not None:
            return self._wait(idx)
        if value.lower() in self._names and self._names[value.lower()] >= sb.index:
            raise InvalidArgument(f"invalid from flag value {value}: stage {value} is not "
                                  "defined before this stage")
        try:
            return self.image_state(value)
        except DockyardError as e:
            raise InvalidArgument(f"invalid from flag value {value}: {e}") from None

    def resolve_base(self, sb) -> State:
        stage = sb.stage
        env = self.build_args.global_env()
        base = _shell.expand(stage.base, env, escape=self.escape)
        if stage.platform:
            plat = _shell.expand(stage.platform, env, escape=self.escape)
            want = parse_platform(plat)
            host = host_platform()
            if want[:2] != host[:2]:
                raise InvalidArgument(
                    f"FROM --platform={plat}: this host runs {host[0]}/{host[1]} only")
        if not base:
            raise InvalidArgument(f"base name ({stage.base}) should not be blank")
        idx = _stage_ref(self.df.stages, base, stage.index)
        if idx is not None and not base.isdigit():
            return self._wait(idx).fork()
        if base.lower() == "scratch":
            return State.scratch()
        return self.image_state(base).fork()

    def _wait(self, idx: int) -> State:
        fut = self._futures.get(idx)
        if fut is None:
            raise InvalidArgument(f"stage {idx} is not part of this build")
        try:
            return fut.result()
        except BaseException:
            raise BuildCancelled("a stage this one needs failed") from None

    # -- the build --------------------------------------------------------------------------

    def _deps(self, stage) -> set[int]:
        env = self.build_args.global_env()
        names: list[str] = []
        try:
            names.append(_shell.expand(stage.base, env, escape=self.escape))
        except DockyardError:
            pass
        for ins in stage.instructions:
            flags = ins.flags or {}
            for v in flags.get("from", []) if ins.cmd == "COPY" else []:
                names.append(v)
            if ins.cmd == "RUN":
                for m in flags.get("mount", []):
                    try:
                        spec = parse_mount(m)
                    except DockyardError:
                        continue
                    if spec.opts.get("from"):
                        names.append(spec.opts["from"])
        out = set()
        for n in names:
            try:
                n = _shell.expand(n, env, escape=self.escape)
            except DockyardError:
                continue
            if n.lower() == "scratch":
                continue
            idx = _stage_ref(self.df.stages, n, stage.index)
            if idx is not None:
                out.add(idx)
        return out

    def _plan(self) -> list[int]:
        stages = self.df.stages
        if not stages:
            raise InvalidArgument("the Dockerfile has no FROM: no build stage in the "
                                  "Dockerfile")  # fmt: skip
        self._names = {s.name.lower(): s.index for s in stages if s.name}
        target = len(stages) - 1
        if self.options.target:
            t = self.options.target.lower()
            if t not in self._names:
                raise InvalidArgument(f"failed to reach build target {self.options.target} "
                                      "in Dockerfile")
            target = self._names[t]
        self.target = target
        needed = set()
        todo = [target]
        while todo:
            i = todo.pop()
            if i in needed:
                continue
            needed.add(i)
            todo.extend(self._deps(stages[i]))
        order = sorted(needed)
        # docker numbers the ARGs before FROM and every instruction up to the target's
        # last, also of the stages this build can skip
        first = 1 + len(self.df.global_args)
        for i in range(target + 1):
            self._step_no[i] = first - 1
            n = 1 + len(stages[i].instructions)
            if i == target and self.options.labels:
                n += 1
            first += n
        self.total_steps = first - 1
        return order

    def _global_args(self) -> None:
        for ins in self.df.global_args:
            for k, v in ins.pairs:
                given, value = self.build_args.lookup(k)
                if not given or value is None:
                    value = (_shell.expand(v, self.build_args.global_env(), escape=self.escape)
                             if v is not None else None)
                self.build_args.globals[k] = value

    def run(self) -> str:
        from . import context as _context

        name = self.options.dockerfile or "Dockerfile"
        text = _context.read_dockerfile(self.context_dir, name)
        _context.drop_ignored_build_files(self.context_dir, name)
        self.df = _dockerfile.parse(text)
        self.escape = self.df.escape or "\\"
        sde = self.options.build_args.get("SOURCE_DATE_EPOCH")
        if sde is not None:
            self.build_args.lookup("SOURCE_DATE_EPOCH")
            if not str(sde).isdigit():
                raise InvalidArgument(f"invalid SOURCE_DATE_EPOCH: {sde!r}")
            self.epoch = int(sde)
        if self.options.platform:
            want, host = parse_platform(self.options.platform), host_platform()
            if want[:2] != host[:2]:
                raise InvalidArgument(f"platform {self.options.platform} is not supported: "
                                      f"this host builds for {host[0]}/{host[1]} only")
        self._global_args()
        order = self._plan()
        self.cache_sources = self._load_cache_sources()
        self._from_lines = {s.index: self._from_original(s) for s in self.df.stages}
        self.output = Output(self.emit, order, self.options.quiet)
        for t in self.options.tags:
            self.images.parse_tag(t)
        for n, ins in enumerate(self.df.global_args, 1):
            self.output.stream(None, f"Step {n}/{self.total_steps} : {ins.original}\n")
        try:
            final = self._run_stages(order)
            return self._finish(final)
        except BaseException:
            self.output.flush_all()
            self.output.release_held()
            raise
        finally:
            self._cleanup()

    def _from_original(self, stage) -> str:
        ins = getattr(stage, "from_instruction", None)
        if ins is not None and ins.original:
            return ins.original
        out = "FROM "
        if stage.platform:
            out += f"--platform={stage.platform} "
        out += stage.base
        if stage.name:
            out += f" AS {stage.name}"
        return out

    def _run_stages(self, order: list[int]) -> State:
        for i in order:
            self._futures[i] = concurrent.futures.Future()
        errors: list[BaseException] = []

        def work(i: int) -> None:
            fut = self._futures[i]
            sb = StageBuild(self, self.df.stages[i], i == self.target)
            try:
                fut.set_result(sb.run())
            except BaseException as e:  # noqa: BLE001 - reported by the build
                with self._lock:
                    errors.append(e)
                self.cancel()
                fut.set_exception(e)
            finally:
                self.output.close(i)

        threads = [threading.Thread(target=work, args=(i,), name=f"build-stage-{i}",
                                    daemon=True) for i in order]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            real = [e for e in errors if not isinstance(e, BuildCancelled)]
            raise (real or errors)[0]
        return self._futures[self.target].result()

    def _finish(self, final: State) -> str:
        images = self.images
        tags = list(self.options.tags)
        if images.exists(final.image_id):
            image_id = final.image_id
            for t in tags:
                images.tag(image_id, t)
        else:
            parent = final.base_id if final.base_id and images.exists(final.base_id) else ""
            img = images.create_image(final.config, final.layers, tags[0] if tags else None,
                                      parent=parent)
            image_id = img.id
            for t in tags[1:]:
                images.tag(image_id, t)
        unused = self.build_args.unconsumed()
        if unused:
            self.output.stream(None, "[Warning] One or more build-args "
                                     f"[{' '.join(unused)}] were not consumed\n")
        self.output.direct({"aux": {"ID": image_id}})
        if self.options.quiet:
            self.output.direct({"stream": image_id + "\n"})
        else:
            self.output.stream(None, f"Successfully built {short(image_id)}\n")
            for t in tags:
                fam = _reference.parse(images.parse_tag(t).full_string()).familiar_string()
                self.output.stream(None, f"Successfully tagged {fam}\n")
        return image_id

    def _cleanup(self) -> None:
        for target in self._views.values():
            try:
                self.images.snapshots.unmount(target)
            except OSError:
                continue  # left for the daemon's next start; never rmtree through it
            shutil.rmtree(target, ignore_errors=True)
        self._views.clear()
        for p in self._tmp:
            shutil.rmtree(p, ignore_errors=True)


def error_message(e: BaseException) -> tuple[str, int]:
    if isinstance(e, StepFailed):
        return e.message, e.code
    if isinstance(e, DockyardError):
        return str(e), 1
    return f"internal error: {e}", 1


def build_json_error(e: BaseException) -> dict:
    msg, code = error_message(e)
    return {"errorDetail": {"message": msg, "code": code}, "error": msg}

