#!/bin/bash
# container-runtime: docker on trixie, first boot through the shipped user-data: docker.io
# from the archive, cri-dockerd from the mirror (pinned: cri-dockerd publishes no checksum),
# cri-docker.socket/.service written by the tool, enabled and running, crictl pointed at
# cri-dockerd's socket, the node Ready; a re-run changes nothing.
#
# dockerd runs in the nspawn guest (vfs storage driver, no cgroup controllers: it warns
# and runs), so this is a real boot, not a plan. The cri-dockerd of the mirror is a stand-in
# (no CRI behind the socket; the double's kubelet needs none). make-artifacts.sh's stand-in
# exits at once, which a Type=notify unit reports as a failed start, so the scenario repacks
# it as one that runs as a daemon (mnb_cri_dockerd_daemon) and pins that tarball's digest,
# read from the mirror tree's SHA256SUMS.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=../project.sh
. "$(dirname "$0")/../project.sh"

G=docker
W=$GUEST_WORK
MNB_PACKAGES="conntrack socat ethtool iptables sudo ca-certificates docker.io"

step "mirror with a daemon-capable cri-dockerd stand-in; config: docker, cri-dockerd pinned"
guest_net_prepare "$G" nspawn
mnb_mirror "$G"
sha=$(mnb_cri_dockerd_daemon)
assert_eq "$sha" "$(mnb_sha 'cri-dockerd-0\.3\.20\.amd64\.tgz$')" "cri-dockerd digest in SHA256SUMS"
mnb_mirror_config "$W/config.yaml" "cri-dockerd:
  version: v0.3.20
  sha256: $sha
"
sed -i 's/^container-runtime: containerd$/container-runtime: docker/' "$W/config.yaml"
grep -q '^container-runtime: docker$' "$W/config.yaml" || fail "config: no docker runtime"
mnb_user_data "$W/config.yaml" "$W/user-data"
# /var/lib/docker on a filesystem of its own, as on a VM's disk: minikube writes
# "storage-driver": "overlay2" to /etc/docker/daemon.json and restarts docker, and overlay2
# cannot use the guest's root (itself an overlayfs); on the bound ext4 directory it can.
mkdir -p "$W/docker-data"
GUEST_HOSTNAME=node1 GUEST_CA_FILE=$MNB_MIRROR_TLS/ca.crt seed_dir "$W/seed" "$W/user-data"
# shellcheck disable=SC2086
GUEST_REPO=$(guest_repo trixie $MNB_PACKAGES) guest_start_nspawn "$G" trixie "$W/seed" \
  --bind-ro="$MNB_BIN:/usr/local/bin/minikube-none-bootstrap" --bind="$W/docker-data:/var/lib/docker"
json=$(guest_wait_cloudinit "$G" 600) || { guest_exec "$G" tail -40 /var/log/cloud-init-output.log >&2 || true; fail "cloud-init: $json"; }
assert_match '"status": "done"' "$json" "cloud-init status"

step "result.json: success with the docker runtime"
assert_eq success "$(mnb_result "$G" .outcome)" "outcome"
assert_eq 0 "$(mnb_result "$G" .exit_code)" "exit_code"
assert_eq changed "$(mnb_result "$G" '.phases[] | select(.name == "runtime") | .status')" "runtime phase"
# shellcheck disable=SC2016
assert_eq "install ok installed" "$(guest_exec "$G" dpkg-query -W -f='${Status}' docker.io)" "docker.io package"
# shellcheck disable=SC2016
st=$(guest_exec "$G" dpkg-query -W -f='${Status}' containerd 2> /dev/null || true)
[[ $st != "install ok installed" ]] || log "note: distribution containerd installed too (docker.io depends on it)"

step "docker, cri-docker.socket and cri-docker.service enabled and active"
for u in docker.service cri-docker.socket cri-docker.service kubelet.service; do
  assert_eq active "$(guest_exec "$G" systemctl is-active "$u")" "$u active"
  assert_eq enabled "$(guest_exec "$G" systemctl is-enabled "$u")" "$u enabled"
done
assert_eq 'a(ss) 1 "Stream" "/run/cri-dockerd.sock"' \
  "$(guest_exec "$G" busctl get-property org.freedesktop.systemd1 /org/freedesktop/systemd1/unit/cri_2ddocker_2esocket \
     org.freedesktop.systemd1.Socket Listen)" "cri-docker.socket listens (busctl)"
guest_exec "$G" test -S /var/run/cri-dockerd.sock || fail "no socket at /var/run/cri-dockerd.sock"
assert_eq "root:docker 660" "$(guest_exec "$G" stat -L -c '%U:%G %a' /run/cri-dockerd.sock)" "socket owner and mode"

step "cri-dockerd from the mirror in /usr/local/bin, and the unit runs that binary"
assert_contains "cri-dockerd 0.3.20" "$(guest_exec "$G" /usr/local/bin/cri-dockerd --version)" "cri-dockerd --version"
# The unit's effective ExecStart (minikube adds a drop-in that replaces it, naming the
# binary `which cri-dockerd` finds): whatever it names must be there to run.
exe=$(guest_exec "$G" systemctl show -p ExecStart --value cri-docker.service | sed -n 's/.*path=\([^ ;]*\).*/\1/p' | head -n 1)
log "cri-docker.service runs $exe ($(guest_exec "$G" systemctl show -p DropInPaths --value cri-docker.service))"
guest_exec "$G" test -x "$exe" || fail "cri-docker.service's ExecStart names $exe, which does not exist"
main=$(guest_exec "$G" systemctl show -p MainPID --value cri-docker.service)
[ "$main" -gt 0 ] || fail "cri-docker.service has no main process"
assert_eq "runtime-endpoint: unix:///var/run/cri-dockerd.sock" \
  "$(guest_exec "$G" grep '^runtime-endpoint:' /etc/crictl.yaml)" "/etc/crictl.yaml endpoint"

step "the node is Ready; a re-run changes nothing"
assert_eq True "$(mnb_node_ready "$G" /root/.kube/config)" "node Ready"
before=$(mnb_fingerprint "$G")
guest_exec "$G" minikube-none-bootstrap apply --config /etc/minikube-none-bootstrap/config.yaml > /dev/null 2> "$W/rerun.log" ||
  { tail -30 "$W/rerun.log" >&2; fail "second apply failed"; }
assert_eq "unchanged" "$(mnb_result "$G" '[.phases[].status] | unique | join(",")')" "every phase unchanged"
after=$(mnb_fingerprint "$G")
if [ "$before" != "$after" ]; then diff <(echo "$before") <(echo "$after") >&2 || true; fail "the re-run modified files"; fi
guest_stop "$G"
