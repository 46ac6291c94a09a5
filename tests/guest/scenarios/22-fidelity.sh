#!/bin/bash
# minikube's own refusals come through intact. With the runtime phase skipped there is no
# crictl: minikube (the double, faithful to start.go's validateBareMetal) refuses with
# GUEST_MISSING_CONNTRACK, exit 86 (it uses that reason for a missing crictl too). Our result
# says failed (exit 1) in the cluster phase, with error.code minikube-guest-missing-conntrack,
# minikube's reason name and exit code in the message, and minikube's advice (or, as this
# reason has none, our fallback) as remedy; the --events file carries minikube's CloudEvent
# as it was. Then /opt/cni/bin is removed behind the tool's back: minikube refuses with
# NOT_FOUND_CNI_PLUGINS (15), whose advice becomes our remedy. A plain apply then converges.
#
# The user-data is this scenario's own (write_files only, no runcmd): the scenario runs
# apply itself with --skip runtime and --events through guest_exec. The shipped user-data
# would run a full apply on first boot and converge the host before minikube could refuse.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=../project.sh
. "$(dirname "$0")/../project.sh"

G=fidelity
W=$GUEST_WORK
CONFIG=/etc/minikube-none-bootstrap/config.yaml
EVENTS=/var/tmp/mnb-events.jsonl
cluster='.phases[] | select(.name == "cluster")'
FALLBACK="see minikube's message above; fix it and re-run"

step "boot with a config and no runcmd"
mnb_mirror_config "$W/config.yaml"
{ printf '#cloud-config\nwrite_files:\n  - path: %s\n    permissions: "0600"\n    content: |\n' "$CONFIG"
  sed 's/^/      /' "$W/config.yaml"; } > "$W/user-data"
guest_net_prepare "$G" nspawn
mnb_mirror "$G"
mnb_boot "$G" trixie "$W/user-data"
json=$(guest_wait_cloudinit "$G" 300) || fail "cloud-init: $json"
! guest_exec "$G" test -e "$MNB_STATE/result.json" || fail "something ran apply already"

# refused REASON EXIT ACTUAL_EXIT: the checks common to both refusals (result + events)
refused() {
  local reason=$1 mk_exit=$2 rc=$3 code ev msg advice
  code=minikube-$(tr 'A-Z_' 'a-z-' <<< "$reason")
  assert_eq 1 "$rc" "apply exit code"
  assert_eq failed "$(mnb_result "$G" .outcome)" "outcome"
  assert_eq 1 "$(mnb_result "$G" .exit_code)" "exit_code"
  assert_eq cluster "$(mnb_result "$G" '[.phases[] | select(.status == "failed") | .name] | join(" ")')" "failed phase"
  assert_eq skipped "$(mnb_result "$G" '.phases[] | select(.name == "runtime") | .status')" "runtime phase"
  assert_eq "$code" "$(mnb_result "$G" "$cluster | .error.code")" "error.code"
  msg=$(mnb_result "$G" "$cluster | .error.message")
  assert_contains "$reason" "$msg" "error.message names minikube's reason"
  assert_contains "minikube exit code $mk_exit" "$msg" "error.message has minikube's exit code"
  # minikube's fatal CloudEvent, passed on as our minikube-error event
  ev=$(guest_exec "$G" cat "$EVENTS" | jq -c 'select(.type == "minikube-error" and .cloudevent.data.exitcode != null)' | tail -n 1)
  [ -n "$ev" ] || fail "no minikube-error event with an exit code in $EVENTS"
  assert_eq "minikube-none-bootstrap/event/v1" "$(jq -r .schema <<< "$ev")" "event schema"
  assert_eq "1.0 https://minikube.sigs.k8s.io/ io.k8s.sigs.minikube.error" \
    "$(jq -r '.cloudevent | "\(.specversion) \(.source) \(.type)"' <<< "$ev")" "CloudEvent envelope"
  assert_eq "$reason" "$(jq -r .cloudevent.data.name <<< "$ev")" "CloudEvent data.name"
  assert_eq "$mk_exit" "$(jq -r .cloudevent.data.exitcode <<< "$ev")" "CloudEvent data.exitcode"
  assert_contains "$(jq -r '.cloudevent.data.message | gsub("^\\s+|\\s+$"; "")' <<< "$ev")" "$msg" "error.message has minikube's message"
  # the same event minikube recorded in its profile (same id: passed on, not re-made)
  assert_eq "$(jq -r .cloudevent.id <<< "$ev")" \
    "$(guest_exec "$G" cat /root/.minikube/profiles/minikube/events.json | jq -r 'select(.data.exitcode != null) | .id' | tail -n 1)" \
    "CloudEvent id = the one in minikube's events.json"
  advice=$(jq -r '.cloudevent.data.advice | gsub("^\\s+|\\s+$"; "")' <<< "$ev")
  if [ -n "$advice" ]; then
    assert_eq "$advice" "$(mnb_result "$G" "$cluster | .error.remedy")" "error.remedy = minikube's advice"
  else
    assert_eq "$FALLBACK" "$(mnb_result "$G" "$cluster | .error.remedy")" "error.remedy (minikube gives no advice)"
  fi
  assert_eq 1 "$(guest_exec "$G" cat "$EVENTS" | jq -s '[.[] | select(.type == "run-finish")] | last | .exit_code')" \
    "run-finish event exit_code"
}

