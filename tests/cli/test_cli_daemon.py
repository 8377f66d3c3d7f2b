"""The CLI end to end against a running daemon that has busybox:latest."""

import json
import re

import pytest


def test_run_prints_output_and_exits_zero(cli):
    r = cli("run", "--rm", "busybox", "echo", "hello")
    assert (r.returncode, r.stdout, r.stderr) == (0, "hello\n", "")


def test_run_keeps_stdout_and_stderr_apart(cli):
    r = cli("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2")
    assert (r.returncode, r.stdout, r.stderr) == (0, "out\n", "err\n")


def test_run_exit_status_is_the_containers(cli):
    assert cli("run", "--rm", "busybox", "sh", "-c", "exit 3").returncode == 3


def test_run_command_not_found_is_127(cli):
    r = cli("run", "--rm", "busybox", "nosuchcommand")
    assert r.returncode == 127
    assert r.stderr.startswith("dockyard: Error response from daemon: ")
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def test_run_not_executable_is_126(cli):
    assert cli("run", "--rm", "busybox", "/etc/passwd").returncode == 126


def test_run_unknown_image_is_125_with_docker_wording(cli):
    r = cli("run", "--rm", "127.0.0.1:1/nosuch", "true")
    assert r.returncode == 125
    lines = r.stderr.splitlines()
    assert lines[0] == "Unable to find image '127.0.0.1:1/nosuch:latest' locally"
    assert lines[-1].startswith("dockyard: Error response from daemon: ")


def test_bad_flag_is_125(cli):
    r = cli("run", "--no-such-flag", "busybox")
    assert r.returncode == 125 and "unknown flag: --no-such-flag" in r.stderr


def test_run_forwards_stdin_with_i(cli):
    r = cli("run", "--rm", "-i", "busybox", "sh", "-c", "cat; echo done", input=b"piped\n")
    assert r.returncode == 0 and r.stdout == b"piped\ndone\n"


def test_run_env_workdir_user_hostname(cli):
    out = cli.ok("run", "--rm", "-e", "A=1", "-w", "/tmp", "-u", "nobody", "-h", "boxy",
                 "busybox", "sh", "-c", 'echo "$A $(pwd) $(id -u) $(hostname)"')
    assert out == "1 /tmp 65534 boxy\n"


def test_detached_lifecycle_ps_logs_inspect_stop_rm(cli):
    name = cli.name()
    cid = cli.ok("run", "-d", "--name", name, "-l", "suite=cli", "busybox",
                 "sh", "-c", "echo started; exec sleep 300").strip()
    assert re.fullmatch(r"[0-9a-f]{64}", cid)
    assert cli.ok("inspect", "-f", "{{.State.Status}} {{.Name}}", name) == f"running /{name}\n"
    ps = cli.ok("ps")
    header, *rows = ps.splitlines()
    assert re.match(r"CONTAINER ID +IMAGE +COMMAND +CREATED +STATUS +PORTS +NAMES$", header)
    row = next(r for r in rows if r.endswith(name))
    assert row.startswith(cid[:12] + "   busybox")
    assert '"sh -c \'echo started…"' in row and "Up " in row  # docker: cut, then quote
    assert cid[:12] in cli.ok("ps", "-q").split()
    assert cli.ok("ps", "--no-trunc", "-q", "--filter", "label=suite=cli").split() == [cid]
    assert cli.ok("ps", "--format", '{{.Names}}|{{.Label "suite"}}|{{.State}}',
                  "-f", f"name={name}") == f"{name}|cli|running\n"
    # logs appear once the shell ran
    for _ in range(100):
        if cli.ok("logs", name) == "started\n":
            break
    assert cli.ok("logs", name) == "started\n"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\S+Z started\n", cli.ok("logs", "-t", name))
    assert cli.ok("stop", "-t", "1", name) == f"{name}\n"
    assert cli.ok("inspect", "-f", "{{.State.Status}}", cid) == "exited\n"
    exited = [r for r in cli.ok("ps", "-a").splitlines() if r.endswith(name)]
    assert exited and "Exited (" in exited[0]
    assert name not in cli.ok("ps")
    assert cli.ok("rm", name) == f"{name}\n"
    r = cli("inspect", name)
    assert r.returncode == 1 and f"No such object: {name}" in r.stderr


