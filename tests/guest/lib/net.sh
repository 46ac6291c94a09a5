# shellcheck shell=bash
# net.sh - the network namespaces a guest lives in, and where its "mirror" runs.
#
# Every guest NAME gets a gateway namespace mnb-NAME-gw, holding 10.231.N.1/24 (N from the
# name, or GUEST_NET_N). Servers a scenario runs for the guest (the artifact mirror, ...)
# run there via guest_netns_exec / guest_netns_bg, bound to $(guest_mirror_ip NAME).
# The guest knows that server as mirror.test (an /etc/hosts line from the vendor-data).
#   nspawn: the guest's own namespace mnb-NAME has eth0 = 10.231.N.2/24, default route via
#           10.231.N.1, a veth to the gateway namespace: mirror.test = 10.231.N.1, any port.
#   qemu:   user-net 10.0.2.15/24 (restrict=on); mirror.test = 10.0.2.100, and each port in
#           GUEST_MIRROR_PORTS is relayed (guestfwd -> socat in mnb-NAME-gw) to
#           10.231.N.1:PORT. ssh: 127.0.0.1:<free port> -> guest:22.
# Nothing is routed beyond the gateway namespace (no forwarding, no uplink): a guest can
# reach only what the scenario serves there. The host's own network is never touched.

GUEST_MIRROR_PORTS=${GUEST_MIRROR_PORTS:-80 443}
GUEST_QEMU_MIRROR_IP=10.0.2.100

guest__net_n() {   # 1..250: the prepared one, else GUEST_NET_N, else from the name
  local n
  n=$(guest__get "$1" net_n) && { echo "$n"; return; }
  echo "${GUEST_NET_N:-$(($(printf %s "$1" | cksum | cut -d' ' -f1) % 250 + 1))}"
}

# guest_mirror_ip NAME: the address to bind servers to inside mnb-NAME-gw
guest_mirror_ip() { echo "10.231.$(guest__net_n "$1").1"; }

# guest_ip NAME: the guest's primary IPv4 address
guest_ip() {
  if [ "$(guest__get "$1" flavour)" = qemu ]; then echo 10.0.2.15; else echo "10.231.$(guest__net_n "$1").2"; fi
}

# guest_mirror_addr NAME: what the guest's /etc/hosts maps mirror.test to
guest_mirror_addr() {
  if [ "$(guest__get "$1" flavour)" = qemu ]; then echo "$GUEST_QEMU_MIRROR_IP"; else guest_mirror_ip "$1"; fi
}

# guest_netns_exec NAME CMD...: run CMD (foreground) in the gateway namespace of NAME
guest_netns_exec() {
  local name=$1; shift
  nsenter --net="/run/netns/mnb-$name-gw" -- "$@"
}

# guest_netns_bg NAME LOGFILE CMD...: start CMD in the background in the gateway
# namespace; stdout+stderr to LOGFILE; prints its pid. Stopped with the guest.
guest_netns_bg() {
  local name=$1 logf=$2 pid; shift 2
  nsenter --net="/run/netns/mnb-$name-gw" -- "$@" < /dev/null > "$logf" 2>&1 &
  pid=$!
  echo "$pid $1" >> "$(guest__dir "$name")/bg"
  echo "$pid"
}

# guest_wait_port NAME PORT [TIMEOUT]: wait until mirror_ip:PORT accepts connections
guest_wait_port() {
  local name=$1 port=$2 t=${3:-10} ip i
  ip=$(guest_mirror_ip "$name")
  for ((i = 0; i < t * 5; i++)); do
    guest_netns_exec "$name" timeout 1 bash -c "exec 3<>/dev/tcp/$ip/$port" 2>/dev/null && return 0
    sleep 0.2
  done
  fail "nothing listens on $ip:$port in mnb-$name-gw after ${t}s"
}

# guest_net_prepare NAME FLAVOUR: create guest NAME's namespaces now, for FLAVOUR
# (nspawn|qemu), so that servers can be started (guest_netns_bg) before the guest boots:
# guest_start_* keeps a prepared network. GUEST_NET_N=N picks the subnet 10.231.N.0/24.
# Idempotent while prepared for the same flavour and N.
guest_net_prepare() {
  local name=$1 flavour=$2 n
  [[ $flavour == nspawn || $flavour == qemu ]] || fail "guest_net_prepare: flavour '$flavour'"
  mkdir -p "$(guest__dir "$name")"
  n=${GUEST_NET_N:-$(guest__net_n "$name")}
  if [ -e "/run/netns/mnb-$name-gw" ] && [ "$(guest__get "$name" net_ready)" = "$flavour $n" ]; then
    return 0
  fi
  guest__net_down "$name"
  rm -f "$(guest__dir "$name")/net_n"
  guest__set "$name" flavour "$flavour"
  GUEST_NET_N=$n guest__net_up "$name" "$flavour"
  guest__set "$name" net_ready "$flavour $n"
}

# guest__net_boot NAME FLAVOUR: the namespaces for a boot: the prepared ones, or fresh
guest__net_boot() { guest_net_prepare "$@"; }

# guest__net_up NAME FLAVOUR: create the namespaces (see the top of this file)
guest__net_up() {
  local name=$1 flavour=$2 n gw=mnb-$1-gw ns=mnb-$1
  n=$(guest__net_n "$name"); guest__set "$name" net_n "$n"
  ip netns add "$gw"
  ip -n "$gw" link set lo up
  if [ "$flavour" = nspawn ]; then
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip -n "$gw" link add gw0 type veth peer name eth0 netns "$ns"
    ip -n "$ns" addr add "10.231.$n.2/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" route add default via "10.231.$n.1"
    ip -n "$gw" addr add "10.231.$n.1/24" dev gw0
    ip -n "$gw" link set gw0 up
  else
    ip -n "$gw" addr add "10.231.$n.1/32" dev lo   # the relay's target; no peer needed
  fi
}

# guest__net_down NAME: stop the guest's background servers, remove its namespaces
guest__net_down() {
  local name=$1 d ns pid what
  d=$(guest__dir "$name")
  rm -f "$d/net_ready"
  if [ -f "$d/bg" ]; then
    while read -r pid what; do guest__kill "$pid" "$what" 5; done < "$d/bg"
    rm -f "$d/bg"
  fi
  for ns in "mnb-$name-gw" "mnb-$name"; do
    [ -e "/run/netns/$ns" ] || continue
    # whatever still runs there was started for this guest (relays, servers' children)
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    ip netns del "$ns"
  done
}
