"""Named and anonymous volumes through the dockyard CLI: the lifecycle commands, data that
outlives containers, copy-up, tmpfs, --volumes-from, export/import/clone, no leaked mounts."""

import io
import json
import os
import tarfile
import tempfile
import uuid

import pytest


def _name(prefix: str = "vol") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _ok(r):
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.decode()


def _mounts(daemon) -> list[str]:
    with open("/proc/self/mounts") as f:
        return [line.split()[1] for line in f if daemon.base in line.split()[1]]


@pytest.fixture
def cleanup(daemon):
    containers: list[str] = []
    volumes: list[str] = []
    yield containers, volumes
    for c in containers:
        daemon.cli("rm", "-f", "-v", c)
    for v in volumes:
        daemon.cli("volume", "rm", "-f", v)


def test_create_ls_inspect_rm_with_labels_and_filters(daemon, cleanup):
    _, vols = cleanup
    a, b = _name(), _name()
    vols += [a, b]
    assert _ok(daemon.cli("volume", "create", "--label", "tier=db", a)).strip() == a
    assert _ok(daemon.cli("volume", "create", "--name", b)).strip() == b
    info = json.loads(_ok(daemon.cli("volume", "inspect", a)))[0]
    assert info["Name"] == a and info["Driver"] == "local" and info["Scope"] == "local"
    assert info["Labels"] == {"tier": "db"} and os.path.isdir(info["Mountpoint"])
    assert info["CreatedAt"]
    names = _ok(daemon.cli("volume", "ls", "-q")).split()
    assert a in names and b in names
    assert _ok(daemon.cli("volume", "ls", "-q", "--filter", "label=tier=db")).split() == [a]
    assert _ok(daemon.cli("volume", "ls", "-q", "-f", f"name={b}")).split() == [b]
    out = _ok(daemon.cli("volume", "ls", "--format", "{{.Name}} {{.Driver}}", "-f", f"name={a}"))
    assert out == f"{a} local\n"
    table = _ok(daemon.cli("volume", "ls", "-f", f"name={a}"))
    assert table.splitlines()[0].split() == ["DRIVER", "VOLUME", "NAME"]
    assert _ok(daemon.cli("volume", "inspect", "-f", "{{.Labels.tier}}", a)) == "db\n"
    assert _ok(daemon.cli("volume", "rm", a, b)).split() == [a, b]
    r = daemon.cli("volume", "inspect", a)
    assert r.returncode == 1 and b"No such volume" in r.stderr
    r = daemon.cli("volume", "rm", a)
    assert r.returncode == 1 and b"no such volume" in r.stderr
    assert daemon.cli("volume", "rm", "-f", a).returncode == 0


def test_bad_names_and_options_are_refused(daemon):
    r = daemon.cli("volume", "create", "bad/name")
    assert r.returncode == 1 and b"invalid characters" in r.stderr
    r = daemon.cli("volume", "create", "-o", "bogus=1", _name())
    assert r.returncode == 1 and b"invalid option" in r.stderr
    r = daemon.cli("volume", "create", "-d", "nosuchdriver", _name())
    assert r.returncode == 1 and b"plugin" in r.stderr


def test_data_survives_rm_and_in_use_volume_is_refused(daemon, cleanup):
    ctrs, vols = cleanup
    v, c = _name(), _name("ctr")
    ctrs.append(c)
    vols.append(v)
    _ok(daemon.cli("run", "--name", c, "-v", f"{v}:/data", "busybox", "sh", "-c",
                   "echo kept > /data/f"))
    r = daemon.cli("volume", "rm", v)
    assert r.returncode == 1 and b"volume is in use" in r.stderr
    assert v not in _ok(daemon.cli("volume", "ls", "-q", "-f", "dangling=true")).split()
    _ok(daemon.cli("rm", "-v", c))  # -v takes only anonymous volumes
    assert v in _ok(daemon.cli("volume", "ls", "-q", "-f", "dangling=true")).split()
    assert _ok(daemon.cli("run", "--rm", "-v", f"{v}:/d:ro", "busybox", "cat", "/d/f")) == \
        "kept\n"
    r = daemon.cli("run", "--rm", "--mount", f"type=volume,source={v},target=/d,readonly",
                   "busybox", "sh", "-c", "echo x > /d/f")
    assert r.returncode != 0 and b"Read-only file system" in r.stderr


