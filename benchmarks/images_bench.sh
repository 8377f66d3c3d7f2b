#!/usr/bin/env bash
# Issue-4 benchmark: `commit` of a container that wrote 5,000 files (~100 MB), and `save` +
# `load` of a ~100 MB image, for dockyard and — when they run here — Docker and Podman,
# interleaved in one run with the shared harness (only side-by-side ratios mean anything).
#
#   benchmarks/images_bench.sh [--repeat N]
#
# dockyard runs as a private daemon of this script's own (its own root and socket, removed at
# the end), so the numbers are those of this checkout. Start the anchors first with
# ../shared/bench/anchors-up (a private dockerd, podman with runc).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bench=${BENCH_PY:-$here/../shared/bench/bench.py}
[ -f "$bench" ] || { echo "no benchmark harness at $bench (set BENCH_PY)" >&2; exit 2; }
repeat=5
[ "${1:-}" = "--repeat" ] && repeat=$2
dy=${DOCKYARD:-$here/.venv/bin/dockyard}

# The daemon root is where a real install keeps it (/var/lib), not in /tmp: on this ext4,
# creating inodes in a block group full of recently deleted ones (the test suites churn /tmp)
# costs up to 40x more (ext4 recently_deleted), which would measure the disk, not dockyard.
base=$(mktemp -d "${BENCH_ROOT_PARENT:-/var/lib}/dybench-XXXXXX")
sock=$base/dockyard.sock
"$dy" daemon --root "$base/root" --exec-root "$base/exec" -H "unix://$sock" \
  --cgroup-parent "dybench-${base##*-}" >"$base/daemon.log" 2>&1 &
daemon_pid=$!
cleanup() {
  kill "$daemon_pid" 2>/dev/null || true
  wait "$daemon_pid" 2>/dev/null || true
  grep " $base" /proc/self/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l || true
  rm -rf "$base"
  for cg in /sys/fs/cgroup/*/"dybench-${base##*-}"; do
    [ -d "$cg" ] && find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  true
}
trap cleanup EXIT
for _ in $(seq 100); do [ -S "$sock" ] && "$dy" -H "unix://$sock" version >/dev/null 2>&1 && break; sleep 0.1; done

args=(--cli "$dy -H unix://$sock" --label dockyard --prepare)
anchor=${ANCHOR_DOCKER_SOCK:-/tmp/anchors/docker.sock}
if [ -S "$anchor" ] && command -v docker >/dev/null; then
  args+=(--cli docker --label docker --env "DOCKER_HOST=unix://$anchor" --prepare)
fi
if command -v podman >/dev/null && [ -z "${NO_PODMAN:-}" ]; then
  U='--ulimit nofile=1024:1024 --ulimit nproc=1024:1024'
  args+=(--cli 'podman --runtime runc' --label podman --opt "run=$U" --opt "create=$U" --prepare)
fi
python3 "$bench" "${args[@]}" --only "${ONLY:-commit,save_load}" --repeat-heavy "$repeat"
