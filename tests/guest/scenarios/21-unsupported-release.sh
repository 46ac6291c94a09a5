#!/bin/bash
# A release outside the none driver's support window: Debian 12 (bookworm, released
# 2023-06-10, more than two years before the run's real date). First boot runs the shipped
# user-data with `preflight: {strict: true}`: the `distribution` warning becomes fatal, apply
# exits 3 (blocked) and changes nothing. Then, in the same guest, the same config without
# strict: preflight only warns, apply converges. Last, `preflight --strict` (the flag) blocks
# on the converged host too.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=../project.sh
. "$(dirname "$0")/../project.sh"

G=oldrelease
W=$GUEST_WORK
LAX=/etc/minikube-none-bootstrap/lax.yaml
distribution='.phases[] | select(.name == "preflight") | .checks[] | select(.id == "distribution")'

# Guards the premise: the check is computed from the run's real date.
released=2023-06-10
[ "$(date -u +%s)" -gt "$(date -u -d "$released + 2 years" +%s)" ] ||
  fail "bookworm ($released) is still inside the two-year window today: this scenario needs a newer 'old' release"

step "bookworm guest, the shipped user-data with a strict mirror config"
mnb_mirror_config "$W/lax.yaml"
sed 's/^preflight:$/preflight:\n  strict: true/' "$W/lax.yaml" > "$W/strict.yaml"
grep -q '^  strict: true$' "$W/strict.yaml" || fail "no preflight block to make strict in $W/lax.yaml"
mnb_user_data "$W/strict.yaml" "$W/user-data"
mnb_snapshot_vendor_data "$W/snapshot.sh"
guest_net_prepare "$G" nspawn
mnb_mirror "$G"
mnb_boot_with "$G" bookworm "$W/user-data" "$W/snapshot.sh"
# shellcheck disable=SC2016  # expanded in the guest
assert_eq 12 "$(guest_exec "$G" sh -c '. /etc/os-release; echo $VERSION_ID')" "guest VERSION_ID"
json=$(guest_wait_cloudinit "$G" 300) && fail "cloud-init reported success for a blocked apply: $json"
assert_eq error "$(jq -r .status <<< "$json")" "cloud-init status"

step "strict: blocked by the distribution check, exit 3"
assert_eq blocked "$(mnb_result "$G" .outcome)" "outcome"
assert_eq 3 "$(mnb_result "$G" .exit_code)" "exit_code"
assert_eq "preflight:failed" "$(mnb_result "$G" '[.phases[] | "\(.name):\(.status)"] | join(" ")')" "phases"
assert_eq outside-window "$(mnb_result "$G" .host.support.status)" "host.support.status"
assert_eq fail "$(mnb_result "$G" "$distribution | .status")" "distribution status"
assert_contains "strict" "$(mnb_result "$G" "$distribution | .overridden")" "distribution overridden"
assert_eq "$released" "$(mnb_result "$G" "$distribution | .facts.released")" "distribution released"
assert_eq outside-window "$(mnb_result "$G" "$distribution | .facts.support")" "distribution support"
assert_contains "distribution" "$(mnb_result "$G" '.phases[0].error.message')" "preflight error names the check"

step "strict: nothing on the host changed"
mnb_untouched "$G"

step "the same config without strict: preflight warns, apply converges"
guest_exec "$G" install -m 600 /dev/stdin "$LAX" < "$W/lax.yaml"
guest_exec "$G" minikube-none-bootstrap apply --config "$LAX" > "$W/apply.out" 2> "$W/apply.log" ||
  { tail -30 "$W/apply.log" >&2; fail "apply without strict failed: $(mnb_result "$G" '.error // [.phases[] | select(.error) | .error][0]')"; }
assert_eq success "$(mnb_result "$G" .outcome)" "outcome"
assert_eq 0 "$(mnb_result "$G" .exit_code)" "exit_code"
assert_eq warn "$(mnb_result "$G" "$distribution | .status")" "distribution status"
assert_eq null "$(mnb_result "$G" "$distribution | .overridden")" "distribution not overridden"
assert_contains "Debian 13" "$(mnb_result "$G" "$distribution | .remedy")" "distribution remedy"
assert_eq "preflight packages host runtime minikube cluster access verify" \
  "$(mnb_result "$G" '[.phases[].name] | join(" ")')" "phases"
for u in containerd.service kubelet.service; do
  assert_eq active "$(guest_exec "$G" systemctl is-active "$u")" "$u active"
  assert_eq enabled "$(guest_exec "$G" systemctl is-enabled "$u")" "$u enabled"
done
# shellcheck disable=SC2016
assert_match '^install ok installed$' "$(guest_exec "$G" dpkg-query -W -f='${Status}' containerd)" "containerd package"
# shellcheck disable=SC2016
assert_match '^1\.6\.' "$(guest_exec "$G" dpkg-query -W -f='${Version}' containerd)" "bookworm's containerd"
assert_eq True "$(mnb_node_ready "$G" /root/.kube/config)" "node Ready"

step "--strict (the flag) blocks preflight on the converged host as well"
rc=0; guest_exec "$G" minikube-none-bootstrap preflight --strict --config "$LAX" > /dev/null 2>&1 || rc=$?
assert_eq 3 "$rc" "preflight --strict exit code"
assert_eq preflight "$(mnb_result "$G" .command)" "command"
assert_eq blocked "$(mnb_result "$G" .outcome)" "outcome"
assert_eq fail "$(mnb_result "$G" "$distribution | .status")" "distribution status"
assert_contains "strict" "$(mnb_result "$G" "$distribution | .overridden")" "distribution overridden"

# Last, as it is about the next boot rather than the support window: bookworm's procps ships
# /usr/lib/sysctl.d/99-protect-links.conf (fs.protected_regular = 2). systemd-sysctl applies
# all sysctl.d files in lexical order of their names, so the tool's drop-in must sort after
# it, or a reboot undoes fs.protected_regular=0 (the nspawn guest shares the host's kernel
# sysctls: what the next boot sets is read from systemd-sysctl's configuration).
step "the sysctl drop-in wins at the next boot"
for kv in net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 fs.protected_regular=0; do
  assert_eq "${kv#*=}" "$(mnb_sysctl_effective "$G" "${kv%=*}")" "${kv%=*} as systemd-sysctl sets it at boot"
done
guest_stop "$G"
