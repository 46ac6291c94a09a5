#!/bin/bash
# Harness self-test, nspawn flavour: a trixie guest (GUEST_SUITE=bookworm: bookworm)
# boots with systemd as PID 1, runs a trivial user-data, has a VM-like network and an
# offline apt repo, reaches a server the test runs in its gateway namespace as mirror.test
# (HTTP, and HTTPS with the test CA), survives a reboot, and can be booted again.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"

G=selftest-ns
SUITE=${GUEST_SUITE:-trixie}   # the image under test: trixie (default) or bookworm
W=$GUEST_WORK

step "network and servers first (cloud-init fetches from them), then the seed"
guest_net_prepare "$G" nspawn
gw=$(guest_mirror_ip "$G")
mkdir -p "$W/www"; echo "hello from the mirror" > "$W/www/hello.txt"
mirror_cert "$W/tls"
srv=$GUEST_LIB_DIR/../../mirror/serve.py   # the project's one test server
guest_netns_bg "$G" "$W/http.log" "$GUEST_HOST_PY" "$srv" --dir "$W/www" --bind "$gw" --port 80 --http > /dev/null
guest_netns_bg "$G" "$W/https.log" "$GUEST_HOST_PY" "$srv" --dir "$W/www" --bind "$gw" --port 443 --cert "$W/tls/server.crt" --key "$W/tls/server.key" > /dev/null
guest_wait_port "$G" 80; guest_wait_port "$G" 443
cat > "$W/user-data" <<'EOF'
#cloud-config
write_files:
  - path: /var/lib/harness-selftest
    content: "written by cloud-init\n"
runcmd:
  - [sh, -c, 'hostname > /mnt/host/results/runcmd-hostname']
  - [python3, -c, 'import urllib.request as u; open("/mnt/host/results/runcmd-fetch", "wb").write(u.urlopen("http://mirror.test/hello.txt", timeout=10).read())']
EOF
GUEST_HOSTNAME=selftest GUEST_CA_FILE=$W/tls/ca.crt seed_dir "$W/seed" "$W/user-data"

step "boot"
GUEST_REPO=$(guest_repo "$SUITE" conntrack) guest_start_nspawn "$G" "$SUITE" "$W/seed"
json=$(guest_wait_cloudinit "$G" 60) || fail "cloud-init did not finish cleanly: $json"
assert_match '"status": "done"' "$json" "cloud-init status"
assert_match '"errors": \[\]' "$json" "cloud-init errors"

step "systemd and D-Bus"
assert_eq systemd "$(guest_exec "$G" cat /proc/1/comm)" "PID 1"
state=$(GUEST_CMD_TIMEOUT=60 guest_exec "$G" systemctl is-system-running --wait || true)
if [ "$state" != running ]; then guest_exec "$G" systemctl --failed --no-legend >&2 || true; fi
assert_match '^(running|degraded)$' "$state" "systemctl is-system-running"
out=$(guest_exec "$G" busctl call org.freedesktop.systemd1 /org/freedesktop/systemd1 \
  org.freedesktop.systemd1.Manager GetUnit s dbus.service)
assert_eq 'o "/org/freedesktop/systemd1/unit/dbus_2eservice"' "$out" "busctl GetUnit dbus.service"
assert_eq cgroup2fs "$(guest_exec "$G" stat -fc %T /sys/fs/cgroup)" "cgroup v2"
out=$(guest_exec "$G" systemd-run --wait --pipe -q sh -c 'echo started-by-systemd-run')
assert_eq started-by-systemd-run "$out" "systemd-run --wait"

step "user-data ran; seed identity applied; image as the tool will find it"
assert_eq "written by cloud-init" "$(guest_exec "$G" cat /var/lib/harness-selftest)" "write_files"
assert_eq selftest "$(cat "$(guest_share "$G")/results/runcmd-hostname")" "hostname via share"
assert_eq "hello from the mirror" "$(cat "$(guest_share "$G")/results/runcmd-fetch")" "runcmd fetched from mirror.test"
assert_eq "1000" "$(guest_exec "$G" id -u debian)" "uid of user debian"
for p in sudo iptables nftables; do
  # shellcheck disable=SC2016  # ${Status} is dpkg-query's field
  if guest_exec "$G" dpkg-query -W -f='${Status}' "$p" 2> /dev/null | grep -q 'ok installed'; then
    fail "$p is preinstalled"
  fi
