"""Health checks: --health-* flags and the image's HEALTHCHECK, status in ps/inspect/events,
probe timeouts, and --health-on-failure."""

from __future__ import annotations

import json
import time

from multicli import inspect, until

FAST = ("--health-interval", "200ms", "--health-timeout", "5s")


def _health(daemon, name):
    return inspect(daemon, name)["State"].get("Health") or {}


def test_healthy_shows_in_ps_inspect_and_filter(cli, daemon, names):
    name = names()
    cli.ok("run", "-d", "--name", name, *FAST, "--health-retries", "2",
           "--health-cmd", "test -e /tmp/ready && echo fine", "busybox",
           "sh", "-c", "sleep 0.5; touch /tmp/ready; sleep 1000")
    h = until(lambda: (x := _health(daemon, name)).get("Status") == "healthy" and x,
              what="healthy")
    assert h["FailingStreak"] == 0
    last = h["Log"][-1]
    assert last["ExitCode"] == 0 and last["Output"] == "fine\n"
    assert last["Start"] <= last["End"]
    assert 1 <= len(h["Log"]) <= 5
    status = cli.ok("ps", "--filter", f"name={name}", "--format", "{{.Status}}").strip()
    assert status.startswith("Up ") and status.endswith("(healthy)"), status
    listed = cli.ok("ps", "-q", "--no-trunc", "--filter", "health=healthy").split()
    assert inspect(daemon, name)["Id"] in listed
    assert inspect(daemon, name)["Id"] not in cli.ok(
        "ps", "-q", "--no-trunc", "--filter", "health=unhealthy").split()
    assert cli.ok("inspect", "--format", "{{.State.Health.Status}}", name).strip() == "healthy"
    cfg = inspect(daemon, name)["Config"]["Healthcheck"]
    assert cfg["Test"] == ["CMD-SHELL", "test -e /tmp/ready && echo fine"]
    assert cfg["Interval"] == 200_000_000 and cfg["Retries"] == 2


def test_starting_then_unhealthy_keeps_last_five_results(cli, daemon, names):
    name = names()
    cli.ok("run", "-d", "--name", name, "--health-interval", "150ms", "--health-retries", "3",
           "--health-cmd", "echo bad; exit 3", "busybox", "sleep", "1000")
    until(lambda: _health(daemon, name).get("Status") == "unhealthy", what="unhealthy")
    h = until(lambda: (x := _health(daemon, name))["FailingStreak"] >= 7 and x, what="streak")
    assert h["Status"] == "unhealthy"
    assert len(h["Log"]) == 5
    assert all(r["ExitCode"] == 3 and r["Output"] == "bad\n" for r in h["Log"])
    status = cli.ok("ps", "--filter", f"name={name}", "--format", "{{.Status}}").strip()
    assert status.endswith("(unhealthy)"), status
    # The check does not kill or restart anything on its own (Docker's behaviour).
    assert inspect(daemon, name)["State"]["Status"] == "running"


def test_failures_in_the_start_period_do_not_count(cli, daemon, names):
    name = names()
    cli.ok("run", "-d", "--name", name, "--health-interval", "100ms", "--health-retries", "1",
           "--health-start-period", "1h", "--health-cmd", "exit 1", "busybox", "sleep", "1000")
    h = until(lambda: (x := _health(daemon, name)) and len(x["Log"]) >= 3 and x,
              what="three probes")
    assert h["Status"] == "starting" and h["FailingStreak"] == 0
    assert all(r["ExitCode"] == 1 for r in h["Log"])
    status = cli.ok("ps", "--filter", f"name={name}", "--format", "{{.Status}}").strip()
    assert status.endswith("(health: starting)"), status
    assert inspect(daemon, name)["Id"] in cli.ok("ps", "-q", "--no-trunc", "--filter",
                                                "health=starting").split()


