#!/bin/bash
# First boot: cloud-init runs the shipped user-data (config pointing at the test mirror),
# `apply` converges a fresh trixie guest; then a re-run changes nothing.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=../project.sh
. "$(dirname "$0")/../project.sh"

G=firstboot
W=$GUEST_WORK

step "render the shipped user-data with a mirror config; start the mirror; boot"
mnb_mirror_config "$W/config.yaml"
mnb_user_data "$W/config.yaml" "$W/user-data"
guest_net_prepare "$G" nspawn
mnb_mirror "$G"
mnb_boot "$G" trixie "$W/user-data"
json=$(guest_wait_cloudinit "$G" 600) || { guest_exec "$G" tail -40 /var/log/cloud-init-output.log >&2 || true; fail "cloud-init: $json"; }
assert_match '"status": "done"' "$json" "cloud-init status"
assert_match '"errors": \[\]' "$json" "cloud-init errors"

step "result.json: success, every phase ran"
assert_eq success "$(mnb_result "$G" .outcome)" "outcome"
assert_eq 0 "$(mnb_result "$G" .exit_code)" "exit_code"
assert_eq "preflight packages host runtime minikube cluster access verify" \
  "$(mnb_result "$G" '[.phases[].name] | join(" ")')" "phases"
assert_eq "changed" "$(mnb_result "$G" '[.phases[] | select(.name == "packages" or .name == "cluster") | .status] | unique | join(",")')" "packages and cluster changed"

step "the host: runtime and kubelet active and enabled, packages from the archive"
for u in containerd.service kubelet.service; do
  assert_eq active "$(guest_exec "$G" systemctl is-active "$u")" "$u active"
  assert_eq enabled "$(guest_exec "$G" systemctl is-enabled "$u")" "$u enabled"
done
# shellcheck disable=SC2016
assert_eq "install ok installed" "$(guest_exec "$G" dpkg-query -W -f='${Status}' conntrack)" "conntrack package"
assert_contains "crictl version v1.34.0" "$(guest_exec "$G" /usr/local/bin/crictl --version)" "crictl from the mirror"
guest_exec "$G" test -x /opt/cni/bin/bridge || fail "no CNI bridge plugin in /opt/cni/bin"
assert_eq 1 "$(guest_exec "$G" cat /proc/sys/net/ipv4/ip_forward)" "ip_forward"

step "the node is Ready, asked over TLS with root's and the user's kubeconfig"
assert_eq True "$(mnb_node_ready "$G" /root/.kube/config)" "node Ready (root)"
assert_eq "debian 600" "$(guest_exec "$G" stat -c '%U %a' /home/debian/.kube/config)" "user kubeconfig owner and mode"
assert_eq "debian 700" "$(guest_exec "$G" stat -c '%U %a' /home/debian/.kube)" "~/.kube owner and mode"
assert_eq True "$(guest_exec "$G" setpriv --reuid=1000 --regid=1000 --clear-groups python3 - /home/debian/.kube/config \
  < "$MNB_SRC/tests/guest/assets/node-ready.py")" "node Ready (as the user, with their kubeconfig)"

step "re-run: every phase unchanged, no file modified"
before=$(mnb_fingerprint "$G")
guest_exec "$G" minikube-none-bootstrap apply --config /etc/minikube-none-bootstrap/config.yaml > "$W/rerun.json" 2> "$W/rerun.log" ||
  { cat "$W/rerun.log" >&2; fail "second apply failed"; }
assert_eq "unchanged" "$(mnb_result "$G" '[.phases[].status] | unique | join(",")')" "every phase unchanged"
after=$(mnb_fingerprint "$G")
if [ "$before" != "$after" ]; then diff <(echo "$before") <(echo "$after") >&2 || true; fail "the re-run modified files"; fi
log "ok: $(wc -l <<< "$before") files unchanged (mtime, size, mode, owner)"
assert_eq 0 "$(guest_exec "$G" minikube-none-bootstrap plan --output json | jq '[.phases[].changes[]] | length')" "plan on the converged host: no changes"
guest_stop "$G"
