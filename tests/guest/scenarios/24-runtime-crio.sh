#!/bin/bash
# container-runtime: cri-o on Debian 13 (trixie), which does not package cri-o (trixie,
# trixie-updates and trixie-security have no cri-o: the offline repo builder, resolving
# against trixie's own apt lists, cannot find it). Preflight's container-runtime check must
# fail with its remedy, and the first-boot apply (the shipped user-data) exit 3, blocked,
# with nothing on the host changed.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=../project.sh
. "$(dirname "$0")/../project.sh"

G=crio
W=$GUEST_WORK
check='.phases[] | select(.name == "preflight") | .checks[] | select(.id == "container-runtime")'

step "trixie packages no cri-o (the offline repo builder cannot resolve it)"
# In the background, not in an `if`/`||`: bash ignores set -e in a condition, all the way
# down, and guest_repo would then go on and cache an empty repo for the failed resolve.
(guest_repo trixie cri-o) > "$W/repo-cri-o.log" 2>&1 &
rc=0; wait $! || rc=$?
[ "$rc" -ne 0 ] || fail "trixie's archive now has cri-o: this scenario's premise is gone (see $W/repo-cri-o.log)"
assert_contains "Unable to locate package cri-o" "$(cat "$W/repo-cri-o.log")" "apt on trixie's lists"

step "the shipped user-data with container-runtime: cri-o"
mnb_mirror_config "$W/config.yaml"
sed -i 's/^container-runtime: containerd$/container-runtime: cri-o/' "$W/config.yaml"
grep -q '^container-runtime: cri-o$' "$W/config.yaml" || fail "config: no cri-o runtime"
mnb_user_data "$W/config.yaml" "$W/user-data"
mnb_snapshot_vendor_data "$W/snapshot.sh"
guest_net_prepare "$G" nspawn
mnb_mirror "$G"
# the offline repo: what trixie has of the package list (no runtime: there is none to have)
MNB_PACKAGES="conntrack socat ethtool iptables sudo ca-certificates" mnb_boot_with "$G" trixie "$W/user-data" "$W/snapshot.sh"
json=$(guest_wait_cloudinit "$G" 300) && fail "cloud-init reported success: $json"
assert_eq error "$(jq -r .status <<< "$json")" "cloud-init status"

step "preflight: container-runtime fails with its remedy; apply blocked, exit 3"
assert_eq apply "$(mnb_result "$G" .command)" "command"
assert_eq blocked "$(mnb_result "$G" .outcome)" "outcome"
assert_eq 3 "$(mnb_result "$G" .exit_code)" "exit_code"
assert_eq "preflight:failed" "$(mnb_result "$G" '[.phases[] | "\(.name):\(.status)"] | join(" ")')" "phases"
assert_eq fail "$(mnb_result "$G" "$check | .status")" "container-runtime status"
assert_eq null "$(mnb_result "$G" "$check | .overridden")" "container-runtime not overridden"
assert_contains "cri-o" "$(mnb_result "$G" "$check | .message")" "container-runtime message"
assert_contains "container-runtime: containerd" "$(mnb_result "$G" "$check | .remedy")" "container-runtime remedy"
assert_eq cri-o "$(mnb_result "$G" "$check | .facts.runtime")" "container-runtime facts.runtime"
assert_contains "container-runtime" "$(mnb_result "$G" '.phases[0].error.message')" "preflight error names the check"

step "nothing on the host changed"
mnb_untouched "$G"
for p in cri-o cri-o-runc; do
  # shellcheck disable=SC2016
  st=$(guest_exec "$G" dpkg-query -W -f='${Status}' "$p" 2> /dev/null || true)
  [[ $st != *" installed" ]] || fail "package $p is installed"
done
assert_eq not-found "$(guest_exec "$G" systemctl show -p LoadState --value crio.service)" "crio.service LoadState"
guest_stop "$G"