def test_rm_f_removes_a_running_container(cli):
    name = cli.name()
    cli.ok("run", "-d", "--name", name, "busybox", "sleep", "300")
    assert cli("rm", name).returncode == 1  # running: refused without -f
    assert cli.ok("rm", "-f", name) == f"{name}\n"
    assert name not in cli.ok("ps", "-a", "--format", "{{.Names}}").split()


def test_name_conflict_is_125(cli):
    name = cli.name()
    cli.ok("create", "--name", name, "busybox", "true")
    r = cli("run", "--name", name, "busybox", "true")
    assert r.returncode == 125
    assert "dockyard: Error response from daemon:" in r.stderr and name in r.stderr


def test_wait_prints_the_exit_code(cli):
    name = cli.name()
    cli.ok("run", "-d", "--name", name, "busybox", "sh", "-c", "exit 5")
    assert cli.ok("wait", name) == "5\n"


def test_create_then_start_attached(cli):
    name = cli.name()
    cid = cli.ok("create", "--name", name, "busybox", "sh", "-c", "echo hi; exit 4").strip()
    assert re.fullmatch(r"[0-9a-f]{64}", cid)
    assert cli.ok("inspect", "-f", "{{.State.Status}}", name) == "created\n"
    r = cli("start", "-a", name)
    assert (r.returncode, r.stdout) == (4, "hi\n")


def test_containers_are_isolated(cli):
    assert cli("run", "--rm", "busybox", "sh", "-c", "echo secret > /tmp/f").returncode == 0
    r = cli("run", "--rm", "busybox", "cat", "/tmp/f")
    assert r.returncode == 1 and r.stdout == ""


def test_inspect_json_for_containers_and_images(cli):
    name = cli.name()
    cli.ok("create", "--name", name, "busybox", "true")
    data = json.loads(cli.ok("inspect", name, "busybox"))
    assert [d["Id"][:7] for d in data][1] == "sha256:"
    assert data[0]["Name"] == f"/{name}" and data[0]["Config"]["Cmd"] == ["true"]
    assert cli.ok("inspect", "--type", "image", "-f", "{{json .Config.Cmd}}", "busybox") == \
        '["sh"]\n'


def test_images_tag_rmi(cli):
    tag = "cli-test-tag:v1"
    cli.tags.append(tag)
    out = cli.ok("images")
    header, *rows = out.splitlines()
    assert re.match(r"REPOSITORY +TAG +IMAGE ID +CREATED +SIZE$", header)
    busybox = next(r.split() for r in rows if r.startswith("busybox "))
    assert busybox[1] == "latest" and re.fullmatch(r"[0-9a-f]{12}", busybox[2])
    assert re.fullmatch(r"[\d.]+(B|kB|MB)", busybox[-1])
    assert cli.ok("tag", "busybox", tag) == ""
    tagged = cli.ok("images", "cli-test-tag", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}")
    assert tagged == f"{tag} {busybox[2]}\n"
    assert busybox[2] in cli.ok("images", "-q").split()
    assert cli.ok("rmi", tag) == f"Untagged: {tag}\n"
    assert cli.ok("images", "-q", "cli-test-tag") == ""
    r = cli("rmi", tag)
    assert r.returncode == 1 and r.stderr.startswith("Error response from daemon:")


def test_busybox_image_imports_a_runnable_image(cli):
    tag = "cli-busybox-import:1"
    cli.tags.append(tag)
    image_id = cli.ok("busybox-image", "--tag", tag).strip()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", image_id)
    assert cli.ok("inspect", "-f", "{{.Id}} {{json .Config.Cmd}}", tag) == f'{image_id} ["sh"]\n'
    assert cli.ok("run", "--rm", tag, "sh", "-c", "ls /bin/sh && id -un") == "/bin/sh\nroot\n"


def test_version_and_info(cli):
    version = cli.ok("version")
    assert version.startswith("Client:") and "Server:" in version
    assert cli.ok("version", "-f", "{{.Server.ApiVersion}}").strip()
    assert cli.ok("info", "-f", "{{.Images}}").strip().isdigit()


@pytest.mark.parametrize("command", ["run", "ps", "images", "inspect", "logs", "rm"])
def test_help_on_every_command(cli, command):
    r = cli(command, "--help")
    assert r.returncode == 0 and r.stdout.lstrip().startswith(f"Usage:  dockyard {command}")


