#!/usr/bin/env bash
# Issue-4 benchmark: `commit` of a container that wrote 5,000 files (~100 MB), and `save` +
# `load` of a ~100 MB image, for dockyard and — when they run here — Docker and Podman,
# interleaved in one run with the shared harness (only side-by-side ratios mean anything).
#
#   benchmarks/images_bench.sh [--repeat N]
#
# dockyard runs as a private daemon of this script's own (its own root, socket and bridge,
# removed at the end), so the numbers are those of this checkout. Start the anchors first with
# ../shared/bench/anchors-up (a private dockerd, podman with runc).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_init 5 "$@"
private_daemon dybench 172.31.253.1/24

args=(--cli "$dy -H unix://$sock" --label dockyard --prepare)
add_docker_anchor
add_podman_anchor
python3 "$bench" "${args[@]}" --only "${ONLY:-commit,save_load}" --repeat-heavy "$repeat"
