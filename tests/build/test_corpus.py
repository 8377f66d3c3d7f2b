"""The Dockerfile corpus: each directory is a context with a Dockerfile, the expected output
of running the built image (``expected``), optional build flags (``flags``) and an optional
subset of ``image inspect`` (``inspect.json``). Built by dockyard and by the real docker CLI
(classic builder), then run."""

from __future__ import annotations

import json
import os
import shlex

import pytest

CORPUS = os.path.join(os.path.dirname(__file__), "corpus")

CASES = sorted(d for d in os.listdir(CORPUS) if os.path.isfile(os.path.join(CORPUS, d,
                                                                             "Dockerfile")))


def _subset(want, got, path="") -> None:
    if isinstance(want, dict):
        assert isinstance(got, dict), (path, got)
        for k, v in want.items():
            assert k in got, (path + "." + k, sorted(got))
            _subset(v, got[k], path + "." + k)
    else:
        assert want == got, (path, want, got)


def test_corpus_size():
    assert len(CASES) >= 25


@pytest.mark.parametrize("case", CASES)
def test_corpus(case, anycli, dy, tags):
    d = os.path.join(CORPUS, case)
    flags: list[str] = []
    if os.path.exists(os.path.join(d, "flags")):
        with open(os.path.join(d, "flags")) as f:
            flags = shlex.split(f.read())
    tag = tags(case.replace("_", "-"))
    r = anycli("build", *flags, "-t", tag, d, timeout=120)
    assert r.returncode == 0, (r.stdout.decode(), r.stderr.decode())
    assert "Successfully built" in r.stdout.decode()
    with open(os.path.join(d, "expected")) as f:
        expected = f.read()
    assert dy.ok("run", "--rm", tag) == expected
    if os.path.exists(os.path.join(d, "inspect.json")):
        with open(os.path.join(d, "inspect.json")) as f:
            want = json.load(f)
        got = json.loads(dy.ok("image", "inspect", tag))[0]
        _subset(want, got)