def test_inspect_mounts_and_rm_v_takes_only_anonymous(daemon, cleanup):
    ctrs, vols = cleanup
    named, c = _name(), _name("ctr")
    ctrs.append(c)
    vols.append(named)
    _ok(daemon.cli("create", "--name", c, "-v", "/anon", "-v", f"{named}:/named:ro",
                   "busybox", "true"))
    mounts = json.loads(_ok(daemon.cli("inspect", "-f", "{{json .Mounts}}", c)))
    by_dest = {m["Destination"]: m for m in mounts}
    anon = by_dest["/anon"]
    assert anon["Type"] == "volume" and anon["RW"] is True and anon["Driver"] == "local"
    assert len(anon["Name"]) == 64 and anon["Source"].endswith(anon["Name"] + "/_data")
    assert by_dest["/named"]["Name"] == named and by_dest["/named"]["RW"] is False
    assert by_dest["/named"]["Mode"] == "ro"
    _ok(daemon.cli("rm", "-v", c))
    names = _ok(daemon.cli("volume", "ls", "-q")).split()
    assert anon["Name"] not in names and named in names


def test_run_rm_removes_anonymous_volumes_and_prune(daemon, cleanup):
    ctrs, vols = cleanup
    before = set(_ok(daemon.cli("volume", "ls", "-q")).split())
    _ok(daemon.cli("run", "--rm", "-v", "/scratch", "busybox", "true"))
    assert set(_ok(daemon.cli("volume", "ls", "-q")).split()) == before
    # prune: anonymous unused volumes only, unless --all
    c = _name("ctr")
    ctrs.append(c)
    _ok(daemon.cli("create", "--name", c, "-v", "/scratch", "busybox", "true"))
    anon = json.loads(_ok(daemon.cli("inspect", "-f", "{{json .Mounts}}", c)))[0]["Name"]
    _ok(daemon.cli("rm", c))  # without -v: the anonymous volume stays, unused
    named = _name()
    vols.append(named)
    _ok(daemon.cli("volume", "create", named))
    out = _ok(daemon.cli("volume", "prune", "-f"))
    assert anon in out and named not in out and "Total reclaimed space" in out
    names = _ok(daemon.cli("volume", "ls", "-q")).split()
    assert named in names and anon not in names
    out = _ok(daemon.cli("volume", "prune", "-f", "--filter", f"label=nomatch-{named}", "-a"))
    assert named not in out
    assert named in _ok(daemon.cli("volume", "prune", "-f", "-a"))


def test_copy_up_keeps_owner_and_mode_unless_nocopy(daemon, cleanup):
    ctrs, vols = cleanup
    img = f"copyup-{uuid.uuid4().hex[:6]}"
    c0 = _name("ctr")
    ctrs.append(c0)
    _ok(daemon.cli("run", "--name", c0, "busybox", "sh", "-c",
                   "mkdir -p /srv/app && echo seed > /srv/app/f && chown 1000:1001 /srv/app/f "
                   "&& chmod 640 /srv/app/f && chmod 710 /srv/app && chown 7:8 /srv/app"))
    _ok(daemon.cli("commit", c0, img))
    try:
        v, v2 = _name(), _name()
        vols += [v, v2]
        out = _ok(daemon.cli("run", "--rm", "-v", f"{v}:/srv/app", img, "sh", "-c",
                             "stat -c '%a %u %g' /srv/app /srv/app/f; cat /srv/app/f"))
        assert out == "710 7 8\n640 1000 1001\nseed\n"
        # not copied again once the volume has content
        _ok(daemon.cli("run", "--rm", "-v", f"{v}:/srv/app", img, "sh", "-c",
                       "rm /srv/app/f; echo mine > /srv/app/g"))
        out = _ok(daemon.cli("run", "--rm", "-v", f"{v}:/srv/app", img, "ls", "/srv/app"))
        assert out == "g\n"
        out = _ok(daemon.cli("run", "--rm", "--mount",
                             f"type=volume,source={v2},target=/srv/app,volume-nocopy",
                             img, "ls", "-A", "/srv/app"))
        assert out == ""
    finally:
        daemon.cli("rm", "-f", c0)
        daemon.cli("rmi", img)


