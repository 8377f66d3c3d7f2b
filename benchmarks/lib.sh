# Shared pieces of the benchmark scripts (sourced, not run): the harness, --repeat, a private
# dockyard daemon of the script's own, and the anchor engines' --cli arguments.
#
#   . "$(dirname "$0")/lib.sh"
#   bench_init 5 "$@"           # sets here, bench, repeat (default 5, or --repeat N)
#   private_daemon dybench      # sets dy, sock, base; EXIT trap removes all of it
#   args=(--cli "$dy -H unix://$sock" --label dockyard --prepare)
#   add_docker_anchor; add_podman_anchor build
#   python3 "$bench" "${args[@]}" ...

bench_init() {
  here=$(cd "$(dirname "$0")/.." && pwd)
  bench=${BENCH_PY:-$here/../shared/bench/bench.py}
  [ -f "$bench" ] || { echo "no benchmark harness at $bench (set BENCH_PY)" >&2; exit 2; }
  repeat=$1
  [ "${2:-}" = "--repeat" ] && repeat=$3
  return 0
}

# private_daemon PREFIX [BIP]: a dockyard daemon with its own root, socket, cgroup parent and bridge
# (daemons sharing the default bridge delete it under each other). The root is where a real
# install keeps it (/var/lib), not in /tmp: on this ext4, creating inodes in a block group full
# of recently deleted ones (the test suites churn /tmp) costs up to 40x more (ext4
# recently_deleted), which would measure the disk, not dockyard.
private_daemon() {
  local prefix=$1 bip=${BENCH_BIP:-${2:-172.31.252.1/24}}
  dy=${DOCKYARD:-$here/.venv/bin/dockyard}
  base=$(mktemp -d "${BENCH_ROOT_PARENT:-/var/lib}/$prefix-XXXXXX")
  sock=$base/dockyard.sock
  _bench_id=${base##*-}
  _bench_bridge=dyb$_bench_id
  _bench_cgroup=$prefix-$_bench_id
  "$dy" daemon --root "$base/root" --exec-root "$base/exec" -H "unix://$sock" \
    --cgroup-parent "$_bench_cgroup" --bridge-name "$_bench_bridge" \
    --bip "$bip" >"$base/daemon.log" 2>&1 &
  _bench_daemon_pid=$!
  trap _bench_cleanup EXIT
  for _ in $(seq 100); do
    [ -S "$sock" ] && "$dy" -H "unix://$sock" version >/dev/null 2>&1 && break
    sleep 0.1
  done
}

_bench_cleanup() {
  kill "$_bench_daemon_pid" 2>/dev/null || true
  wait "$_bench_daemon_pid" 2>/dev/null || true
  grep " $base" /proc/self/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l || true
  # its bridges, veths and iptables chains (the daemon keeps them across restarts)
  "$here/.venv/bin/python" -c 'import sys
from dockyard.network.cleanup import purge_daemon_network
purge_daemon_network(sys.argv[1], sys.argv[2])' "$base/root" "$_bench_bridge" 2>/dev/null ||
    ip link del "$_bench_bridge" 2>/dev/null || true
  rm -rf "$base"
  for cg in /sys/fs/cgroup/*/"$_bench_cgroup"; do
    [ -d "$cg" ] && find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  true
}

# add_docker_anchor [--env K=V ...]: the anchor dockerd, when it runs here.
add_docker_anchor() {
  local anchor=${ANCHOR_DOCKER_SOCK:-/tmp/anchors/docker.sock}
  if [ -S "$anchor" ] && command -v docker >/dev/null; then
    args+=(--cli docker --label docker --env "DOCKER_HOST=unix://$anchor" "$@" --prepare)
  fi
}

# add_podman_anchor [VERB ...]: podman with runc (unless NO_PODMAN), with this host's rlimits
# lowered for the run/create verbs and any VERB given.
add_podman_anchor() {
  command -v podman >/dev/null && [ -z "${NO_PODMAN:-}" ] || return 0
  local U='--ulimit nofile=1024:1024 --ulimit nproc=1024:1024' verb opts=()
  for verb in run create "$@"; do opts+=(--opt "$verb=$U"); done
  args+=(--cli 'podman --runtime runc' --label podman "${opts[@]}" --prepare)
}
