"""SOURCE_DATE_EPOCH: two --no-cache builds of the same context give the same image."""

from __future__ import annotations

import json
import uuid

from helpers import image_id, inspect

DOCKERFILE = """\
FROM busybox
RUN mkdir -p /out && echo generated > /out/file && touch /out/new
COPY ctx.txt /out/ctx.txt
ENV BUILT=yes
CMD ["sh", "-c", "stat -c %Y /out/file /out/ctx.txt"]
"""


def test_same_image_twice_with_source_date_epoch(dy, ctx, tags):
    d = ctx({"Dockerfile": DOCKERFILE, "ctx.txt": "from the context\n"})
    t1, t2 = tags(), tags()
    a = dy.ok("build", "--no-cache", "--build-arg", "SOURCE_DATE_EPOCH=1700000000", "-t", t1, d)
    b = dy.ok("build", "--no-cache", "--build-arg", "SOURCE_DATE_EPOCH=1700000000", "-t", t2, d)
    assert image_id(a) == image_id(b)
    img = inspect(dy, t1)
    assert img["Created"].startswith("2023-11-14T22:13:20")
    assert dy.ok("run", "--rm", t1).split() == ["1700000000", "1700000000"]
    assert "not consumed" not in a


def test_epoch_from_the_cli_environment(dy, ctx, tags):
    d = ctx({"Dockerfile": DOCKERFILE, "ctx.txt": "x\n"})
    t1, t2 = tags(), tags()
    dy.env["SOURCE_DATE_EPOCH"] = "1600000000"
    try:
        a = dy.ok("build", "--no-cache", "-t", t1, d)
        b = dy.ok("build", "--no-cache", "-t", t2, d)
    finally:
        del dy.env["SOURCE_DATE_EPOCH"]
    assert image_id(a) == image_id(b)
    hist = json.loads(dy.ok("image", "inspect", "--format", "{{json .RootFS}}", t1))
    assert len(hist["Layers"]) >= 2


def test_without_epoch_rebuilds_differ(dy, ctx, tags):
    d = ctx({"Dockerfile": DOCKERFILE, "ctx.txt": "x\n"})
    a = dy.ok("build", "--no-cache", "-t", tags(), d)
    b = dy.ok("build", "--no-cache", "-t", tags(), d)
    assert image_id(a) != image_id(b)


def test_cache_made_without_epoch_is_not_used_with_one(dy, ctx, tags):
    unique = DOCKERFILE.replace("FROM busybox\n", f"FROM busybox\nENV U={uuid.uuid4().hex}\n")
    d = ctx({"Dockerfile": unique, "ctx.txt": "cached\n"})
    t1, t2 = tags(), tags()
    dy.ok("build", "-t", t1, d)
    out = dy.ok("build", "--build-arg", "SOURCE_DATE_EPOCH=1700000000", "-t", t2, d)
    assert "Using cache" not in out
    assert dy.ok("run", "--rm", t2).split() == ["1700000000", "1700000000"]
