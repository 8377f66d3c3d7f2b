#!/usr/bin/env bash
# Issue-6 benchmark: the shared harness's push_pull scenario (push a fresh ~100 MB image to an
# empty docker-registry on loopback, rmi, pull it back) for dockyard and the anchor Docker,
# interleaved in one run (the machine is noisy: only ratios measured side by side mean
# anything). Target: dockyard ≤ 0.7 × Docker.
#
#   benchmarks/pushpull_bench.sh [--repeat N]      # N timed runs each (default 3)
#
# DOCKYARD_SOCK picks the dockyard daemon (default: the CLI's default socket, started if none
# answers); ANCHOR_DOCKER_SOCK the anchor dockerd (default /tmp/anchors/docker.sock, from
# ../shared/bench/anchors-up). REGISTRY_ADDR is the loopback address of the throw-away
# registry (default 127.0.0.1:5001).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_init 3 "$@"
dockyard=${DOCKYARD_BIN:-$here/.venv/bin/dockyard}
[ -x "$dockyard" ] || dockyard=$(command -v dockyard)
args=(--cli "$dockyard" --label dockyard --prepare)
if [ -n "${DOCKYARD_SOCK:-}" ]; then
  args+=(--env "DOCKYARD_HOST=unix://$DOCKYARD_SOCK")
else
  "$dockyard" version >/dev/null   # starts the default daemon if none answers
fi
add_docker_anchor
python3 "$bench" "${args[@]}" --only push_pull --repeat-heavy "$repeat" \
  --registry-addr "${REGISTRY_ADDR:-127.0.0.1:5001}"
