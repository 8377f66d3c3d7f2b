"""Client forms: docker-py's images.build, stdin contexts, -f, -q, --iidfile, --label,
.dockerignore applied on both sides, secrets and ADD from a loopback URL."""

from __future__ import annotations

import http.server
import io
import os
import subprocess
import tarfile
import threading

import pytest
from helpers import inspect

BASIC = "FROM busybox\nARG WHO=nobody\nRUN echo \"hi $WHO\" > /hi\nCMD [\"cat\", \"/hi\"]\n"


def test_docker_py_images_build(daemon, ctx, tags, dy):
    docker = pytest.importorskip("docker")
    client = docker.DockerClient(base_url=daemon.host, version="1.43")
    try:
        tag = tags()
        image, logs = client.images.build(path=ctx({"Dockerfile": BASIC}), tag=tag,
                                          buildargs={"WHO": "docker-py"}, rm=True)
        text = "".join(x.get("stream", "") for x in logs)
        assert "Step 3/4 : RUN" in text and "Successfully tagged" in text
        assert tag in image.tags
        assert dy.ok("run", "--rm", tag) == "hi docker-py\n"
        # a failing build raises BuildError with docker's message
        with pytest.raises(docker.errors.BuildError) as e:
            client.images.build(fileobj=io.BytesIO(b"FROM busybox\nRUN exit 5\n"), rm=True)
        assert "returned a non-zero code: 5" in str(e.value)
        # a custom gzip context
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tf:
            data = b"FROM busybox\nCOPY f /f\nCMD [\"cat\", \"/f\"]\n"
            for name, content in (("Dockerfile", data), ("f", b"gz context\n")):
                ti = tarfile.TarInfo(name)
                ti.size = len(content)
                tf.addfile(ti, io.BytesIO(content))
        buf.seek(0)
        tag2 = tags()
        client.images.build(fileobj=buf, custom_context=True, encoding="gzip", tag=tag2)
        assert dy.ok("run", "--rm", tag2) == "gz context\n"
    finally:
        client.close()


def test_quiet_and_iidfile(anycli, dy, ctx, tags, tmp_path):
    tag = tags()
    iid = tmp_path / "iid"
    out = anycli.ok("build", "-q", "--iidfile", str(iid), "-t", tag, ctx({"Dockerfile": BASIC}))
    image_id = inspect(dy, tag)["Id"]
    assert out.strip() == image_id
    assert iid.read_text().strip() == image_id  # docker 20.10 -q keeps the newline


def test_dockerfile_on_stdin_and_tar_context_on_stdin(anycli, dy, ctx, tags):
    tag = tags()
    r = anycli("build", "-t", tag, "-", input=BASIC.encode())
    assert r.returncode == 0, r.stderr
    assert dy.ok("run", "--rm", tag) == "hi nobody\n"
    d = ctx({"Dockerfile": "FROM busybox\nCOPY f /f\nCMD [\"cat\", \"/f\"]\n", "f": "tar\n"})
    tar = subprocess.run(["tar", "-C", d, "-cz", "."], capture_output=True, check=True).stdout
    tag2 = tags()
    r = anycli("build", "-t", tag2, "-", input=tar)
    assert r.returncode == 0, r.stderr
    assert dy.ok("run", "--rm", tag2) == "tar\n"


def test_file_flag_stdin_and_custom_path_with_its_own_ignore_file(anycli, dy, ctx, tags):
    d = ctx({"sub/Custom.df": "FROM busybox\nCOPY . /ctx/\nCMD [\"ls\", \"/ctx\"]\n",
             "sub/Custom.df.dockerignore": "b.txt\n", ".dockerignore": "a.txt\n",
             "a.txt": "a", "b.txt": "b"})
    tag = tags()
    anycli.ok("build", "-f", os.path.join(d, "sub/Custom.df"), "-t", tag, d)
    listed = dy.ok("run", "--rm", tag).split()
    if anycli.name == "dockyard":  # BuildKit's rule; docker 20.10's classic CLI ignores it
        assert "a.txt" in listed and "b.txt" not in listed
    tag2 = tags()
    r = anycli("build", "-f", "-", "-t", tag2, d,
               input=b"FROM busybox\nCOPY . /ctx/\nCMD [\"ls\", \"/ctx\"]\n")
    assert r.returncode == 0, r.stderr
    listed = dy.ok("run", "--rm", tag2).split()
    assert "a.txt" not in listed and "b.txt" in listed


