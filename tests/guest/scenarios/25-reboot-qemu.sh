#!/bin/bash
# A node survives a reboot. A qemu (TCG) trixie VM, its own kernel, provisioned on first boot
# by cloud-init with the shipped user-data: the node is Ready, overlay and br_netfilter are
# loaded, the sysctls set. Then the VM reboots: cloud-init does not run runcmd again (the
# tool does not run, minikube is not started again), yet kubelet comes back (apply enabled
# it; minikube does not), the node is Ready again, and the modules and sysctls are back
# from the tool's modules-load.d and sysctl.d drop-ins (ip_forward=1 and br_netfilter prove it:
# the kernel boots with ip_forward=0 and nothing else loads br_netfilter).
# guest-flavour: qemu
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=../project.sh
. "$(dirname "$0")/../project.sh"

G=reboot-vm
W=$GUEST_WORK
SYSCTLS="net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1 fs.protected_regular=0"

# node_state: the kernel side of a node, as the tool leaves it (modules, sysctls)
node_state() {
  local mods kv k
  mods=$(guest_exec "$G" lsmod | awk 'NR > 1 { print $1 }')
  for m in overlay br_netfilter; do
    grep -qx "$m" <<< "$mods" || fail "module $m not loaded (lsmod)"
  done
  log "ok: overlay and br_netfilter loaded (lsmod)"
  for kv in $SYSCTLS; do
    k=${kv%=*}
    assert_eq "${kv#*=}" "$(guest_exec "$G" cat "/proc/sys/${k//.//}")" "$k"
  done
}

# wait_until WANT SECONDS WHAT CMD...: until CMD prints WANT, polling every 3 s; bounded by SECONDS
wait_until() {
  local want=$1 t=$2 what=$3 end got; shift 3
  end=$((SECONDS + t))
  while :; do
    got=$("$@" 2> /dev/null || true)
    [ "$got" = "$want" ] && break
    [ $SECONDS -lt $end ] || fail "$what: still '$got' after ${t}s (want '$want')"
    sleep 3
  done
  log "ok: $what = '$got' ($((t - end + SECONDS))s)"
}

step "mirror (relayed to the VM as mirror.test:443); the shipped user-data with a mirror config"
# A real kernel with cgroup controllers: nothing is ignored in preflight (MNB_IGNORE empty).
MNB_IGNORE='' mnb_mirror_config "$W/config.yaml"
! grep -q '^preflight:' "$W/config.yaml" || fail "the qemu config must not ignore preflight checks"
mnb_user_data "$W/config.yaml" "$W/user-data"
guest_net_prepare "$G" qemu
mnb_mirror "$G"

step "boot (TCG); cloud-init runs apply"
t=$SECONDS
mnb_qemu_boot "$G" trixie "$W/user-data"
json=$(guest_wait_cloudinit "$G" 1500) ||
  { guest_exec "$G" tail -40 /var/log/cloud-init-output.log >&2 || true; fail "cloud-init: $json"; }
log "first boot to cloud-init done: $((SECONDS - t))s"
assert_match '"status": "done"' "$json" "cloud-init status"

step "first boot: converged"
assert_eq success "$(mnb_result "$G" .outcome)" "outcome"
assert_eq 0 "$(mnb_result "$G" .exit_code)" "exit_code"
assert_match '^(qemu|kvm)$' "$(mnb_result "$G" .host.virtualization)" "host.virtualization"
assert_eq pass "$(mnb_result "$G" '.phases[0].checks[] | select(.id == "cgroups") | .status')" "preflight cgroups"
assert_eq pass "$(mnb_result "$G" '.phases[0].checks[] | select(.id == "kernel-modules") | .status')" "preflight kernel-modules"
for u in containerd.service kubelet.service; do
  assert_eq active "$(guest_exec "$G" systemctl is-active "$u")" "$u active"
  assert_eq enabled "$(guest_exec "$G" systemctl is-enabled "$u")" "$u enabled"
done
assert_eq True "$(mnb_node_ready "$G" /root/.kube/config)" "node Ready"
node_state
guest_exec "$G" grep -qx br_netfilter /etc/modules-load.d/minikube-none-bootstrap.conf || fail "br_netfilter not in the modules drop-in"
for kv in $SYSCTLS; do
  assert_eq "${kv#*=}" "$(mnb_sysctl_effective "$G" "${kv%=*}")" "${kv%=*} as systemd-sysctl will set it at boot"
done

step "what must not move across the reboot: the tool's last result, minikube's start events"
marks() {
  guest_exec "$G" sh -c 'cd / && stat -c "%n %Y %s" /var/lib/minikube-none-bootstrap/result.json \
    /root/.minikube/profiles/minikube/events.json /var/lib/cloud/instance/sem/config_scripts_user &&
    sha256sum /var/lib/minikube-none-bootstrap/result.json /root/.minikube/profiles/minikube/events.json'
}
before=$(marks)
started=$(mnb_result "$G" .started_at)
boot1=$(guest_exec "$G" cat /proc/sys/kernel/random/boot_id)

step "reboot"
t=$SECONDS
guest_reboot "$G"
[ "$(guest_exec "$G" cat /proc/sys/kernel/random/boot_id)" != "$boot1" ] || fail "boot id unchanged: no reboot"
json=$(guest_wait_cloudinit "$G" 600) || fail "cloud-init after the reboot: $json"
log "reboot to cloud-init done: $((SECONDS - t))s"

step "no apply, no minikube start after the reboot"
after=$(marks)
if [ "$before" != "$after" ]; then diff <(echo "$before") <(echo "$after") >&2 || true; fail "result.json or minikube's events changed"; fi
log "ok: result.json (apply of $started), minikube's events.json and runcmd's semaphore unchanged"
assert_eq 1 "$(guest_exec "$G" sh -c 'ls /var/lib/cloud/instances | wc -l')" "cloud-init instances"

step "kubelet back (enabled by apply), node Ready again, modules and sysctls back"
wait_until active 300 "kubelet.service after the reboot" guest_exec "$G" systemctl is-active kubelet.service
assert_eq enabled "$(guest_exec "$G" systemctl is-enabled kubelet.service)" "kubelet.service enabled"
assert_eq active "$(guest_exec "$G" systemctl is-active containerd.service)" "containerd.service active"
for u in systemd-modules-load.service systemd-sysctl.service; do
  assert_eq active "$(guest_exec "$G" systemctl is-active "$u")" "$u (applied the drop-ins at boot)"
done
wait_until True 300 "node Ready after the reboot" mnb_node_ready "$G" /root/.kube/config
node_state
guest_stop "$G"
