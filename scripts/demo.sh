#!/usr/bin/env bash
# Build, Ship, Run on one machine: build the example application from its Dockerfile, start a
# dockyard registry on loopback, push the image there, remove it locally, pull it back and run
# it.  Usage: scripts/demo.sh [REGISTRY_ADDR]   (default 127.0.0.1:5055; loopback only)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
addr=${1:-127.0.0.1:5055}
image="$addr/hello-app:1.0"
regroot=$(mktemp -d /tmp/dockyard-demo-registry.XXXXXX)
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

cleanup() {
  [ -n "${regpid:-}" ] && kill "$regpid" 2>/dev/null && wait "$regpid" 2>/dev/null
  rm -rf "$regroot"
}
trap cleanup EXIT

dockyard image inspect busybox >/dev/null 2>&1 || dockyard busybox-image

step "Build: dockyard build -t $image examples/hello-app"
dockyard build -t "$image" "$here/examples/hello-app"

step "Ship: a dockyard registry on $addr, then dockyard push $image"
dockyard registry serve --addr "$addr" --root "$regroot" --log-level warning &
regpid=$!
for _ in $(seq 50); do
  curl -sf "http://$addr/v2/" >/dev/null && break
  sleep 0.1
done
dockyard push "$image"

step "Remove it locally, pull it back: dockyard rmi $image && dockyard pull $image"
dockyard rmi "$image"
dockyard pull "$image"

step "Run: dockyard run --rm $image"
dockyard run --rm "$image"
