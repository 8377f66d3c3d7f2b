"""CLI start-up and ``run --rm busybox true`` latency.

Every CLI call pays Python's start-up plus the imports of the command's path, so this tracks
both: the bare interpreter, ``--version`` through ``python -m`` and through the installed
console script, the import time of the run path (``-X importtime``), and, given a daemon,
end-to-end ``run --rm busybox true`` (optionally next to the docker CLI on the same daemon).

    python benchmarks/cli_startup.py [-n 20] [--host unix:///run/dockyard/dockyard.sock]
                                     [--docker]
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(os.path.dirname(HERE), "src")
PY = sys.executable
SCRIPT = os.path.join(os.path.dirname(PY), "dockyard")
RUN_PATH = ("dockyard.cli.main", "dockyard.cli.run", "dockyard.cli.attach",
            "dockyard.cli.connect")


def timed(cmd: list[str], n: int, env: dict[str, str]) -> tuple[float, float]:
    """(min, median) wall time in ms over ``n`` runs (after one warm-up)."""
    subprocess.run(cmd, env=env, capture_output=True, check=False)
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        r = subprocess.run(cmd, env=env, capture_output=True, check=False)
        samples.append((time.perf_counter() - t) * 1000)
        if r.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed: {r.stderr.decode()[-500:]}")
    return min(samples), statistics.median(samples)


def import_time(env: dict[str, str], n: int) -> float:
    """Median microseconds of importing the run path's modules (cumulative, top level)."""
    code = "import " + ", ".join(RUN_PATH)
    totals = []
    for _ in range(n):
        r = subprocess.run([PY, "-X", "importtime", "-c", code], env=env, capture_output=True,
                           text=True, check=True)
        total = 0
        for line in r.stderr.splitlines():
            parts = line.split("|")
            if len(parts) == 3 and parts[2].startswith(" dockyard") and \
                    not parts[2].startswith("  "):
                total += int(parts[1])
        totals.append(total)
    return statistics.median(totals)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=20)
    ap.add_argument("--host", help="daemon address for the end-to-end run")
    ap.add_argument("--docker", action="store_true", help="also time the docker CLI")
    args = ap.parse_args()
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # users have .pyc files; measure that
    env["DOCKYARD_NO_AUTOSTART"] = "1"
    compileall.compile_dir(SRC, quiet=1)
    rows = [
        ("python -c pass (venv)", timed([PY, "-c", "pass"], args.n, env)),
        ("python -m dockyard.cli.main --version",
         timed([PY, "-m", "dockyard.cli.main", "--version"], args.n, env)),
    ]
    if os.path.exists(SCRIPT):
        rows.append(("dockyard --version (console script)",
                     timed([SCRIPT, "--version"], args.n, env)))
    if args.host:
        cmd = ["-H", args.host, "run", "--rm", "busybox", "true"]
        rows.append(("dockyard run --rm busybox true",
                     timed([PY, "-m", "dockyard.cli.main", *cmd], args.n, env)))
        if args.docker and shutil.which("docker"):
            rows.append(("docker run --rm busybox true (same daemon)",
                         timed(["docker", *cmd], args.n, env)))
    width = max(len(name) for name, _ in rows)
    print(f"{'':{width}}   min ms   median ms")
    for name, (lo, med) in rows:
        print(f"{name:{width}}   {lo:6.1f}   {med:9.1f}")
    print(f"run-path imports (dockyard.*, cumulative): {import_time(env, 9) / 1000:.2f} ms")


if __name__ == "__main__":
    main()
