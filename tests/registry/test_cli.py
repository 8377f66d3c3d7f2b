"""``dockyard registry`` command line: settings from flags and files, one-line errors."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request

import pytest

from dockyard.registry.cli import main

from .conftest import free_port


@pytest.mark.parametrize("args, message", [
    (["serve", "--auth", "bogus"], "invalid --auth"),
    (["serve", "--addr", "nope"], "invalid listen address"),
    (["serve", "--config", "/nonexistent.toml"], "cannot read config"),
    (["serve", "--tls-cert", "/nonexistent", "--tls-key", "/nonexistent"],
     "TLS certificate not found"),
    (["serve", "--tls-cert", "/nonexistent"], "go together"),
])
def test_bad_settings_give_one_line_and_exit_1(args, message, tmp_path, capsys):
    assert main([*args, "--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_unknown_config_key_is_refused(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('colour = "blue"\n')
    assert main(["serve", "--config", str(cfg)]) == 1
    assert "unknown setting 'colour'" in capsys.readouterr().err


def test_serve_from_config_file(tmp_path):
    port = free_port()
    cfg = tmp_path / "registry.toml"
    cfg.write_text(f'addr = "127.0.0.1:{port}"\nroot = "data"\nread_only = true\n')
    p = subprocess.Popen([sys.executable, "-m", "dockyard.registry", "serve", "--config",
                          str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(200):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/") as r:
                    assert r.status == 200
                    break
            except OSError:
                time.sleep(0.05)
        else:
            raise AssertionError("registry did not start")
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v2/x/blobs/uploads/",
                                     method="POST")
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req)
        assert e.value.code == 405  # read_only from the file
        assert (tmp_path / "data" / "index.db").exists()  # root relative to the file
    finally:
        p.terminate()
        assert p.wait(10) == 0
        p.stderr.close()
