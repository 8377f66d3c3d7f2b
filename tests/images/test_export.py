"""export of a container's filesystem (running and stopped), and import of it with --change."""

import io
import tarfile

from apiclient import request


def _names(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return {m.name: m for m in tf.getmembers()}


def test_export_stopped_and_running(dy, tmp_path):
    stopped = dy.container("busybox", "sh", "-c", "echo s > /made && rm /bin/ls && mkdir -p /d/e")
    running = dy.container("-d", "busybox", "sh", "-c", "echo r > /live; sleep 1000")
    out = tmp_path / "stopped.tar"
    dy("export", "-o", str(out), stopped)
    names = _names(out.read_bytes())
    assert "made" in names and "bin/busybox" in names and "d/e" in names
    assert "bin/ls" not in names and not any(".wh." in n for n in names)
    with tarfile.open(out) as tf:
        assert tf.extractfile("made").read() == b"s\n"
    for _ in range(100):
        if "A /live" in dy.out("diff", running):
            break
    live = dy("export", running).stdout
    assert "live" in _names(live) and "bin/ls" in _names(live)
    # nothing stays mounted after an export
    with open("/proc/self/mounts") as f:
        assert not [ln for ln in f if "/views/" in ln and dy.d.base in ln]

    # the export imports as a one-layer image that runs, with --change applied
    image = dy.image_name("exp")
    dy("import", "-c", 'CMD ["cat", "/made"]', "-c", "ENV WHO=exported", "-m", "from export",
       str(out), image)
    assert dy.out("run", "--rm", image).strip() == "s"
    assert dy.out("run", "--rm", image, "sh", "-c", "echo $WHO").strip() == "exported"
    info = dy.inspect(image)
    assert len(info["RootFS"]["Layers"]) == 1 and info["Comment"] == "from export"


def test_export_api_errors(dy):
    status, _, body = request(dy.d.sock, "GET", "/containers/nope/export")
    assert status == 404 and b"No such container" in body
    r = dy("export", "nope", ok=False)
    assert r.returncode == 1 and r.stderr.decode().startswith("Error response from daemon")