def test_dockerignore_patterns(anycli, dy, ctx, tags):
    d = ctx({"Dockerfile": "FROM busybox\nCOPY . /ctx/\nCMD [\"find\", \"/ctx\"]\n",
             ".dockerignore": "# comment\n*.log\n**/*.tmp\nbuild\n!build/keep.txt\n"
                              "docs/*.md\n!docs/README.md\n",
             "app.log": "x", "src/x.tmp": "x", "src/main.c": "x", "src/deep/y.tmp": "y",
             "build/out.o": "x", "build/keep.txt": "k", "docs/a.md": "a",
             "docs/README.md": "r"})
    tag = tags()
    anycli.ok("build", "-t", tag, d)
    found = set(dy.ok("run", "--rm", tag).split())
    assert {"/ctx/src/main.c", "/ctx/build/keep.txt", "/ctx/docs/README.md",
            "/ctx/Dockerfile", "/ctx/.dockerignore"} <= found
    assert not found & {"/ctx/app.log", "/ctx/src/x.tmp", "/ctx/src/deep/y.tmp",
                        "/ctx/build/out.o", "/ctx/docs/a.md"}


def test_labels_flag_adds_a_label_step(anycli, dy, ctx, tags):
    tag = tags()
    out = anycli.ok("build", "--label", "built.by=test", "--label", "k=v w", "-t", tag,
                    ctx({"Dockerfile": BASIC}))
    assert "LABEL" in out
    labels = inspect(dy, tag)["Config"]["Labels"]
    assert labels["built.by"] == "test" and labels["k"] == "v w"


def test_secret_is_usable_but_never_stored(dy, daemon, ctx, tags, tmp_path):
    secret = tmp_path / "token"
    secret.write_text("s3cr3t-value\n")
    d = ctx({"Dockerfile": "FROM busybox\nRUN --mount=type=secret,id=tok "
                           "sh -c 'wc -c < /run/secrets/tok > /len'\n"
                           "RUN --mount=type=secret,id=tok,target=/etc/tok cat /etc/tok | "
                           "wc -l > /lines\nCMD [\"cat\", \"/len\", \"/lines\"]\n"})
    tag = tags()
    dy.ok("build", "--secret", f"id=tok,src={secret}", "-t", tag, d)
    assert dy.ok("run", "--rm", tag).split() == ["13", "1"]
    assert dy("run", "--rm", tag, "ls", "/run/secrets").returncode != 0
    saved = subprocess.run([dy.argv[0], "-H", daemon.host, "save", tag], capture_output=True,
                           check=True).stdout
    assert b"s3cr3t-value" not in saved
    import gzip
    with tarfile.open(fileobj=io.BytesIO(saved)) as tf:
        for m in tf.getmembers():
            if m.isfile():
                data = tf.extractfile(m).read()
                if data[:2] == b"\x1f\x8b":
                    data = gzip.decompress(data)
                assert b"s3cr3t-value" not in data, m.name
    with open(os.path.join(daemon.root, "meta.db"), "rb") as f:
        assert b"s3cr3t-value" not in f.read()


def test_add_from_a_loopback_url(dy, ctx, tags, tmp_path):
    (tmp_path / "served.txt").write_text("downloaded\n")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(tmp_path), **kw)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        url = f"http://127.0.0.1:{srv.server_port}"
        d = ctx({"Dockerfile": f"FROM busybox\nADD {url}/served.txt /dl/\n"
                               f"ADD {url}/served.txt /named.txt\n"
                               "CMD [\"sh\", \"-c\", \"cat /dl/served.txt; stat -c %a /named.txt\"]\n"})
        tag = tags()
        dy.ok("build", "-t", tag, d)
        assert dy.ok("run", "--rm", tag) == "downloaded\n600\n"
        d2 = ctx({"Dockerfile": f"FROM busybox\nADD {url}/missing.txt /x\n"})
        r = dy("build", d2)
        assert r.returncode == 1
        assert "failed to GET" in r.stderr.decode() and "404" in r.stderr.decode()
    finally:
        srv.shutdown()
        srv.server_close()


def test_network_host_reaches_loopback_and_proxy_args_are_predefined(anycli, dy, ctx, tags,
                                                                      tmp_path):
    (tmp_path / "page.txt").write_text("over loopback\n")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(tmp_path), **kw)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{srv.server_port}/page.txt"
        d = ctx({"Dockerfile": f"FROM busybox\nRUN wget -q -O /page {url} && "
                               "echo \"proxy=$no_proxy\" > /proxy\n"
                               "CMD [\"cat\", \"/page\", \"/proxy\"]\n"})
        tag = tags()
        anycli.ok("build", "--network", "host", "--build-arg", "no_proxy=localhost",
                  "-t", tag, d)
        assert dy.ok("run", "--rm", tag) == "over loopback\nproxy=localhost\n"
        history = dy.ok("history", "--no-trunc", "--format", "{{.CreatedBy}}", tag)
        assert "no_proxy=localhost" not in history  # proxy args stay out of the image
        r = anycli("build", "--no-cache", "--network", "none", d)
        assert r.returncode != 0
    finally:
        srv.shutdown()
        srv.server_close()


def test_platform_other_than_the_host_is_refused(dy, ctx):
    r = dy("build", "--platform", "linux/s390x", ctx({"Dockerfile": "FROM busybox\n"}))
    assert r.returncode == 1
    assert "platform linux/s390x is not supported" in r.stderr.decode()