def test_probe_over_its_timeout_is_killed(cli, daemon, names):
    name = names()
    cli.ok("run", "-d", "--name", name, "--health-interval", "200ms", "--health-timeout",
           "300ms", "--health-retries", "1", "--health-cmd", "sleep 77", "busybox",
           "sleep", "1000")
    h = until(lambda: (x := _health(daemon, name)).get("Status") == "unhealthy" and x,
              what="unhealthy by timeout")
    r = h["Log"][0]
    assert r["ExitCode"] == -1
    assert "Health check exceeded timeout (300ms)" in r["Output"]
    time.sleep(0.3)
    top = daemon.cli("top", name).stdout.decode()
    # At most the probe that is running right now; none of the timed-out ones are left.
    assert top.count("sleep 77") <= 1, top


def test_image_healthcheck_and_no_healthcheck(cli, daemon, names):
    base = names()
    daemon.cli("run", "--name", base, "busybox", "true")
    image = "hc-image-" + base[3:]
    r = daemon.cli("commit", "-c", "HEALTHCHECK --interval=200ms --retries=1 CMD [\"true\"]",
                   base, image)
    assert r.returncode == 0, r.stderr
    try:
        name = names()
        cli.ok("run", "-d", "--name", name, image, "sleep", "1000")
        h = until(lambda: (x := _health(daemon, name)).get("Status") == "healthy" and x,
                  what="healthy from the image's check")
        assert h["Log"][-1]["ExitCode"] == 0
        # Only the interval from the CLI: the image's command stays.
        partial = names()
        cli.ok("run", "-d", "--name", partial, "--health-interval", "300ms", image,
               "sleep", "1000")
        cfg = inspect(daemon, partial)["Config"]["Healthcheck"]
        assert cfg["Test"] == ["CMD", "true"] and cfg["Interval"] == 300_000_000
        off = names()
        cli.ok("run", "-d", "--name", off, "--no-healthcheck", image, "sleep", "1000")
        time.sleep(0.6)
        info = inspect(daemon, off)
        assert "Health" not in info["State"]
        status = cli.ok("ps", "--filter", f"name={off}", "--format", "{{.Status}}").strip()
        assert "health" not in status
        assert info["Id"] in cli.ok("ps", "-q", "--no-trunc", "--filter",
                                    "health=none").split()
    finally:
        daemon.cli("rm", "-f", *[n for n in (base,)])
        daemon.cli("rmi", "-f", image)


def test_health_status_events(cli, daemon, names):
    name = names()
    since = str(int(time.time()) - 1)
    cli.ok("run", "-d", "--name", name, *FAST, "--health-cmd", "true", "busybox", "sleep", "1000")
    until(lambda: _health(daemon, name).get("Status") == "healthy", what="healthy")
    out = cli.ok("events", "--since", since, "--until", str(int(time.time()) + 1),
                 "--filter", f"container={name}", "--format", "{{json .}}")
    actions = [json.loads(line).get("Action") or json.loads(line).get("status")
               for line in out.splitlines() if line.strip()]
    assert "health_status: healthy" in actions, actions


def test_unhealthy_with_on_failure_restart_is_restarted(daemon, names):
    name = names()
    r = daemon.cli("run", "-d", "--name", name, "--health-interval", "200ms",
                   "--health-retries", "2", "--health-on-failure", "restart",
                   "--health-cmd", "test -e /tmp/ok", "busybox",
                   "sh", "-c", "echo started; sleep 1000")
    assert r.returncode == 0, r.stderr
    first = inspect(daemon, name)["State"]["StartedAt"]
    until(lambda: inspect(daemon, name)["State"]["StartedAt"] != first, what="a restart")
    until(lambda: daemon.cli("logs", name).stdout.decode().count("started") >= 2,
          what="second start's output")
    info = inspect(daemon, name)
    assert info["State"]["Status"] in ("running", "restarting")
    assert inspect(daemon, name)["HostConfig"]["HealthOnFailure"] == "restart"


