#!/usr/bin/env python3
"""Issue-8 benchmark: what networking costs a container start.

`run --rm IMAGE true` on the default bridge vs `--network none` (dockyard, one private daemon
with its own bridge), and Docker's anchor dockerd on the default bridge, interleaved in one run
of the shared harness (the machine is noisy: only same-run ratios mean anything).

    benchmarks/network_bench.py [--repeat N]

Targets (issue 8): bridge - none <= 15 ms, and bridge <= 0.3 x Docker.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))

from daemonctl import DOCKYARD, Daemon  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeat", type=int, default=15)
    p.add_argument("--bench", default=os.environ.get(
        "BENCH_PY", os.path.join(ROOT, "..", "shared", "bench", "bench.py")))
    p.add_argument("--anchor", default=os.environ.get("ANCHOR_DOCKER_SOCK",
                                                      "/tmp/anchors/docker.sock"))
    p.add_argument("--json", help="keep the harness's raw values in this file")
    a = p.parse_args()
    d = Daemon()
    d.start()
    tmp = tempfile.mkdtemp(prefix="netbench-")
    out = os.path.abspath(a.json) if a.json else os.path.join(tmp, "results.json")
    try:
        dy = f"{DOCKYARD} -H {d.host}"
        args = [sys.executable, a.bench,
                "--cli", dy, "--label", "dockyard bridge", "--prepare",
                "--cli", dy, "--label", "dockyard none", "--opt", "run=--network none",
                "--prepare"]
        if os.path.exists(a.anchor):
            args += ["--cli", "docker", "--label", "docker bridge",
                     "--env", f"DOCKER_HOST=unix://{a.anchor}", "--prepare"]
        args += ["--only", "run_true", "--repeat", str(a.repeat), "--json", out]
        env = dict(os.environ, DOCKYARD_NO_AUTOSTART="1")
        rc = os.spawnvpe(os.P_WAIT, args[0], args, env)
        if rc != 0:
            return rc
        summarize(out)
    finally:
        d.teardown()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _median(values: list[float]) -> float:
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def summarize(path: str) -> None:
    with open(path) as f:
        data = json.load(f)
    med: dict[str, float] = {}
    for row in data.get("results", []):
        if row.get("scenario") == "run_true" and not row.get("phase"):
            for label, values in row["values"].items():
                if values:
                    med[label] = _median(values) * 1e3
    bridge, none = med.get("dockyard bridge"), med.get("dockyard none")
    docker = med.get("docker bridge")
    print("\nrun --rm true, medians (ms):", {k: round(v, 1) for k, v in med.items()})
    if bridge is not None and none is not None:
        print(f"bridge - none = {bridge - none:+.1f} ms (target <= 15 ms)")
    if bridge is not None and docker:
        print(f"bridge / docker = {bridge / docker:.2f} (target <= 0.30)")


if __name__ == "__main__":
    sys.exit(main())
