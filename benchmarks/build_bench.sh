#!/usr/bin/env bash
# Issue-7 benchmark: the shared harness's build_cold, build_cached and build_one_change
# (FROM bench/busybox, a RUN, a COPY of 1,000 small files + 50 MiB, another RUN) for dockyard
# and — when they run here — Docker's classic builder (DOCKER_BUILDKIT=0) and Podman,
# interleaved in one run (the machine is noisy: only side-by-side ratios mean anything).
# Targets: cold <= 0.7x Docker, cached <= 0.5x, one change <= 0.6x.
#
#   benchmarks/build_bench.sh [--repeat N]
#
# dockyard runs as a private daemon of this script (own root under /var/lib, socket, cgroup
# parent; all removed at the end), so the numbers are those of this checkout. Start the anchors
# first with ../shared/bench/anchors-up.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bench=${BENCH_PY:-$here/../shared/bench/bench.py}
[ -f "$bench" ] || { echo "no benchmark harness at $bench (set BENCH_PY)" >&2; exit 2; }
repeat=5
[ "${1:-}" = "--repeat" ] && repeat=$2
dy=${DOCKYARD:-$here/.venv/bin/dockyard}

base=$(mktemp -d "${BENCH_ROOT_PARENT:-/var/lib}/dybuild-XXXXXX")
sock=$base/dockyard.sock
# its own bridge too: daemons sharing the default one delete it under each other
"$dy" daemon --root "$base/root" --exec-root "$base/exec" -H "unix://$sock" \
  --cgroup-parent "dybuild-${base##*-}" --bridge-name "dyb${base##*-}" \
  --bip "${BENCH_BIP:-172.31.252.1/24}" >"$base/daemon.log" 2>&1 &
daemon_pid=$!
cleanup() {
  kill "$daemon_pid" 2>/dev/null || true
  wait "$daemon_pid" 2>/dev/null || true
  grep " $base" /proc/self/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l || true
  rm -rf "$base"
  ip link del "dyb${base##*-}" 2>/dev/null || true
  for cg in /sys/fs/cgroup/*/"dybuild-${base##*-}"; do
    [ -d "$cg" ] && find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  true
}
trap cleanup EXIT
for _ in $(seq 100); do [ -S "$sock" ] && "$dy" -H "unix://$sock" version >/dev/null 2>&1 && break; sleep 0.1; done

args=(--cli "$dy -H unix://$sock" --label dockyard --prepare)
anchor=${ANCHOR_DOCKER_SOCK:-/tmp/anchors/docker.sock}
if [ -S "$anchor" ] && command -v docker >/dev/null; then
  args+=(--cli docker --label docker --env "DOCKER_HOST=unix://$anchor" --env DOCKER_BUILDKIT=0
         --prepare)
fi
if command -v podman >/dev/null && [ -z "${NO_PODMAN:-}" ]; then
  U='--ulimit nofile=1024:1024 --ulimit nproc=1024:1024'
  args+=(--cli 'podman --runtime runc' --label podman --opt "run=$U" --opt "create=$U"
         --opt "build=$U" --prepare)
fi
python3 "$bench" "${args[@]}" --only "${ONLY:-build_cold,build_cached,build_one_change}" \
  --repeat-heavy "$repeat"
