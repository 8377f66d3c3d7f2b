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
. "$(dirname "$0")/lib.sh"
bench_init 5 "$@"
private_daemon dybuild

args=(--cli "$dy -H unix://$sock" --label dockyard --prepare)
add_docker_anchor --env DOCKER_BUILDKIT=0
add_podman_anchor build
python3 "$bench" "${args[@]}" --only "${ONLY:-build_cold,build_cached,build_one_change}" \
  --repeat-heavy "$repeat"
