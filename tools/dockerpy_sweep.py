#!/usr/bin/env python3
"""Run docker-py's own integration tests against a private dockyard daemon.

The strongest proof of API compatibility is another project's test suite. This script
extracts ``tests/integration`` of docker-py (tag 7.2.0 by default) from a git mirror into a
scratch directory (never into this repository), starts a dockyard daemon of its own (own root,
socket and cgroup parent, torn down at the end), gives it the base images the tests name
(our local busybox, tagged as ``alpine:3.10`` and friends, since Docker Hub is out of reach),
runs pytest with ``DOCKER_HOST`` pointing at it and prints pass/fail/error counts and the
failures grouped by the area that owns them.

Usage:  .venv/bin/python tools/dockerpy_sweep.py [--mirror DIR] [--tag 7.2.0] [--keep]
                                                 [--junit FILE] [-- PYTEST ARGS...]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import defaultdict

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests"))

DEFAULT_MIRROR = "/work/.mirror/docker+docker-py/repo"

# Whole files left out, with the reason.
EXCLUDED_FILES = {
    "api_swarm_test.py": "swarm",
    "api_service_test.py": "swarm services",
    "api_secret_test.py": "swarm secrets",
    "api_config_test.py": "swarm configs",
    "models_swarm_test.py": "swarm",
    "models_services_test.py": "swarm services",
    "models_nodes_test.py": "swarm nodes",
    "api_plugin_test.py": "plugins (installed from Docker Hub)",
    "credentials": "docker-credential helpers (pass/gpg), not the Engine API",
}

# Single tests left out, with the reason.
EXCLUDED_TESTS = {
    "api_image_test.py::PullImageTest::test_pull": "pulls hello-world from Docker Hub",
    "api_image_test.py::PullImageTest::test_pull_streaming": "pulls hello-world from Docker Hub",
    "api_image_test.py::ImportImageTest::test_get_load_image":
        "pulls hello-world from Docker Hub",
    "api_image_test.py::PruneImagesTest::test_prune_images": "pulls hello-world from Docker Hub",
    "api_image_test.py::InspectDistributionTest::test_inspect_distribution":
        "asks Docker Hub for busybox's manifest",
    "models_images_test.py::ImageCollectionTest::test_list": "pulls alpine from Docker Hub",
    "models_images_test.py::ImageCollectionTest::test_list_with_repository":
        "pulls alpine from Docker Hub",
    "models_images_test.py::ImageCollectionTest::test_pull": "pulls alpine from Docker Hub",
    "models_images_test.py::ImageCollectionTest::test_pull_with_tag":
        "pulls alpine from Docker Hub",
    "models_images_test.py::ImageCollectionTest::test_pull_with_sha":
        "pulls hello-world from Docker Hub",
    "models_images_test.py::ImageCollectionTest::test_pull_multiple":
        "pulls hello-world from Docker Hub",
    "models_images_test.py::ImageTest::test_tag_and_remove": "pulls alpine from Docker Hub",
    "models_containers_test.py::ContainerCollectionTest::test_run_with_image_that_does_not_exist":
        "asks Docker Hub for an image and expects its 'not found'",
    "api_network_test.py::TestNetworks::test_create_inspect_network_with_scope":
        "swarm (init_swarm for a swarm-scoped network)",
    "api_network_test.py::TestNetworks::test_create_network_attachable":
        "swarm (overlay network)",
    "api_network_test.py::TestNetworks::test_create_network_ingress": "swarm (ingress network)",
    "api_container_test.py::AttachContainerTest::test_run_container_reading_socket_ws":
        "websocket-client cannot dial a unix socket (http+docker scheme), against any daemon",
    "api_client_test.py::ConnectionTimeoutTest::test_timeout":
        "dials 192.168.10.2 (traffic off this host; no daemon involved)",
    "api_build_test.py::BuildTest::test_build_streaming":
        "ADDs a file from dl.dropboxusercontent.com",
    "api_build_test.py::BuildTest::test_build_from_stringio":
        "ADDs a file from dl.dropboxusercontent.com",
}

# Names the tests use for their base images; all resolve to our local busybox, and the
# alpine names to a busybox with alpine-baselayout's users and directories (the tests exec as
# "postgres" and in /var/opt, as they can in the real alpine:3.10).
BUSYBOX_ALIASES = ["busybox:buildroot-2014.02"]
ALPINE_ALIASES = ["alpine:3.10", "alpine:latest"]
ALPINE_USERS = [("bin", 1, 1, "/bin"), ("daemon", 2, 2, "/sbin"), ("adm", 3, 4, "/var/adm"),
                ("lp", 4, 7, "/var/spool/lpd"), ("mail", 8, 12, "/var/spool/mail"),
                ("news", 9, 13, "/usr/lib/news"), ("uucp", 10, 14, "/var/spool/uucppublic"),
                ("operator", 11, 0, "/root"), ("man", 13, 15, "/usr/man"),
                ("cron", 16, 16, "/var/spool/cron"), ("ftp", 21, 21, "/var/lib/ftp"),
                ("sshd", 22, 22, "/dev/null"), ("at", 25, 25, "/var/spool/cron/atjobs"),
                ("squid", 31, 31, "/var/cache/squid"), ("xfs", 33, 33, "/etc/X11/fs"),
                ("games", 35, 35, "/usr/games"), ("postgres", 70, 70, "/var/lib/postgresql"),
                ("cyrus", 85, 12, "/usr/cyrus"), ("vpopmail", 89, 89, "/var/vpopmail"),
                ("ntp", 123, 123, "/var/empty"), ("smmsp", 209, 209, "/var/spool/mqueue"),
                ("guest", 405, 100, "/dev/null")]
ALPINE_DIRS = ["/home", "/media", "/mnt", "/opt", "/srv", "/run", "/usr/local/bin",
               "/var/cache", "/var/empty", "/var/lib", "/var/local", "/var/lock", "/var/log",
               "/var/mail", "/var/opt", "/var/spool", "/var/tmp"]

# Who owns a failure, by test file (then by test name keywords for the mixed files).
AREA_BY_FILE = {
    "api_network_test.py": "networks", "models_networks_test.py": "networks",
    "api_build_test.py": "build", "api_image_test.py": "images",
    "models_images_test.py": "images", "api_container_test.py": "containers",
    "models_containers_test.py": "containers", "api_exec_test.py": "containers",
    "api_healthcheck_test.py": "containers", "api_volume_test.py": "volumes",
    "models_volumes_test.py": "volumes",
}
AREA_BY_KEYWORD = [("network", "networks"), ("networks", "networks"), ("build", "build"),
                   ("pull", "pull/push"), ("push", "pull/push"), ("port", "networks"),
                   ("ports", "networks"), ("link", "networks"), ("links", "networks"),
                   ("mac", "networks"), ("networking", "networks")]


def extract(mirror: str, tag: str, dest: str) -> str:
    """``git archive`` the tests (and pytest.ini) of ``tag`` into ``dest``."""
    archive = subprocess.run(["git", "-C", mirror, "archive", tag, "tests", "pytest.ini"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", dest], input=archive, check=True)
    return os.path.join(dest, "tests", "integration")


def _cli(daemon, *args: str) -> None:
    r = daemon.cli(*args)
    if r.returncode != 0:
        raise RuntimeError(f"dockyard {' '.join(args)} failed: {r.stderr.decode()}")


def prepare_images(daemon) -> None:
    daemon.import_busybox()
    for alias in BUSYBOX_ALIASES:
        _cli(daemon, "tag", "busybox:latest", alias)
    passwd = "".join(f"{n}:x:{u}:{g}:{n}:{h}:/sbin/nologin\\n" for n, u, g, h in ALPINE_USERS)
    groups = "".join(f"{n}:x:{g}:\\n" for n, _u, g, _h in ALPINE_USERS if g not in (0, 12, 100))
    script = (f"mkdir -p {' '.join(ALPINE_DIRS)} && chmod 1777 /var/tmp && "
              f"printf '{passwd}' >> /etc/passwd && printf '{groups}mail:x:12:\\n"
              "users:x:100:\\n' >> /etc/group")
    _cli(daemon, "run", "--name", "sweep-alpine", "busybox", "sh", "-c", script)
    _cli(daemon, "commit", "sweep-alpine", ALPINE_ALIASES[0])
    _cli(daemon, "rm", "sweep-alpine")
    for alias in ALPINE_ALIASES[1:]:
        _cli(daemon, "tag", ALPINE_ALIASES[0], alias)


def _server_api_version(daemon) -> str:
    r = daemon.cli("version", "--format", "{{.Server.ApiVersion}}")
    version = r.stdout.decode().strip()
    if r.returncode != 0 or not version:
        raise RuntimeError(f"cannot read the daemon's API version: {r.stderr.decode()}")
    return version


def area_of(nodeid: str) -> str:
    fname = nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
    words = set(nodeid.lower().split("::")[-1].split("_"))
    for word, area in AREA_BY_KEYWORD:
        if word in words:
            return area
    return AREA_BY_FILE.get(fname, "api/general")


def parse_junit(path: str) -> dict[str, list[tuple[str, str]]]:
    """{"passed"|"failed"|"error"|"skipped": [(nodeid, first line of the message)]}."""
    out: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for case in ET.parse(path).getroot().iter("testcase"):
        cls = case.get("classname", "")
        parts = cls.split(".")
        nodeid = "/".join(parts[:-1]) + ".py::" + parts[-1] + "::" + case.get("name", "")
        nodeid = nodeid.replace("tests/integration/", "")
        kind, msg = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                kind = {"failure": "failed"}.get(child.tag, child.tag)
                msg = (child.get("message") or "").strip().splitlines()
                msg = msg[0][:160] if msg else ""
                break
        out[kind].append((nodeid, msg))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mirror", default=DEFAULT_MIRROR, help="git mirror of docker/docker-py")
    p.add_argument("--tag", default="7.2.0")
    p.add_argument("--workdir", help="scratch directory (default: a new temporary one)")
    p.add_argument("--junit", help="also keep the junit XML here")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory")
    p.add_argument("--api-version", help="DOCKER_TEST_API_VERSION (default: the daemon's)")
    p.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = p.parse_args(argv)

    from daemonctl import Daemon

    work = args.workdir or tempfile.mkdtemp(prefix="dockerpy-sweep-")
    os.makedirs(work, exist_ok=True)
    integ = extract(args.mirror, args.tag, work)
    junit = args.junit or os.path.join(work, "junit.xml")
    ignore = [f"--ignore={os.path.join(integ, f)}" for f in EXCLUDED_FILES]
    deselect = [f"--deselect=tests/integration/{t}" for t in EXCLUDED_TESTS]
    daemon = Daemon()
    try:
        daemon.start()
        prepare_images(daemon)
        env = dict(os.environ, DOCKER_HOST=daemon.host)
        for k in ("DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_CONTEXT"):
            env.pop(k, None)
        # As docker-py's own Makefile does: the tests speak the engine's API version, and those
        # of features newer than it (requires_api_version) are skipped.
        env["DOCKER_TEST_API_VERSION"] = args.api_version or _server_api_version(daemon)
        env["HOME"] = os.path.join(work, "home")  # the tests write ~/.docker (contexts)
        os.makedirs(env["HOME"], exist_ok=True)
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               "--timeout=120", f"--junitxml={junit}", "-o", "junit_family=xunit1",
               *ignore, *deselect, *args.pytest_args, "tests/integration"]
        print("+", " ".join(cmd[:4]), "...", f"(DOCKER_HOST={daemon.host}, "
              f"DOCKER_TEST_API_VERSION={env['DOCKER_TEST_API_VERSION']})", flush=True)
        subprocess.run(cmd, cwd=work, env=env)
    finally:
        import shutil

        try:
            shutil.copy(daemon.log_path, os.path.join(work, "daemon.log"))
        except OSError:
            pass
        daemon.teardown()
    results = parse_junit(junit)
    print("\n=== docker-py", args.tag, "integration sweep against dockyard ===")
    print(" ".join(f"{k}={len(results.get(k, []))}"
                   for k in ("passed", "failed", "error", "skipped"))
          + "   (dockerd 20.10 passes 240 of these on this kind of machine)")
    by_area: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for kind in ("failed", "error"):
        for nodeid, msg in results.get(kind, []):
            by_area[area_of(nodeid)].append((kind, nodeid, msg))
    for area in sorted(by_area):
        print(f"\n[{area}] {len(by_area[area])}")
        for kind, nodeid, msg in sorted(by_area[area], key=lambda x: x[1]):
            print(f"  {kind:6} {nodeid}  -- {msg}")
    print("\nLeft out:")
    for f, why in EXCLUDED_FILES.items():
        print(f"  {f}: {why}")
    for t, why in EXCLUDED_TESTS.items():
        print(f"  {t}: {why}")
    if not args.keep and not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"\nscratch directory: {work}")
    return 0 if not results.get("failed") and not results.get("error") else 1


if __name__ == "__main__":
    sys.exit(main())
