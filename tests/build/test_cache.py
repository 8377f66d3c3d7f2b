"""The build cache: a step is reused exactly when its parent, its text after substitution,
the build args it sees and the content of the files it copies are the same."""

from __future__ import annotations

import os
import uuid

from helpers import image_id, inspect, steps


def build(dy, *args: str) -> str:
    return dy.ok("build", *args)


def hits(output: str) -> list[bool]:
    return [hit for _text, hit in steps(output)]


def test_unchanged_rebuild_hits_every_step_and_gives_the_same_image(dy, ctx, tags):
    d = ctx({"Dockerfile": "FROM busybox\nENV A=1\nCOPY f /f\nRUN cat /f > /g\n"
                           "CMD [\"cat\", \"/g\"]\n", "f": "one\n"})
    tag = tags()
    first = build(dy, "-t", tag, d)
    assert hits(first) == [False] * 4
    second = build(dy, "-t", tag, d)
    assert hits(second) == [True] * 4
    assert image_id(first) == image_id(second)
    assert dy.ok("run", "--rm", tag) == "one\n"


def test_same_text_different_arg_value_misses(dy, ctx, tags):
    d = ctx({"Dockerfile": "FROM busybox\nARG V\nRUN echo \"v=$V\" > /v\nCMD [\"cat\", \"/v\"]\n"})
    t1, t2, t3 = tags(), tags(), tags()
    out1 = build(dy, "--build-arg", "V=1", "-t", t1, d)
    out2 = build(dy, "--build-arg", "V=2", "-t", t2, d)
    assert hits(out2) == [True, False, False]  # ARG itself is the same step
    assert dy.ok("run", "--rm", t2) == "v=2\n"
    out3 = build(dy, "--build-arg", "V=1", "-t", t3, d)
    assert hits(out3) == [True, True, True]
    assert image_id(out3) == image_id(out1)
    assert dy.ok("run", "--rm", t3) == "v=1\n"


def test_content_changed_with_mtime_kept_misses(dy, ctx, tags):
    d = ctx({"Dockerfile": "FROM busybox\nCOPY data.txt /data.txt\nCMD [\"cat\", \"/data.txt\"]\n",
             "data.txt": "AAAA\n"})
    path = os.path.join(d, "data.txt")
    os.utime(path, (1_600_000_000, 1_600_000_000))
    tag = tags()
    build(dy, "-t", tag, d)
    with open(path, "w") as f:
        f.write("BBBB\n")  # same size
    os.utime(path, (1_600_000_000, 1_600_000_000))  # same mtime
    out = build(dy, "-t", tag, d)
    assert hits(out) == [False, False]
    assert dy.ok("run", "--rm", tag) == "BBBB\n"


def test_renamed_file_misses(dy, ctx, tags):
    d = ctx({"Dockerfile": "FROM busybox\nCOPY dir/ /dir/\nCMD [\"ls\", \"/dir\"]\n",
             "dir/a.txt": "same\n"})
    tag = tags()
    build(dy, "-t", tag, d)
    os.rename(os.path.join(d, "dir/a.txt"), os.path.join(d, "dir/b.txt"))
    out = build(dy, "-t", tag, d)
    assert hits(out) == [False, False]
    assert dy.ok("run", "--rm", tag) == "b.txt\n"


def test_changed_parent_misses_every_later_step(dy, ctx, tags):
    text = "FROM busybox\nENV X={x}\nRUN echo $X > /x\nRUN cat /x > /y\nCMD [\"cat\", \"/y\"]\n"
    d = ctx({"Dockerfile": text.format(x="1")})
    tag = tags()
    build(dy, "-t", tag, d)
    with open(os.path.join(d, "Dockerfile"), "w") as f:
        f.write(text.format(x="2"))
    out = build(dy, "-t", tag, d)
    assert hits(out) == [False, False, False, False]
    assert dy.ok("run", "--rm", tag) == "2\n"


