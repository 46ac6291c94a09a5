#!/bin/bash
# Harness self-test, qemu flavour (TCG): a trixie VM with its own kernel boots from the
# seed, is driven over ssh, loads br_netfilter, takes kernel sysctls, reaches mirror.test
# through the guestfwd relay, and comes back from a reboot with its disk intact.
# guest-flavour: qemu
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"

G=selftest-vm
W=$GUEST_WORK

step "seed"
cat > "$W/user-data" <<'EOF'
#cloud-config
write_files:
  - path: /var/lib/harness-selftest
    content: "written by cloud-init\n"
runcmd:
  - [sh, -c, 'uname -r > /mnt/host/results/runcmd-kernel']
EOF
mirror_cert "$W/tls"
GUEST_HOSTNAME=selftest-vm GUEST_CA_FILE=$W/tls/ca.crt seed_dir "$W/seed" "$W/user-data"

step "boot (TCG)"
t=$SECONDS
guest_start_qemu "$G" trixie "$W/seed"
log "boot to ssh: $((SECONDS - t))s"
json=$(guest_wait_cloudinit "$G" 300) || fail "cloud-init did not finish cleanly: $json"
assert_match '"status": "done"' "$json" "cloud-init status"
log "boot to cloud-init done: $((SECONDS - t))s"

step "a real VM with its own kernel"
assert_eq systemd "$(guest_exec "$G" cat /proc/1/comm)" "PID 1"
assert_match '^(qemu|kvm)$' "$(guest_exec "$G" systemd-detect-virt)" "virtualization"
assert_eq "$(guest_exec "$G" uname -r)" "$(cat "$(guest_share "$G")/results/runcmd-kernel")" "kernel via share"
assert_eq cgroup2fs "$(guest_exec "$G" stat -fc %T /sys/fs/cgroup)" "cgroup v2"
state=$(GUEST_CMD_TIMEOUT=120 guest_exec "$G" systemctl is-system-running --wait || true)
[ "$state" = running ] || guest_exec "$G" systemctl --failed --no-legend >&2 || true
assert_match '^(running|degraded)$' "$state" "systemctl is-system-running"
out=$(guest_exec "$G" busctl call org.freedesktop.systemd1 /org/freedesktop/systemd1 \
  org.freedesktop.systemd1.Manager GetUnit s ssh.service)
assert_eq 'o "/org/freedesktop/systemd1/unit/ssh_2eservice"' "$out" "busctl GetUnit ssh.service"
assert_contains "default via 10.0.2.2" "$(guest_exec "$G" ip -4 route show default)" "default route"
assert_contains "inet $(guest_ip "$G")/24" "$(guest_exec "$G" ip -4 -o addr show)" "primary IP"

step "kernel modules and sysctls"
guest_exec "$G" modprobe br_netfilter
assert_contains br_netfilter "$(guest_exec "$G" cat /proc/modules)" "loaded modules"
guest_exec "$G" sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 fs.protected_regular=0
assert_eq 1 "$(guest_exec "$G" cat /proc/sys/net/ipv4/ip_forward)" "net.ipv4.ip_forward"
assert_eq 1 "$(guest_exec "$G" cat /proc/sys/net/bridge/bridge-nf-call-iptables)" "bridge-nf-call-iptables"
assert_eq 0 "$(guest_exec "$G" cat /proc/sys/fs/protected_regular)" "fs.protected_regular"

step "mirror.test through the guestfwd relay (HTTP :80, HTTPS :443)"
gw=$(guest_mirror_ip "$G")
mkdir -p "$W/www"; echo "hello from the mirror" > "$W/www/hello.txt"
srv=$GUEST_LIB_DIR/../../mirror/serve.py   # the project's one test server
guest_netns_bg "$G" "$W/http.log" "$GUEST_HOST_PY" "$srv" --dir "$W/www" --bind "$gw" --port 80 --http > /dev/null
guest_netns_bg "$G" "$W/https.log" "$GUEST_HOST_PY" "$srv" --dir "$W/www" --bind "$gw" --port 443 --cert "$W/tls/server.crt" --key "$W/tls/server.key" > /dev/null
guest_wait_port "$G" 80; guest_wait_port "$G" 443
assert_eq "$(guest_mirror_addr "$G")" "$(guest_exec "$G" getent hosts mirror.test | awk '{print $1}')" "mirror.test resolves"
fetch='import sys, urllib.request, ssl
ctx = ssl.create_default_context(cafile=sys.argv[2]) if len(sys.argv) > 2 else None
print(urllib.request.urlopen(sys.argv[1], timeout=20, context=ctx).read().decode().strip())'
assert_eq "hello from the mirror" "$(guest_exec "$G" python3 -c "$fetch" http://mirror.test/hello.txt)" "HTTP"
assert_eq "hello from the mirror" \
  "$(guest_exec "$G" python3 -c "$fetch" https://mirror.test/hello.txt "$GUEST_CA_PATH")" "HTTPS with the test CA"

probe='import socket, sys
try: socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3); print("reached")
except OSError: print("unreachable")'
assert_eq unreachable "$(guest_exec "$G" python3 -c "$probe" 10.0.2.2 22)" "host side of user-net (restrict=on)"

step "reboot: back with a new boot id, same disk, cloud-init not re-run"
guest_exec "$G" sh -c 'echo before-reboot > /var/lib/harness-marker'
boot1=$(guest_exec "$G" cat /proc/sys/kernel/random/boot_id)
t=$SECONDS
guest_reboot "$G"
log "reboot to ssh: $((SECONDS - t))s"
[ "$(guest_exec "$G" cat /proc/sys/kernel/random/boot_id)" != "$boot1" ] || fail "boot id unchanged"
assert_eq before-reboot "$(guest_exec "$G" cat /var/lib/harness-marker)" "file written before reboot"
json=$(guest_wait_cloudinit "$G" 300) || fail "cloud-init after reboot: $json"
assert_eq 1 "$(guest_exec "$G" sh -c 'ls /var/lib/cloud/instances | wc -l')" "cloud-init instances"
assert_eq 0 "$(guest_exec "$G" cat /proc/sys/net/ipv4/ip_forward)" "ip_forward reset by reboot"

step "clean poweroff"
t=$SECONDS
guest_stop "$G"
! guest_running "$G" || fail "guest still running"
log "ok: stopped in $((SECONDS - t))s"
