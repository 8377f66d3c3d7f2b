#!/usr/bin/env bash
# Issue-2 benchmark: `run --rm IMAGE true`, `create`+`start`+`wait`, and `ps -a` with 100
# containers, for dockyard and — when they run here — Docker and Podman, interleaved in one run
# (the machine is noisy: only ratios measured side by side mean anything).
#
#   benchmarks/core.sh [--repeat N]        # needs the shared harness: ../shared/bench/bench.py
#
# Start the anchors first with ../shared/bench/anchors-up (a private dockerd, podman, runc).
# `ps_100` also runs the real docker CLI against dockyard's socket ("docker→dockyard" row), the
# comparison the issue asks for.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bench=${BENCH_PY:-$here/../shared/bench/bench.py}
[ -f "$bench" ] || { echo "no benchmark harness at $bench (set BENCH_PY)" >&2; exit 2; }
repeat=7
[ "${1:-}" = "--repeat" ] && repeat=$2
sock=${DOCKYARD_SOCK:-/run/dockyard/dockyard.sock}
dockyard version >/dev/null   # starts the default daemon if none answers

args=(--cli dockyard --label dockyard --prepare)
anchor=${ANCHOR_DOCKER_SOCK:-/tmp/anchors/docker.sock}
if [ -S "$anchor" ] && command -v docker >/dev/null; then
  args+=(--cli docker --label docker --env "DOCKER_HOST=unix://$anchor" --prepare)
fi
if command -v podman >/dev/null; then
  U='--ulimit nofile=1024:1024 --ulimit nproc=1024:1024'
  args+=(--cli 'podman --runtime runc' --label podman --opt "run=$U" --opt "create=$U" --prepare)
fi
python3 "$bench" "${args[@]}" --only run_true,create_start_wait --repeat "$repeat"

# ps -a with 100 containers, through the docker CLI: against dockerd vs against dockyard.
ps_args=(--cli docker --label 'docker→dockyard' --env "DOCKER_HOST=unix://$sock" --prepare)
if [ -S "$anchor" ]; then
  ps_args=(--cli docker --label 'docker→dockerd' --env "DOCKER_HOST=unix://$anchor" --prepare "${ps_args[@]}")
fi
python3 "$bench" "${ps_args[@]}" --cli dockyard --label dockyard --only ps_100 --repeat "$repeat"
