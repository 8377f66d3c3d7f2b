"""Multi-stage builds: only the stages the target needs, independent stages at the same time,
COPY --from across them."""

from __future__ import annotations

import os
import uuid

from helpers import steps

# Each stage marks a shared cache mount when it starts and waits (up to 30 s) for the other's
# mark: run one after the other, the first would wait in vain. /proc/uptime gives the times.
PARALLEL = """\
FROM busybox AS left
RUN --mount=type=cache,target=/meet,id={id} sh -c '\\
    cut -d" " -f1 /proc/uptime > /start; touch /meet/left; i=0; \\
    while [ ! -e /meet/right ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; \\
    if [ -e /meet/right ]; then echo saw-right > /saw; else echo alone > /saw; fi; \\
    sleep 0.3; cut -d" " -f1 /proc/uptime > /end'

FROM busybox AS right
RUN --mount=type=cache,target=/meet,id={id} sh -c '\\
    cut -d" " -f1 /proc/uptime > /start; touch /meet/right; i=0; \\
    while [ ! -e /meet/left ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; \\
    if [ -e /meet/left ]; then echo saw-left > /saw; else echo alone > /saw; fi; \\
    sleep 0.3; cut -d" " -f1 /proc/uptime > /end'

FROM busybox AS never
RUN exit 7

FROM busybox
COPY --from=left /start /left/start
COPY --from=left /end /left/end
COPY --from=left /saw /left/saw
COPY --from=right /start /right/start
COPY --from=right /end /right/end
COPY --from=right /saw /right/saw
CMD ["sh", "-c", "cat /left/start /left/end /left/saw /right/start /right/end /right/saw"]
"""


def test_independent_stages_overlap_and_unneeded_stages_are_skipped(dy, ctx, tags):
    d = ctx({"Dockerfile": PARALLEL.format(id=uuid.uuid4().hex)})
    tag = tags()
    out = dy.ok("build", "-t", tag, d)
    assert "exit 7" not in out  # the stage nothing needs is not built
    lines = dy.ok("run", "--rm", tag).split()
    l_start, l_end, l_saw, r_start, r_end, r_saw = lines
    assert (l_saw, r_saw) == ("saw-right", "saw-left")
    assert float(l_start) < float(r_end) and float(r_start) < float(l_end)


def test_output_keeps_dockerfile_order(dy, ctx, tags):
    d = ctx({"Dockerfile": "FROM busybox AS a\nRUN echo stage-a\n\nFROM busybox AS b\n"
                           "RUN echo stage-b\n\nFROM busybox\nCOPY --from=a /bin/sh /a\n"
                           "COPY --from=b /bin/sh /b\n"})
    out = dy.ok("build", "--no-cache", "-t", tags(), d)
    texts = [t for t, _ in steps(out)]
    assert texts == ["RUN echo stage-a", "RUN echo stage-b", "COPY --from=a /bin/sh /a",
                     "COPY --from=b /bin/sh /b"]
    assert out.index("stage-a\n") < out.index("Step 3/7 : FROM busybox AS b") < out.index("stage-b\n")


def test_stage_used_as_base_and_by_name_case_insensitive(dy, ctx, tags):
    d = ctx({"Dockerfile": "FROM busybox AS Base\nRUN echo from-base > /base\n\n"
                           "FROM base AS mid\nRUN cat /base > /mid\n\n"
                           "FROM busybox\nCOPY --from=MID /mid /final\n"
                           "CMD [\"cat\", \"/final\"]\n"})
    tag = tags()
    dy.ok("build", "-t", tag, d)
    assert dy.ok("run", "--rm", tag) == "from-base\n"


def test_target_builds_only_what_it_needs(dy, ctx, tags):
    d = ctx({"Dockerfile": "FROM busybox AS dep\nRUN echo dep > /dep\n\n"
                           "FROM busybox AS broken\nRUN exit 3\n\n"
                           "FROM busybox AS want\nCOPY --from=dep /dep /dep\n"
                           "CMD [\"cat\", \"/dep\"]\n\nFROM want\nRUN exit 4\n"})
    tag = tags()
    out = dy.ok("build", "--target", "want", "-t", tag, d)
    assert "exit 3" not in out and "exit 4" not in out
    assert dy.ok("run", "--rm", tag) == "dep\n"


def test_a_failing_stage_stops_the_others(dy, daemon, ctx):
    d = ctx({"Dockerfile": "FROM busybox AS slow\nRUN echo slow-started; sleep 120\n\n"
                           "FROM busybox AS bad\nRUN sleep 1; exit 9\n\n"
                           "FROM busybox\nCOPY --from=slow /bin/sh /a\nCOPY --from=bad /bin/sh /b\n"})
    r = dy("build", d, timeout=100)
    assert r.returncode == 9
    assert "returned a non-zero code: 9" in r.stderr.decode()
    assert os.listdir(os.path.join(daemon.exec_root, "build", "runc")) == []


def test_global_args_are_numbered_steps(dy, ctx, tags):
    d = ctx({"Dockerfile": "ARG BASE=busybox\nFROM $BASE\nRUN true\n"})
    out = dy.ok("build", "-t", tags(), d)
    assert "Step 1/3 : ARG BASE=busybox\nStep 2/3 : FROM $BASE\n" in out
