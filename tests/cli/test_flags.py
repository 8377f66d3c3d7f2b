"""docker (pflag) flag semantics, and the run/create flags → Engine API body."""

import pytest

from dockyard.cli.flags import BOOL, INT, LIST, STR, TRUE_BOOL, HelpRequested, UsageError, parse
from dockyard.cli.run import RUN_SPEC, build_create_body, parse_bytes, tagged

SPEC = [
    ("d", "detach", BOOL, ""),
    ("i", "interactive", BOOL, ""),
    ("t", "tty", BOOL, ""),
    ("e", "env", LIST, ""),
    ("", "name", STR, ""),
    ("n", "last", INT, ""),
    ("", "sig-proxy", TRUE_BOOL, ""),
]


def test_combined_short_flags_and_glued_values():
    opts, args = parse(["-dit", "-eA=1", "-e", "B=2", "--name=x", "img"], SPEC)
    assert opts["detach"] and opts["interactive"] and opts["tty"]
    assert opts["env"] == ["A=1", "B=2"] and opts["name"] == "x" and args == ["img"]


def test_interspersed_vs_stop_at_first_argument():
    opts, args = parse(["a", "-d", "b"], SPEC)
    assert opts["detach"] and args == ["a", "b"]
    opts, args = parse(["img", "sh", "-d", "--name", "y"], SPEC, interspersed=False)
    assert not opts["detach"] and args == ["img", "sh", "-d", "--name", "y"]


def test_bool_values_and_true_defaults():
    opts, _ = parse([], SPEC)
    assert opts["sig_proxy"] is True and opts["detach"] is False
    opts, _ = parse(["--sig-proxy=false", "--detach=true"], SPEC)
    assert opts["sig_proxy"] is False and opts["detach"] is True


def test_double_dash_ends_flags():
    _, args = parse(["--", "-d"], SPEC)
    assert args == ["-d"]


@pytest.mark.parametrize("argv, message", [
    (["--nope"], "unknown flag: --nope"),
    (["-x"], "unknown shorthand flag: 'x' in -x"),
    (["--name"], "flag needs an argument: --name"),
    (["-n", "abc"], 'invalid argument "abc" for "-n, --last" flag'),
    (["--detach=maybe"], 'invalid argument "maybe"'),
])
def test_usage_errors(argv, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(")):
        parse(argv, SPEC)


def test_help_flag():
    with pytest.raises(HelpRequested):
        parse(["--help"], SPEC)
    with pytest.raises(HelpRequested):
        parse(["-h"], SPEC)


def _run_body(argv):
    opts, args = parse(argv, RUN_SPEC, interspersed=False)
    return build_create_body(opts, args[0], args[1:], opts["detach"])


def test_run_flags_become_the_create_body(monkeypatch, tmp_path):
    monkeypatch.setenv("FROM_CLI", "yes")
    monkeypatch.delenv("UNSET_VAR", raising=False)
    env_file = tmp_path / "env"
    env_file.write_text("# comment\nFILE_VAR=1\n\n")
    body = _run_body([
        "--rm", "-i", "-t", "-e", "A=1", "-e", "FROM_CLI", "-e", "UNSET_VAR",
        "--env-file", str(env_file), "-w", "/tmp", "-u", "nobody", "--name", "n",
        "-h", "box", "--entrypoint", "/bin/sh", "-l", "k=v", "--label", "flag",
        "-m", "64m", "--cpus", "1.5", "--pids-limit", "50", "--restart", "no",
        "-p", "127.0.0.1:8080:80", "-p", "53/udp", "-v", "/data", "-v", "/h:/c:ro",
        "busybox", "echo", "hi",
    ])
    assert body["Image"] == "busybox" and body["Cmd"] == ["echo", "hi"]
    assert body["Env"] == ["FILE_VAR=1", "A=1", "FROM_CLI=yes"]
    assert body["Tty"] and body["OpenStdin"] and body["AttachStdin"] and body["StdinOnce"]
    assert body["WorkingDir"] == "/tmp" and body["User"] == "nobody"
    assert body["Hostname"] == "box" and body["Entrypoint"] == ["/bin/sh"]
    assert body["Labels"] == {"k": "v", "flag": ""}
    assert body["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert body["Volumes"] == {"/data": {}}
    host = body["HostConfig"]
    assert host["AutoRemove"] is True and host["Memory"] == 64 << 20
    assert host["NanoCpus"] == 1_500_000_000 and host["PidsLimit"] == 50
    assert host["PortBindings"]["80/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": "8080"}]
    assert host["Binds"] == ["/h:/c:ro"]
    assert host["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}


def test_detached_run_attaches_nothing():
    body = _run_body(["-d", "busybox"])
    assert not (body["AttachStdin"] or body["AttachStdout"] or body["AttachStderr"])
    assert body["Cmd"] is None


def test_restart_on_failure_and_conflicts():
    body = _run_body(["--restart", "on-failure:3", "busybox"])
    assert body["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    with pytest.raises(UsageError):
        _run_body(["--restart", "always", "--rm", "busybox"])
    with pytest.raises(UsageError):
        _run_body(["--restart", "sometimes", "busybox"])


@pytest.mark.parametrize("text, value", [
    ("1024", 1024), ("100k", 100 << 10), ("64m", 64 << 20), ("1.5g", 3 << 29), ("2GB", 2 << 30),
])
def test_memory_sizes(text, value):
    assert parse_bytes(text, "-m") == value


def test_bad_memory_size_is_a_usage_error():
    with pytest.raises(UsageError):
        parse_bytes("lots", "-m, --memory")


def test_tagged_adds_latest_like_docker():
    assert tagged("nosuch") == "nosuch:latest"
    assert tagged("localhost:5000/x") == "localhost:5000/x:latest"
    assert tagged("a/b:1") == "a/b:1"
    assert tagged("a@sha256:00") == "a@sha256:00"