def test_image_volume_is_an_anonymous_volume(daemon, cleanup):
    ctrs, _ = cleanup
    img = f"withvol-{uuid.uuid4().hex[:6]}"
    c0 = _name("ctr")
    ctrs.append(c0)
    _ok(daemon.cli("run", "--name", c0, "busybox", "sh", "-c",
                   "mkdir /data && echo from-image > /data/seed"))
    _ok(daemon.cli("commit", "-c", "VOLUME /data", c0, img))
    try:
        c = _name("ctr")
        ctrs.append(c)
        out = _ok(daemon.cli("run", "--name", c, img, "sh", "-c",
                             "cat /data/seed; echo new > /data/n"))
        assert out == "from-image\n"
        mounts = json.loads(_ok(daemon.cli("inspect", "-f", "{{json .Mounts}}", c)))
        assert [m["Destination"] for m in mounts] == ["/data"] and mounts[0]["Type"] == "volume"
        assert open(os.path.join(mounts[0]["Source"], "n")).read() == "new\n"
        _ok(daemon.cli("rm", "-v", c))
        assert not os.path.exists(mounts[0]["Source"])
    finally:
        daemon.cli("rmi", img)


def test_tmpfs_mounts(daemon):
    out = _ok(daemon.cli("run", "--rm", "--tmpfs", "/t:size=1m", "busybox", "sh", "-c",
                         "grep ' /t ' /proc/mounts"))
    assert out.startswith("tmpfs /t tmpfs") and "size=1024k" in out and "noexec" in out
    out = _ok(daemon.cli("run", "--rm", "--mount", "type=tmpfs,target=/m,tmpfs-size=2m",
                         "busybox", "sh", "-c", "grep ' /m ' /proc/mounts"))
    assert out.startswith("tmpfs /m tmpfs") and "size=2048k" in out
    r = daemon.cli("run", "--rm", "--tmpfs", "/t:bogus", "busybox", "true")
    assert r.returncode == 125 and b"invalid tmpfs option" in r.stderr


def test_tmpfs_and_bind_volumes_are_mounted_only_while_used(daemon, cleanup):
    ctrs, vols = cleanup
    tv, bv = _name(), _name()
    vols += [tv, bv]
    host = tempfile.mkdtemp(prefix="dockyard-bindvol-")
    try:
        _ok(daemon.cli("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs",
                       "-o", "o=size=3m", tv))
        _ok(daemon.cli("volume", "create", "-o", "type=none", "-o", "o=bind",
                       "-o", f"device={host}", bv))
        out = _ok(daemon.cli("run", "--rm", "-v", f"{tv}:/x", "-v", f"{bv}:/h", "busybox",
                             "sh", "-c", "grep ' /x ' /proc/mounts; echo via-volume > /h/f"))
        assert "tmpfs" in out and "size=3072k" in out
        assert open(os.path.join(host, "f")).read() == "via-volume\n"
        assert not [m for m in _mounts(daemon) if "/volumes/" in m]
        c = _name("ctr")
        ctrs.append(c)
        _ok(daemon.cli("run", "-d", "--name", c, "-v", f"{tv}:/x", "busybox", "sleep", "60"))
        assert [m for m in _mounts(daemon) if f"/volumes/{tv}/" in m]
        _ok(daemon.cli("rm", "-f", c))
        assert not [m for m in _mounts(daemon) if "/volumes/" in m]
        _ok(daemon.cli("volume", "rm", bv))
        assert os.path.exists(os.path.join(host, "f"))  # the host's data is never deleted
    finally:
        daemon.cli("volume", "rm", "-f", bv)
        for f in os.listdir(host):
            os.unlink(os.path.join(host, f))
        os.rmdir(host)


def test_volumes_from_shares_read_only_when_asked(daemon, cleanup):
    ctrs, vols = cleanup
    data, v = _name("data"), _name()
    ctrs.append(data)
    vols.append(v)
    _ok(daemon.cli("create", "--name", data, "-v", f"{v}:/shared", "-v", "/anon", "busybox",
                   "true"))
    _ok(daemon.cli("run", "--rm", "--volumes-from", data, "busybox", "sh", "-c",
                   "echo one > /shared/f && echo two > /anon/g"))
    out = _ok(daemon.cli("run", "--rm", "--volumes-from", data, "busybox", "cat", "/shared/f",
                         "/anon/g"))
    assert out == "one\ntwo\n"
    r = daemon.cli("run", "--rm", "--volumes-from", f"{data}:ro", "busybox", "sh", "-c",
                   "cat /shared/f; echo x > /shared/f")
    assert r.stdout == b"one\n" and r.returncode != 0 and b"Read-only" in r.stderr
    r = daemon.cli("run", "--rm", "--volumes-from", "no-such-ctr-xyz", "busybox", "true")
    assert r.returncode == 125 and b"No such container" in r.stderr


