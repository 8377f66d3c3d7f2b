"""Build errors: docker's wording, the Dockerfile line, docker's exit codes, and nothing left
behind (no tag, no step container, no mount)."""

from __future__ import annotations

import os

import pytest


def _fail(cli, d: str, *args: str):
    r = cli("build", *args, d)
    assert r.returncode != 0, r.stdout
    return r, r.stdout.decode() + r.stderr.decode()


@pytest.mark.parametrize("dockerfile, expect", [
    ("FROM busybox\nFOO bar\n", "dockerfile parse error line 2: unknown instruction: FOO"),
    ("FROM busybox\nRUN true\nENV\n", "dockerfile parse error line 3: ENV requires at least "
                                      "one argument"),
    ("FROM busybox\nCOPY missing.txt /x\n", "COPY failed: file not found in build context or "
                                           "excluded by .dockerignore: stat missing.txt: file "
                                           "does not exist (Dockerfile line 2: COPY missing.txt"),
    ("FROM busybox\nCOPY --from=127.0.0.1:1/nostage /x /x\n",
     "invalid from flag value 127.0.0.1:1/nostage"),
    ("FROM busybox\n\nADD http://127.0.0.1:1/file /f\n",
     "failed to download http://127.0.0.1:1/file"),
    ("FROM --platform=linux/s390x busybox\n", "this host runs linux/"),
])
def test_error_messages(anycli, ctx, dockerfile, expect):
    r, text = _fail(anycli, ctx({"Dockerfile": dockerfile}))
    assert expect in text
    assert r.returncode == 1


def test_unknown_target(anycli, ctx):
    r, text = _fail(anycli, ctx({"Dockerfile": "FROM busybox AS one\n"}), "--target", "two")
    assert "failed to reach build target two in Dockerfile" in text


def test_missing_excluded_source_is_reported_with_its_line(dy, ctx):
    d = ctx({"Dockerfile": "FROM busybox\nCOPY secret.key /k\n", ".dockerignore": "*.key\n",
             "secret.key": "s"})
    _r, text = _fail(dy, d)
    assert "excluded by .dockerignore" in text and "line 2" in text


def test_failing_run_gives_command_code_and_leaves_nothing(anycli, dy, daemon, ctx, tags):
    tag = tags()
    before_ps = dy.ok("ps", "-aq")
    d = ctx({"Dockerfile": "FROM busybox\nRUN echo before\nRUN [\"sh\", \"-c\", \"exit 42\"]\n"})
    r, text = _fail(anycli, d, "-t", tag)
    assert "The command 'sh -c exit 42' returned a non-zero code: 42" in text
    assert r.returncode == 42
    assert dy("image", "inspect", tag).returncode != 0
    assert dy.ok("ps", "-aq") == before_ps
    runc_root = os.path.join(daemon.exec_root, "build", "runc")
    assert os.listdir(runc_root) == []
    with open("/proc/self/mountinfo") as f:
        assert os.path.join(daemon.root, "build") not in f.read()


def test_shell_form_failure_message(dy, ctx):
    r, text = _fail(dy, ctx({"Dockerfile": "FROM busybox\nRUN exit 3\n"}))
    assert "The command '/bin/sh -c exit 3' returned a non-zero code: 3" in text
    assert r.returncode == 3


def test_later_stage_failure_tags_nothing(dy, ctx, tags):
    tag = tags()
    d = ctx({"Dockerfile": "FROM busybox AS ok\nRUN echo fine\n\nFROM ok\nRUN false\n"})
    _fail(dy, d, "-t", tag)
    assert dy("image", "inspect", tag).returncode != 0


def test_unused_build_arg_warning(dy, ctx, tags):
    d = ctx({"Dockerfile": "FROM busybox\nARG USED\nRUN echo $USED\n"})
    out = dy.ok("build", "--build-arg", "USED=1", "--build-arg", "EXTRA=2",
                "--build-arg", "HTTP_PROXY=http://127.0.0.1:9", "-t", tags(), d)
    assert "[Warning] One or more build-args [EXTRA] were not consumed" in out


def test_quiet_build_shows_its_output_when_it_fails(dy, ctx):
    r = dy("build", "-q", ctx({"Dockerfile": "FROM busybox\nRUN echo visible-output; exit 2\n"}))
    assert r.returncode == 2
    assert "visible-output" in r.stdout.decode()
    ok = dy("build", "-q", ctx({"Dockerfile": "FROM busybox\nRUN echo hidden-output\n"}))
    assert ok.returncode == 0 and "hidden-output" not in ok.stdout.decode()
    assert ok.stdout.decode().startswith("sha256:")