step "apply --skip runtime: no crictl, minikube refuses with GUEST_MISSING_CONNTRACK (86)"
rc=0
guest_exec "$G" minikube-none-bootstrap apply --skip runtime --config "$CONFIG" --events "$EVENTS" \
  > /dev/null 2> "$W/apply1.log" || rc=$?
# shellcheck disable=SC2016
assert_eq "install ok installed" "$(guest_exec "$G" dpkg-query -W -f='${Status}' conntrack)" "conntrack installed (so crictl is what is missing)"
! guest_exec "$G" sh -c 'command -v crictl' > /dev/null || fail "crictl is on PATH"
refused GUEST_MISSING_CONNTRACK 86 "$rc"
assert_contains "requires crictl" "$(mnb_result "$G" "$cluster | .error.message")" "error.message"
! guest_exec "$G" test -e /var/lib/kubelet/config.yaml || fail "minikube went on after refusing"

step "apply --only runtime, then /opt/cni/bin removed: minikube refuses with NOT_FOUND_CNI_PLUGINS (15)"
guest_exec "$G" minikube-none-bootstrap apply --only runtime --config "$CONFIG" > /dev/null 2> "$W/apply2.log" ||
  { tail -20 "$W/apply2.log" >&2; fail "apply --only runtime failed"; }
assert_eq success "$(mnb_result "$G" .outcome)" "apply --only runtime"
guest_exec "$G" rm -rf /opt/cni/bin
rc=0
guest_exec "$G" minikube-none-bootstrap apply --skip runtime --config "$CONFIG" --events "$EVENTS" \
  > /dev/null 2> "$W/apply3.log" || rc=$?
refused NOT_FOUND_CNI_PLUGINS 15 "$rc"
assert_contains "containernetworking-plugins" "$(mnb_result "$G" "$cluster | .error.remedy")" "error.remedy"

step "a plain apply converges"
guest_exec "$G" minikube-none-bootstrap apply --config "$CONFIG" > /dev/null 2> "$W/apply4.log" ||
  { tail -30 "$W/apply4.log" >&2; fail "apply failed: $(mnb_result "$G" '[.phases[] | select(.error) | .error][0]')"; }
assert_eq success "$(mnb_result "$G" .outcome)" "outcome"
assert_eq 0 "$(mnb_result "$G" .exit_code)" "exit_code"
assert_eq changed "$(mnb_result "$G" '.phases[] | select(.name == "runtime") | .status')" "runtime phase (puts CNI back)"
guest_exec "$G" test -x /opt/cni/bin/bridge || fail "no CNI bridge plugin in /opt/cni/bin"
guest_exec "$G" test -x /usr/local/bin/crictl || fail "no crictl"
for u in containerd.service kubelet.service; do
  assert_eq active "$(guest_exec "$G" systemctl is-active "$u")" "$u active"
  assert_eq enabled "$(guest_exec "$G" systemctl is-enabled "$u")" "$u enabled"
done
assert_eq True "$(mnb_node_ready "$G" /root/.kube/config)" "node Ready"
guest_stop "$G"