def test_changed_late_step_keeps_earlier_hits(dy, ctx, tags):
    text = "FROM busybox\nRUN echo base > /b\nCOPY f /f\nRUN cat /b /f > /out\n"
    d = ctx({"Dockerfile": text, "f": "1\n"})
    tag = tags()
    build(dy, "-t", tag, d)
    with open(os.path.join(d, "f"), "w") as f:
        f.write("2\n")
    out = build(dy, "-t", tag, d)
    assert hits(out) == [True, False, False]


def test_no_cache_rebuilds_everything(dy, ctx, tags):
    d = ctx({"Dockerfile": "FROM busybox\nENV A=1\nRUN echo hi > /hi\n"})
    tag = tags()
    build(dy, "-t", tag, d)
    out = build(dy, "--no-cache", "-t", tag, d)
    assert "Using cache" not in out
    assert "Running in" in out


def test_ignored_file_changes_do_not_bust_copy_dot(dy, ctx, tags):
    d = ctx({"Dockerfile": "FROM busybox\nCOPY . /ctx/\nCMD [\"ls\", \"-a\", \"/ctx\"]\n",
             ".dockerignore": "*.log\n", "keep.txt": "k\n", "noise.log": "1\n"})
    tag = tags()
    build(dy, "-t", tag, d)
    with open(os.path.join(d, "noise.log"), "w") as f:
        f.write("2, and longer\n")
    out = build(dy, "-t", tag, d)
    assert hits(out) == [True, True]
    assert "noise.log" not in dy.ok("run", "--rm", tag)


def test_metadata_instructions_make_no_layer(dy, ctx, tags):
    d = ctx({"Dockerfile": "FROM busybox\nENV A=1\nLABEL l=v\nEXPOSE 80\nUSER root\n"
                           "RUN echo x > /x\nCMD [\"sh\"]\n"})
    tag = tags()
    build(dy, "-t", tag, d)
    base = inspect(dy, "busybox")
    img = inspect(dy, tag)
    assert len(img["RootFS"]["Layers"]) == len(base["RootFS"]["Layers"]) + 1
    hist = dy.ok("history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Size}}", tag)
    rows = hist.splitlines()
    assert any("ENV A=1" in r and r.endswith("|0B") for r in rows)
    assert any("echo x > /x" in r and not r.endswith("|0B") for r in rows)


def test_cache_mount_persists_between_builds(dy, ctx, tags):
    text = ("FROM busybox\nARG N\nRUN --mount=type=cache,target=/cache,id=counter-{id} "
            "sh -c 'echo run >> /cache/runs; wc -l < /cache/runs > /count'\n"
            "CMD [\"cat\", \"/count\"]\n")
    d = ctx({"Dockerfile": text.format(id=uuid.uuid4().hex[:8])})
    t1, t2 = tags(), tags()
    build(dy, "--build-arg", "N=1", "-t", t1, d)
    build(dy, "--build-arg", "N=2", "-t", t2, d)
    assert dy.ok("run", "--rm", t1).strip() == "1"
    assert dy.ok("run", "--rm", t2).strip() == "2"


def test_builder_prune_empties_the_cache(dy, ctx, tags):
    d = ctx({"Dockerfile": "FROM busybox\nRUN echo prune-me > /p\n"})
    tag = tags()
    build(dy, "-t", tag, d)
    assert hits(build(dy, "-t", tag, d)) == [True]
    out = dy.ok("builder", "prune", "-a", "-f")
    assert "Total reclaimed space" in out
    assert hits(build(dy, "-t", tag, d)) == [False]


def test_builder_prune_without_all_keeps_what_images_use(dy, ctx, tags):
    u = uuid.uuid4().hex
    kept = ctx({"Dockerfile": f"FROM busybox\nRUN echo {u} > /kept\n"})
    dropped = ctx({"Dockerfile": f"FROM busybox\nRUN echo {u} > /dropped\n"})
    tag, gone = tags(), tags()
    dy.ok("build", "-t", tag, kept)
    dy.ok("build", "-t", gone, dropped)
    dy.ok("rmi", gone)
    dy.ok("builder", "prune", "-f")
    assert hits(build(dy, "-t", tag, kept)) == [True]
    assert hits(build(dy, "-t", gone, dropped)) == [False]