done
log "ok: sudo, iptables, nftables not preinstalled"

step "network: primary IP and default route like a VM"
ip=$(guest_ip "$G")
assert_contains "inet $ip/24" "$(guest_exec "$G" ip -4 -o addr show dev eth0)" "eth0"
assert_contains "default via $gw dev eth0" "$(guest_exec "$G" ip -4 route show default)" "default route"
assert_contains "src $ip" "$(guest_exec "$G" ip -4 route get "$gw")" "source address"

step "apt sees only the offline repo and installs from it"
out=$(guest_exec "$G" apt-get update 2>&1)
assert_contains "file:/mnt/host/repo" "$out" "apt-get update"
if grep -E '^(Get|Hit|Ign|Err)' <<< "$out" | grep -v 'file:/mnt/host/repo'; then fail "apt used another source"; fi
guest_exec "$G" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q conntrack > "$W/apt.log" 2>&1 ||
  { cat "$W/apt.log" >&2; fail "apt-get install conntrack"; }
assert_match '^conntrack v[0-9]' "$(guest_exec "$G" conntrack --version)" "conntrack"

step "mirror.test: the servers in the test's namespace, HTTP and HTTPS"
assert_eq "$gw" "$(guest_exec "$G" getent hosts mirror.test | awk '{print $1}')" "mirror.test resolves"
fetch='import sys, urllib.request, ssl
ctx = ssl.create_default_context(cafile=sys.argv[2]) if len(sys.argv) > 2 else None
print(urllib.request.urlopen(sys.argv[1], timeout=10, context=ctx).read().decode().strip())'
assert_eq "hello from the mirror" "$(guest_exec "$G" python3 -c "$fetch" http://mirror.test/hello.txt)" "HTTP"
assert_eq "hello from the mirror" \
  "$(guest_exec "$G" python3 -c "$fetch" https://mirror.test/hello.txt "$GUEST_CA_PATH")" "HTTPS with the test CA"
if guest_exec "$G" python3 -c "$fetch" https://mirror.test/hello.txt 2> /dev/null; then
  fail "HTTPS without the test CA succeeded"
fi
log "ok: HTTPS without the test CA is refused"

step "reboot: the guest keeps what it wrote, cloud-init does not run again"
guest_exec "$G" sh -c 'echo before-reboot > /var/lib/harness-marker'
guest_reboot "$G"
json=$(guest_wait_cloudinit "$G" 60) || fail "cloud-init after reboot: $json"
assert_eq before-reboot "$(guest_exec "$G" cat /var/lib/harness-marker)" "file written before reboot"
assert_eq 1 "$(guest_exec "$G" sh -c 'ls /var/lib/cloud/instances | wc -l')" "cloud-init instances"
assert_contains "default via $gw dev eth0" "$(guest_exec "$G" ip -4 route show default)" "default route after reboot"

step "clean poweroff"
t=$SECONDS
guest_stop "$G"
! guest_running "$G" || fail "guest still running"
[ ! -e "/run/netns/mnb-$G" ] || fail "netns left behind"
log "ok: stopped in $((SECONDS - t))s, namespaces removed"

step "booted again with GUEST_PERSIST=1: same disk; without it: pristine"
GUEST_PERSIST=1 guest_start_nspawn "$G" "$SUITE" "$W/seed"
assert_eq before-reboot "$(guest_exec "$G" cat /var/lib/harness-marker)" "file from the previous boot"
guest_stop "$G"
guest_start_nspawn "$G" "$SUITE" "$W/seed"
if guest_exec "$G" test -e /var/lib/harness-marker; then fail "fresh start kept the old disk"; fi
log "ok: a fresh start begins from the pristine image"
guest_stop "$G"