def test_on_failure_stop_and_kill(daemon, names):
    for action, codes in (("stop", (143, 137)), ("kill", (137,))):
        name = names()
        r = daemon.cli("run", "-d", "--name", name, "--health-interval", "200ms",
                       "--health-retries", "1", "--health-on-failure", action,
                       "--health-cmd", "false", "busybox", "sleep", "1000")
        assert r.returncode == 0, r.stderr
        info = until(lambda n=name: (i := inspect(daemon, n))["State"]["Status"] == "exited" and i,
                     what=f"{action} on unhealthy")
        assert info["State"]["ExitCode"] in codes
        assert info["State"]["Health"]["Status"] == "unhealthy"


def test_on_failure_from_a_label_for_docker_clients(cli, daemon, names):
    name = names()
    cli.ok("run", "-d", "--name", name, "--label", "dockyard.health-on-failure=kill",
           "--health-interval", "200ms", "--health-retries", "1", "--health-cmd", "false",
           "busybox", "sleep", "1000")
    until(lambda: inspect(daemon, name)["State"]["Status"] == "exited", what="killed")


def test_bad_flags_are_refused(daemon):
    r = daemon.cli("run", "--health-interval", "soon", "busybox", "true")
    assert r.returncode != 0 and b"invalid duration" in r.stderr
    r = daemon.cli("run", "--health-on-failure", "explode", "busybox", "true")
    assert r.returncode != 0 and b"health-on-failure" in r.stderr
    r = daemon.cli("run", "--no-healthcheck", "--health-cmd", "true", "busybox", "true")
    assert r.returncode != 0


def test_checks_go_on_after_a_daemon_restart(fresh_daemon):
    d = fresh_daemon
    d.import_busybox()
    name = "hc-restart"
    r = d.cli("run", "-d", "--name", name, "--health-interval", "200ms", "--health-cmd", "true",
              "busybox", "sleep", "1000")
    assert r.returncode == 0, r.stderr
    until(lambda: _health(d, name).get("Status") == "healthy", what="healthy")
    d.stop()
    d.start()
    assert _health(d, name)["Status"] == "healthy"  # kept in the record
    last = _health(d, name)["Log"][-1]["End"]
    until(lambda: _health(d, name)["Log"][-1]["End"] > last, what="a probe after the restart")
    d.cli("rm", "-f", name)


def test_start_interval_paces_probes_in_the_start_period(daemon, names):
    """--health-start-interval (HealthConfig.StartInterval): probes at that pace while the
    container is in its start period and not yet healthy (here the interval is an hour)."""
    name = names()
    r = daemon.cli("run", "-d", "--name", name, "--health-interval", "1h",
                   "--health-start-interval", "100ms", "--health-start-period", "1h",
                   "--health-retries", "1", "--health-cmd", "exit 1", "busybox", "sleep", "1000")
    assert r.returncode == 0, r.stderr
    h = until(lambda: (x := _health(daemon, name)) and len(x["Log"]) >= 3 and x,
              what="three probes in the start period")
    assert h["Status"] == "starting" and h["FailingStreak"] == 0
    cfg = inspect(daemon, name)["Config"]["Healthcheck"]
    assert cfg["StartInterval"] == 100_000_000 and cfg["StartPeriod"] == 3600 * 10**9
    r = daemon.cli("run", "--health-start-interval", "never", "busybox", "true")
    assert r.returncode != 0 and b"invalid duration" in r.stderr


def test_failures_count_in_the_start_period_once_healthy(daemon, names):
    """Docker ignores failures in the start period only until a probe has passed."""
    name = names()
    r = daemon.cli("run", "-d", "--name", name, "--health-interval", "100ms",
                   "--health-start-period", "1h", "--health-retries", "1", "--health-cmd",
                   "if [ -e /tmp/seen ]; then exit 1; fi; touch /tmp/seen", "busybox",
                   "sleep", "1000")
    assert r.returncode == 0, r.stderr
    h = until(lambda: (x := _health(daemon, name)).get("Status") == "unhealthy" and x,
              what="unhealthy inside the start period")
    assert [r["ExitCode"] for r in h["Log"]][:2] == [0, 1]