def _tar(entries: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in entries:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = 0o640
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def test_export_import_clone_round_trip(daemon, cleanup):
    _, vols = cleanup
    src, imp, cl = _name(), _name(), _name()
    vols += [src, imp, cl]
    payload = os.urandom(300_000)
    _ok(daemon.cli("run", "--rm", "-v", f"{src}:/d", "busybox", "sh", "-c",
                   "mkdir -p /d/sub && echo hello > /d/sub/h && ln -s sub/h /d/link"))
    _ok(daemon.cli("volume", "import", src, "-", input=_tar([("blob", payload)])))
    exported = daemon.cli("volume", "export", src).stdout
    names = tarfile.open(fileobj=io.BytesIO(exported)).getnames()
    assert {"blob", "sub", "sub/h", "link"} <= set(names)
    _ok(daemon.cli("volume", "import", imp, "-", input=exported))
    _ok(daemon.cli("volume", "clone", imp, cl))
    for v in (imp, cl):
        out = daemon.cli("run", "--rm", "-v", f"{v}:/d", "busybox", "sh", "-c",
                         "cat /d/blob; readlink /d/link; cat /d/link").stdout
        assert out == payload + b"sub/h\nhello\n"
    assert daemon.cli("volume", "export", cl).stdout == exported
    r = daemon.cli("volume", "clone", imp, cl)
    assert r.returncode == 1 and b"already exists" in r.stderr


def test_hostile_import_is_refused_and_writes_nothing(daemon, cleanup):
    _, vols = cleanup
    v = _name()
    vols.append(v)
    outside = f"/tmp/dockyard-escape-{uuid.uuid4().hex[:8]}"
    _ok(daemon.cli("volume", "create", v))
    evil = _tar([("ok", b"fine"), (f"../../../../../../..{outside}", b"evil")])
    r = daemon.cli("volume", "import", v, "-", input=evil)
    assert r.returncode == 1 and r.stderr.startswith(b"Error response from daemon:")
    assert not os.path.exists(outside)
    mp = json.loads(_ok(daemon.cli("volume", "inspect", v)))[0]["Mountpoint"]
    assert os.listdir(mp) == []
    r = daemon.cli("volume", "import", v, "-", input=b"not a tar at all" * 100)
    assert r.returncode == 1
    assert os.listdir(mp) == []


def test_system_df_counts_volumes(daemon, cleanup):
    ctrs, vols = cleanup
    v, c = _name(), _name("ctr")
    vols.append(v)
    ctrs.append(c)
    _ok(daemon.cli("run", "--name", c, "-v", f"{v}:/d", "busybox", "sh", "-c",
                   "head -c 200000 /dev/zero > /d/z"))
    from apiclient import request

    status, _, body = request(daemon.sock, "GET", "/v1.43/system/df")
    assert status == 200
    mine = [x for x in json.loads(body)["Volumes"] if x["Name"] == v][0]
    assert mine["UsageData"]["RefCount"] == 1 and mine["UsageData"]["Size"] >= 200_000
    row = [ln for ln in _ok(daemon.cli("system", "df")).splitlines()
           if ln.startswith("Local Volumes")][0]
    assert int(row.split()[2]) >= 1  # TOTAL
    # API errors as Docker's: 404 for a missing volume, 409 while in use
    assert request(daemon.sock, "GET", "/v1.43/volumes/no-such-vol-x")[0] == 404
    status, _, body = request(daemon.sock, "DELETE", f"/v1.43/volumes/{v}")
    assert status == 409 and b"volume is in use" in body


def test_home_relative_bind_is_made_absolute_by_the_client(daemon):
    home = tempfile.mkdtemp(prefix="dockyard-home-")
    try:
        r = daemon.cli("run", "--rm", "-v", "~/sub:/d", "busybox", "sh", "-c", "echo x > /d/f",
                       env={"HOME": home})
        _ok(r)
        assert open(os.path.join(home, "sub", "f")).read() == "x\n"
    finally:
        import shutil

        shutil.rmtree(home)
