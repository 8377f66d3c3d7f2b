"""``system df -v``: docker's four verbose sections (images, containers, local volumes, build
cache) with docker's titles and columns, filled from GET /system/df, through the dockyard CLI."""

import re


def _ok(d, *args):
    r = d.cli(*args)
    assert r.returncode == 0, (args, r.stderr.decode())
    return r.stdout.decode()


def _section(text: str, title: str) -> list[str]:
    """The lines of one section: from its title to the next blank line that precedes a title."""
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(title))
    body = []
    for ln in lines[start + 1:]:
        if ln.strip() and ln.endswith(":") or re.match(r"^Build cache usage:", ln):
            break
        if ln.strip():
            body.append(ln)
    return body


def test_system_df_verbose_sections(fresh_daemon):
    d = fresh_daemon
    d.import_busybox()
    _ok(d, "volume", "create", "dfvol")
    _ok(d, "volume", "create", "dfidle")
    _ok(d, "run", "--name", "dfctr", "-v", "dfvol:/data", "busybox",
        "sh", "-c", "echo hello > /data/f; echo x > /x")
    text = _ok(d, "system", "df", "-v")

    titles = [ln for ln in text.splitlines() if ln.endswith(":") or ln.startswith("Build cache")]
    assert titles == ["Images space usage:", "Containers space usage:",
                      "Local Volumes space usage:", "Build cache usage: 0B"]

    images = _section(text, "Images space usage:")
    assert images[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE",
                                 "SHARED", "SIZE", "UNIQUE", "SIZE", "CONTAINERS"]
    busybox = [ln for ln in images[1:] if ln.startswith("busybox")]
    assert len(busybox) == 1 and busybox[0].split()[-1] == "1"

    ctrs = _section(text, "Containers space usage:")
    assert re.split(r"\s{2,}", ctrs[0].strip()) == [
        "CONTAINER ID", "IMAGE", "COMMAND", "LOCAL VOLUMES", "SIZE", "CREATED", "STATUS", "NAMES"]
    assert len(ctrs) == 2
    row = ctrs[1]
    assert row.split()[-1] == "dfctr" and "busybox" in row and "Exited (0)" in row
    # docker's: the command cut to 20 characters, then quoted; one local volume; wrote "x\n"
    assert re.search(r'"sh -c \'echo hello >…"\s+1\s+2B\s', row), row

    vols = _section(text, "Local Volumes space usage:")
    assert vols[0].split() == ["VOLUME", "NAME", "LINKS", "SIZE"]
    by_name = {ln.split()[0]: ln.split()[1:] for ln in vols[1:]}
    assert by_name["dfvol"] == ["1", "6B"]  # holds "hello\n": apparent size, as dockerd
    assert by_name["dfidle"] == ["0", "0B"]

    cache = text.split("Build cache usage: 0B", 1)[1].strip().splitlines()
    assert cache[0].split() == ["CACHE", "ID", "CACHE", "TYPE", "SIZE", "CREATED", "LAST",
                                "USED", "USAGE", "SHARED"]
    assert len(cache) == 1

    # without -v: the summary table stays as it was
    assert _ok(d, "system", "df").splitlines()[0].split() == [
        "TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
