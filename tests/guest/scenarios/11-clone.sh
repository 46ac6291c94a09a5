#!/bin/bash
# A cloned VM: the disk of a converged guest, booted with a new machine-id and hostname (what a
# clone of an image gets). `apply` must see that the recorded identity no longer matches and
# re-create the cluster (saying why) instead of leaving one tied to the old name; then a re-run
# changes nothing again.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=../project.sh
. "$(dirname "$0")/../project.sh"

G=clone
W=$GUEST_WORK

step "converge a guest through the shipped user-data"
mnb_mirror_config "$W/config.yaml"
mnb_user_data "$W/config.yaml" "$W/user-data"
guest_net_prepare "$G" nspawn
mnb_mirror "$G"
GUEST_HOSTNAME=node1 mnb_boot "$G" trixie "$W/user-data"
json=$(guest_wait_cloudinit "$G" 600) || fail "cloud-init: $json"
assert_eq success "$(mnb_result "$G" .outcome)" "first apply"
old_id=$(guest_exec "$G" cat /etc/machine-id)

step "clone it: new machine-id and hostname, as a clone's first boot sets them"
# nspawn may bind a transient /etc/machine-id over the image's: unmount it, write a new one
guest_exec "$G" sh -c 'umount /etc/machine-id 2>/dev/null; python3 -c "import uuid; print(uuid.uuid4().hex)" > /etc/machine-id'
guest_exec "$G" sh -c 'echo node2 > /etc/hostname && hostname node2'
guest_exec "$G" sed -i 's/\bnode1\b/node2/' /etc/hosts
new_id=$(guest_exec "$G" cat /etc/machine-id)
[ "$new_id" != "$old_id" ] || fail "machine-id did not change"
assert_eq node2 "$(guest_exec "$G" hostname)" "new hostname"

step "apply on the clone re-creates the cluster and says why"
guest_exec "$G" minikube-none-bootstrap apply --config /etc/minikube-none-bootstrap/config.yaml > "$W/clone.json" 2> "$W/clone.log" ||
  { tail -20 "$W/clone.log" >&2; fail "apply on the clone failed"; }
assert_eq success "$(mnb_result "$G" .outcome)" "apply on the clone"
assert_eq changed "$(mnb_result "$G" '.phases[] | select(.name == "cluster") | .status')" "cluster phase"
why=$(mnb_result "$G" '[.phases[] | select(.name == "cluster") | .changes[] | select(.action == "create") | .detail] | join(" ")')
assert_contains "machine-id" "$why" "the reason names the machine-id"
assert_contains "hostname" "$why" "the reason names the hostname"
assert_eq "$new_id" "$(mnb_result "$G" .host.machine_id)" "result's host machine-id"
assert_eq True "$(mnb_node_ready "$G" /root/.kube/config)" "the node (now node2) is Ready"

step "a re-run on the clone changes nothing"
guest_exec "$G" minikube-none-bootstrap apply --config /etc/minikube-none-bootstrap/config.yaml > /dev/null 2>&1 || fail "re-run failed"
assert_eq unchanged "$(mnb_result "$G" '[.phases[].status] | unique | join(",")')" "every phase unchanged"
guest_stop "$G"
