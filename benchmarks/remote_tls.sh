#!/usr/bin/env bash
# Issue-9 benchmark: what mutual TLS over TCP costs a client. One private dockyard daemon serves
# a unix socket and tcp://127.0.0.1 with --tlsverify at once; the same CLI runs the same scenarios
# through both (and the docker CLI through TLS, and against the anchor dockerd's socket when it
# runs), interleaved in one run: only ratios measured side by side mean anything here. (No ps_100:
# the CLIs share one daemon, so each would list the others' containers.)
#
#   benchmarks/remote_tls.sh [--repeat N]    # needs ../shared/bench/bench.py and `cryptography`
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bench=${BENCH_PY:-$here/../shared/bench/bench.py}
[ -f "$bench" ] || { echo "no benchmark harness at $bench (set BENCH_PY)" >&2; exit 2; }
repeat=7
[ "${1:-}" = "--repeat" ] && repeat=$2
py=$here/.venv/bin/python
dockyard=$here/.venv/bin/dockyard

base=$(mktemp -d /tmp/dockyard-bench-tls-XXXXXX)
tag=$(basename "$base" | tail -c 7)
port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
bridge="dyb$tag"
octet=$("$py" -c "import sys; sys.path.insert(0, '$here/tests'); from daemonctl import _free_octet; print(_free_octet())")
pid=""
cleanup() {
  set +e +o pipefail
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  runc --root "$base/exec/runtime/runc" list -q 2>/dev/null | while read -r c; do
    runc --root "$base/exec/runtime/runc" delete -f "$c" >/dev/null 2>&1 || true; done
  grep -o " $base[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m" || true; done
  for cg in /sys/fs/cgroup/*/"bench-tls-$tag"; do
    [ -d "$cg" ] && find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true; done
  "$py" -c "from dockyard.network.cleanup import purge_daemon_network as p; p('$base/root', '$bridge')"
  rm -rf "$base"
}
trap cleanup EXIT

"$dockyard" tls gen --dir "$base/pki" >/dev/null
"$dockyard" daemon --root "$base/root" --exec-root "$base/exec" --cgroup-parent "bench-tls-$tag" \
  --bridge-name "$bridge" --bip "10.$octet.0.1/24" --default-address-pool "base=10.$octet.0.0/16,size=24" \
  -H "unix://$base/d.sock" -H "tcp://127.0.0.1:$port" --tlsverify \
  --tlscacert "$base/pki/ca.pem" --tlscert "$base/pki/server-cert.pem" \
  --tlskey "$base/pki/server-key.pem" >"$base/daemon.log" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -S "$base/d.sock" ] && break; sleep 0.1; done

tls_env=(--env "DOCKER_HOST=tcp://127.0.0.1:$port" --env DOCKER_TLS_VERIFY=1
         --env "DOCKER_CERT_PATH=$base/pki" --env DOCKYARD_NO_AUTOSTART=1)
args=(--cli "$dockyard" --label 'dockyard unix' --env "DOCKER_HOST=unix://$base/d.sock"
        --env DOCKYARD_NO_AUTOSTART=1 --prepare
      --cli "$dockyard" --label 'dockyard tls' "${tls_env[@]}"
      --cli docker --label 'docker→dockyard tls' "${tls_env[@]}")
anchor=${ANCHOR_DOCKER_SOCK:-/tmp/anchors/docker.sock}
if [ -S "$anchor" ]; then
  args+=(--cli docker --label 'docker→dockerd unix' --env "DOCKER_HOST=unix://$anchor" --prepare)
fi
python3 "$bench" "${args[@]}" --only run_true,exec --repeat "$repeat"