def test_import_from_file_and_stdin_with_changes(cli, tmp_path):
    from dockyard.cli.rootfs import busybox_rootfs_tar

    tar = tmp_path / "rootfs.tar"
    tar.write_bytes(busybox_rootfs_tar())
    from_file, from_stdin = "cli-import-file:1", "cli-import-stdin:1"
    cli.tags += [from_file, from_stdin]
    image_id = cli.ok("import", "-c", "ENV GREETING=hi", "-c", 'CMD ["sh", "-c", "echo $GREETING"]',
                      "-m", "from a file", str(tar), from_file).strip()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", image_id)
    assert cli.ok("run", "--rm", from_file) == "hi\n"
    r = cli("import", "-", from_stdin, input=tar.read_bytes())
    assert r.returncode == 0 and r.stdout.startswith(b"sha256:")
    assert cli.ok("run", "--rm", from_stdin, "echo", "ok") == "ok\n"
    missing = cli("import", str(tmp_path / "missing.tar"))
    assert missing.returncode == 1 and "no such file" in missing.stderr


def test_logs_tail_and_follow(cli):
    name = cli.name()
    cli.ok("run", "--name", name, "busybox", "sh", "-c", "for i in 1 2 3; do echo $i; done")
    assert cli.ok("logs", name) == "1\n2\n3\n"
    assert cli.ok("logs", "--tail", "1", name) == "3\n"
    assert cli.ok("logs", "-f", name) == "1\n2\n3\n"  # ends: the container has exited
    assert cli.ok("logs", "--since", "1h", name) == "1\n2\n3\n"
    r = cli("logs", "nosuch-container-xyz")
    assert r.returncode == 1 and "No such container" in r.stderr


def test_start_kill_restart(cli):
    name = cli.name()
    cli.ok("create", "--name", name, "busybox", "sleep", "300")
    assert cli.ok("start", name) == f"{name}\n"
    assert cli.ok("inspect", "-f", "{{.State.Running}}", name) == "true\n"
    pid = cli.ok("inspect", "-f", "{{.State.Pid}}", name)
    assert cli.ok("restart", "-t", "0", name) == f"{name}\n"
    assert cli.ok("inspect", "-f", "{{.State.Running}}", name) == "true\n"
    assert cli.ok("inspect", "-f", "{{.State.Pid}}", name) != pid
    assert cli.ok("kill", name) == f"{name}\n"
    assert cli.ok("wait", name) == "137\n"
    r = cli("start", "nosuch-container-xyz")
    assert r.returncode == 1 and "failed to start containers: nosuch-container-xyz" in r.stderr


def test_ps_last_latest_and_table_format(cli):
    first, second = cli.name(), cli.name()
    cli.ok("create", "--name", first, "busybox", "true")
    cli.ok("create", "--name", second, "busybox", "true")
    assert cli.ok("ps", "-l", "--format", "{{.Names}}") == f"{second}\n"
    assert cli.ok("ps", "-n", "2", "--format", "{{.Names}}").split() == [second, first]
    table = cli.ok("ps", "-a", "-f", f"name={second}", "--format", "table {{.Names}}\t{{.Status}}")
    assert table.splitlines() == ["NAMES" + " " * (len(second) + 3 - 5) + "STATUS",
                                  f"{second}   Created"]
    one = json.loads(cli.ok("ps", "-a", "-f", f"name={second}", "--format", "{{json .}}"))
    assert one["Names"] == second and one["State"] == "created"


def test_run_with_a_tty(cli):
    """-t: the container gets a terminal; the CLI's terminal is put in raw mode and restored."""
    import os
    import pty
    import select
    import sys
    import time

    pid, fd = pty.fork()
    if pid == 0:  # child: the CLI on a pseudo-terminal
        os.environ["DOCKYARD_NO_AUTOSTART"] = "1"
        os.execv(sys.executable, [sys.executable, "-m", "dockyard.cli.main", "-H", cli.host,
                                  "run", "--rm", "-it", "busybox", "sh", "-c",
                                  'tty; echo ready; read x; echo "got $x"; exit 7'])
    out = b""
    sent = False
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if not sent and b"ready" in out:  # the shell reads its terminal now
                os.write(fd, b"hello\r")
                sent = True
            if select.select([fd], [], [], 0.2)[0]:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    break
                if not data:
                    break
                out += data
    finally:
        if not sent:
            os.kill(pid, 9)
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 7
    assert b"/dev/pts/" in out and b"got hello" in out
