"""What docker-py and the docker CLI see of the classic builder: stderr in red, --cache-from
as the only cache source, step numbers up to the target, the build cache in system df."""

from __future__ import annotations

import io
import json
import tarfile
from urllib.parse import quote

from helpers import steps

from apiclient import request


def _tar(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def api_build(daemon, dockerfile: str, **params: str) -> list[dict]:
    query = "&".join(f"{k}={quote(v)}" for k, v in params.items())
    status, _h, body = request(daemon.sock, "POST", f"/v1.43/build?{query}",
                               raw=_tar({"Dockerfile": dockerfile}),
                               headers={"Content-Type": "application/x-tar"})
    assert status == 200, body
    msgs = [json.loads(line) for line in body.splitlines() if line.strip()]
    assert not [m for m in msgs if "error" in m], msgs
    return msgs


def text_of(msgs: list[dict]) -> str:
    return "".join(m.get("stream", "") for m in msgs)


def built_id(msgs: list[dict]) -> str:
    return [m["aux"]["ID"] for m in msgs if "aux" in m][-1]


def test_run_stderr_comes_in_red(daemon):
    msgs = api_build(daemon, "FROM busybox\nRUN sh -c 'echo to-out; >&2 echo to-err'\n",
                     nocache="1", rm="1")
    streams = [m.get("stream") for m in msgs]
    assert "\x1b[91mto-err\n\x1b[0m" in streams  # docker-py's test_build_stderr_data
    assert "to-out\n" in "".join(s for s in streams if s)
    daemon.cli("rmi", built_id(msgs))


def test_cache_from_is_the_only_cache_source(fresh_daemon):
    d = fresh_daemon
    d.import_busybox()
    df = "FROM busybox\nENV FOO=bar\nRUN touch baz\nRUN touch bax\n"
    first = api_build(d, df, t="src1")
    # a missing cache-from image: nothing is cached, not even what the local cache holds
    miss = api_build(d, df, t="other", cachefrom=json.dumps(["nosuchtag"]))
    assert [hit for _t, hit in steps(text_of(miss))] == [False] * 3
    # the local cache rows gone, the image itself still gives every step
    assert d.cli("builder", "prune", "-af").returncode == 0
    hit = api_build(d, df, t="build2", cachefrom=json.dumps(["src1"]))
    assert [h for _t, h in steps(text_of(hit))] == [True] * 3
    assert built_id(hit) == built_id(first)
    # a changed step misses, and every step after it
    df2 = "FROM busybox\nENV FOO=baz\nRUN touch baz\nRUN touch bax\n"
    changed = api_build(d, df2, cachefrom=json.dumps(["src1"]))
    assert [h for _t, h in steps(text_of(changed))] == [False] * 3
    # a Dockerfile that is a prefix of the source's: its steps hit too
    prefix = api_build(d, "FROM busybox\nENV FOO=bar\nRUN touch baz\n",
                       cachefrom=json.dumps(["src1"]))
    assert [h for _t, h in steps(text_of(prefix))] == [True] * 2


def test_steps_numbered_up_to_the_target(daemon):
    df = ("ARG X=1\nFROM busybox AS a\nRUN echo a\nFROM busybox AS b\nRUN echo b\n"
          "FROM busybox AS c\nCOPY --from=a /bin/sh /x\nFROM busybox AS d\nRUN echo d\n")
    msgs = api_build(daemon, df, target="c")
    heads = [ln for ln in text_of(msgs).splitlines() if ln.startswith("Step ")]
    # as docker's classic builder (checked with DOCKER_BUILDKIT=0): stage b counts, d not
    assert heads == ["Step 1/7 : ARG X=1", "Step 2/7 : FROM busybox AS a",
                     "Step 3/7 : RUN echo a", "Step 6/7 : FROM busybox AS c",
                     "Step 7/7 : COPY --from=a /bin/sh /x"]
    daemon.cli("rmi", built_id(msgs))


def test_system_df_lists_the_build_cache(fresh_daemon):
    d = fresh_daemon
    d.import_busybox()
    api_build(d, "FROM busybox\nRUN echo hi > /f\nENV A=1\n", t="dfcache")
    status, _h, body = request(d.sock, "GET", "/v1.43/system/df")
    assert status == 200
    df = json.loads(body)
    cache = df["BuildCache"]
    assert len(cache) == 2
    run = next(c for c in cache if "echo hi" in c["Description"])
    env = next(c for c in cache if "ENV A=1" in c["Description"])
    assert env["Parent"] == run["ID"] and run["Type"] == "regular"
    assert run["Size"] > 0 and run["Shared"] and not run["InUse"]
    assert {"CreatedAt", "LastUsedAt", "UsageCount"} <= set(run)
    assert df["BuilderSize"] == sum(c["Size"] for c in cache)
    out = d.cli("system", "df").stdout.decode()
    row = next(ln for ln in out.splitlines() if ln.startswith("Build Cache"))
    assert row.split()[2] == "2"
    # the image gone, its layer is only the cache's: no longer shared
    d.cli("rmi", "dfcache")
    status, _h, body = request(d.sock, "GET", "/v1.43/system/df")
    cache = json.loads(body)["BuildCache"]
    assert not next(c for c in cache if "echo hi" in c["Description"])["Shared"]


def test_rm_option_decides_the_removal_line(daemon):
    df = "FROM busybox\nRUN echo step\n"
    kept = api_build(daemon, df, nocache="1", rm="0")
    assert "Removing intermediate container" not in text_of(kept)
    removed = api_build(daemon, df, nocache="1")  # rm defaults to true
    assert "Removing intermediate container" in text_of(removed)
    daemon.cli("rmi", built_id(kept), built_id(removed))
