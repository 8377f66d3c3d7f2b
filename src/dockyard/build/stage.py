"""One stage of a build: FROM, ONBUILD triggers, then each instruction through the cache."""

from __future__ import annotations

import json
import logging
import time

from ..errors import DockyardError, InvalidArgument
from ..util import rfc3339_nano
from . import shell as _shell
from .args import StageArgs
from .cache import step_key
from .state import State
from .step import Step, StepFailed
from .steps_fs import plan_add, plan_copy, plan_workdir
from .steps_meta import PLANNERS
from .steps_run import plan_run

log = logging.getLogger(__name__)

_PLANNERS = dict(PLANNERS, RUN=plan_run, COPY=plan_copy, ADD=plan_add, WORKDIR=plan_workdir)


class _LabelIns:
    """The extra LABEL step ``--label`` adds at the end of the target stage (as Docker)."""

    cmd = "LABEL"
    json_form = False
    flags: dict = {}
    heredocs: list = []
    sub = None
    args: list = []

    def __init__(self, labels: dict[str, str], lineno: int):
        self.pairs = [(k, v) for k, v in labels.items()]
        self.lineno = lineno
        self.original = "LABEL " + " ".join(f"{json.dumps(k)}={json.dumps(v)}"
                                             for k, v in labels.items())


def _located(e: BaseException, lineno: int, text: str) -> BaseException:
    """The error with the Dockerfile line it happened on (RUN exits keep Docker's text)."""
    if isinstance(e, StepFailed) and e.exact:
        return e
    from .builder import BuildCancelled

    if isinstance(e, BuildCancelled):
        return e
    msg = e.message if isinstance(e, StepFailed) else str(e)
    code = e.code if isinstance(e, StepFailed) else 1
    where = f"Dockerfile line {lineno}: " if lineno else ""
    return StepFailed(f"{msg} ({where}{text.strip()})", code)


def short(image_id: str) -> str:
    return image_id.split(":", 1)[-1][:12]


class StageBuild:
    def __init__(self, build, stage, is_target: bool):
        self.builder = build
        self.stage = stage
        self.index = stage.index
        self.is_target = is_target
        self.args = StageArgs(build.build_args)
        self.state: State = State.scratch()
        self.cmd_set = False
        self.last_key = ""  # the step before (a cache row's parent)

    # -- helpers used by the planners -------------------------------------------------------

    def env(self) -> dict[str, str]:
        env = self.args.values()
        env.update(self.state.env)
        return env

    def expand(self, word: str, env: dict[str, str]) -> str:
        return _shell.expand(word, env, escape=self.builder.escape)

    def expand_words(self, text: str, env: dict[str, str]) -> list[str]:
        return _shell.expand_words(text, env, escape=self.builder.escape)

    def out(self, text: str) -> None:
        self.builder.output.stream(self.index, text)

    # -- running --------------------------------------------------------------------------

    def run(self) -> State:
        b = self.builder
        st = self.stage
        self._step_header(st.lineno, self._from_text())
        try:
            self.state = b.resolve_base(self)
        except (DockyardError, StepFailed) as e:
            raise _located(e, st.lineno, self._from_text()) from None
        self.out(f" ---> {short(self.state.image_id)}\n" if self.state.image_id != "scratch"
                 else " ---> \n")
        self._onbuild()
        for ins in st.instructions:
            b.check_cancelled()
            self._step_header(ins.lineno, ins.original)
            self.instruction(ins)
        if self.is_target and b.options.labels:
            ins = _LabelIns(b.options.labels, 0)
            self._step_header(0, ins.original)
            self.instruction(ins)
        return self.state

    def _from_text(self) -> str:
        return self.builder.from_text(self.stage)

    def _step_header(self, lineno: int, text: str) -> None:
        n = self.builder.next_step(self.index)
        self.out(f"Step {n}/{self.builder.total_steps} : {text}\n")

    def _onbuild(self) -> None:
        triggers = list(self.state.cc.get("OnBuild") or [])
        if not triggers:
            return
        self.out(f"# Executing {len(triggers)} build trigger{'s' if len(triggers) > 1 else ''}\n")
        self.state = self.state.fork()
        self.state.cc["OnBuild"] = None
        for text in triggers:
            ins = self.builder.parse_trigger(text)
            self.instruction(ins)

    def instruction(self, ins) -> None:
        planner = _PLANNERS.get(ins.cmd)
        if planner is None:
            raise InvalidArgument(f"unknown instruction: {ins.cmd}")
        try:
            plan = planner(self, ins)
            self.execute(plan)
        except (DockyardError, StepFailed) as e:
            raise _located(e, ins.lineno, ins.original) from None

    def execute(self, plan: Step) -> None:
        t0 = time.perf_counter()
        try:
            self._execute(plan)
        finally:
            log.debug("build step %s: %.0f ms", plan.key_text[:60],
                      (time.perf_counter() - t0) * 1e3)

    def _execute(self, plan: Step) -> None:
        b = self.builder
        # the epoch changes times in configs and layers: part of every key when set
        key = step_key(self.state.image_id, plan.key_text, args=plan.args,
                       sources=plan.sources,
                       extra="" if b.epoch is None else f"epoch={b.epoch}")
        if plan.cacheable and not b.options.no_cache:
            hit = b.cached(key, self.state, plan)
            if hit is not None:
                self.state = hit
                self.last_key = key
                self.out(" ---> Using cache\n")
                self.out(f" ---> {short(hit.image_id)}\n")
                return
        new = self.state.fork()
        if plan.apply is not None:
            plan.apply(new)
        layer = None
        if plan.act is not None:
            with b.work_slots:
                b.check_cancelled()
                layer = plan.act(new)
        created = rfc3339_nano(b.epoch) if b.epoch is not None else rfc3339_nano()
        raw = new.commit(plan.created_by, created, layer)
        b.cache.put(key, new.image_id, raw, new.layers,
                    layer.unpacked_size if layer is not None else 0,
                    plan.created_by, self.last_key)
        self.last_key = key
        self.state = new
        self.out(f" ---> {short(new.image_id)}\n")
