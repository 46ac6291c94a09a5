#!/bin/bash
# reset gives the host back as it was before the first apply, proven by a listing taken with
# the guest's own tools (tests/guest/assets/reset-listing.sh: the tracked paths with type,
# mode, owner, sha256 and link target; unit files; packages; interfaces; the netfilter
# ruleset; sysctls; mounts under /var/lib/kubelet; and every entry of /etc /usr /opt /root
# /home /srv /var/lib /var/tmp) before apply and after reset: equal.
#   fresh: cloud-init runs the shipped user-data (apply on first boot), then
#          `reset --purge-packages`; a second reset changes nothing.
#   own:   a host with files of its own where apply and minikube write (kubectl, docker's
#          daemon.json, a file in /etc/kubernetes, a CNI config, containerd's config) and
#          firewall rules of its own; apply by hand; `plan reset`; a reset killed during
#          `minikube delete`, then a reset that finishes the job; own files byte for byte.
# What the minikube double does not make but a real cluster leaves (pod volume mounts, cni0
# and pod veths, flannel.1, KUBE-*/CNI-* chains, nftables tables) is added after apply.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=../project.sh
. "$(dirname "$0")/../project.sh"

W=$GUEST_WORK
MNB_PACKAGES="$MNB_PACKAGES nftables"   # in the offline repo: the listing reads the ruleset with nft
APPLY=(minikube-none-bootstrap apply --config /etc/minikube-none-bootstrap/config.yaml)

# boot NAME USER_DATA [VENDOR_DATA]: mnb_boot, with a vendor-data part (runs right before runcmd)
boot() {
  GUEST_HOSTNAME=node1 GUEST_CA_FILE=$MNB_MIRROR_TLS/ca.crt seed_dir "$W/seed-$1" "$2" "${3:-}"
  # shellcheck disable=SC2086  # MNB_PACKAGES is a list
  GUEST_REPO=$(guest_repo trixie $MNB_PACKAGES) guest_start_nspawn "$1" trixie "$W/seed-$1" \
    --bind-ro="$MNB_BIN:/usr/local/bin/minikube-none-bootstrap"
  local json
  json=$(guest_wait_cloudinit "$1" 600) ||
    { guest_exec "$1" tail -40 /var/log/cloud-init-output.log >&2 || true; fail "cloud-init: $json"; }
}

# listing NAME LABEL: the listing, in the share's results/LABEL
listing() {
  guest_exec "$1" bash /mnt/host/reset-listing.sh "/mnt/host/results/$2"
}

# same NAME A B: every part of listings A and B is equal, the wide one too (shown on failure)
same() {
  local r part
  r=$(guest_share "$1")/results
  for part in files units active packages links netfilter sysctls mounts wide; do
    diff -u "$r/$2/$part" "$r/$3/$part" > "$W/$1-$3-$part.diff" ||
      { cat "$W/$1-$3-$part.diff" >&2; fail "$1: $part after reset differ from before apply"; }
    log "ok: $part equal ($(wc -l < "$r/$2/$part") lines)"
  done
}

# leftovers NAME: what a real cluster leaves behind and the double does not make
leftovers() {
  # shellcheck disable=SC2016  # expanded in the guest
  guest_exec "$1" bash -euo pipefail -c '
    v=/var/lib/kubelet/pods/0b5e/volumes
    for d in $v/kubernetes.io~empty-dir/cache $v/kubernetes.io~projected/kube-api-access-x; do
      mkdir -p $d; mount -t tmpfs tmpfs $d
    done
    mount -t tmpfs tmpfs $v/kubernetes.io~empty-dir/cache            # stacked on the first
    ip link add cni0 type bridge; ip link set cni0 up
    ip link add veth5c1e90a2 type veth peer name pod0eth0; ip link set veth5c1e90a2 master cni0
    ip link add flannel.1 type vxlan id 1 dstport 8472 dev eth0
    iptables -N KUBE-SERVICES; iptables -I INPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
    iptables -N KUBE-FORWARD; iptables -A FORWARD -j KUBE-FORWARD; iptables -A KUBE-FORWARD -s 10.244.0.0/16 -j ACCEPT
    iptables -N CNI-FORWARD; iptables -A FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD
    iptables -t nat -N CNI-HOSTPORT-DNAT; iptables -t nat -A PREROUTING -j CNI-HOSTPORT-DNAT
    iptables -t nat -N KUBE-POSTROUTING; iptables -t nat -A POSTROUTING -j KUBE-POSTROUTING
    iptables -t nat -A KUBE-POSTROUTING -s 10.244.0.0/16 -j MASQUERADE
    ip6tables -N KUBE-FIREWALL; ip6tables -A INPUT -j KUBE-FIREWALL
    nft add table inet minikube-none-bootstrap
    nft add chain inet minikube-none-bootstrap input "{ type filter hook input priority 0; policy accept; }"
    nft add table ip kube-proxy
  '
  log "added: 3 pod volume mounts, cni0 + a pod veth + flannel.1, KUBE-*/CNI-* chains (ip, ip6, nat), 2 nft tables"
}

# reset_json NAME OUT ARGS...: runs the tool's reset (or plan reset) with --output json
reset_json() {
  local g=$1 out=$2; shift 2
  guest_exec "$g" minikube-none-bootstrap "$@" --output json > "$out" 2> "$out.log" ||
    { cat "$out.log" >&2; fail "$g: $* failed"; }
}

step "fresh: the shipped user-data, apply on first boot; the listing is taken just before it"
G=reset-fresh
mnb_mirror_config "$W/config.yaml"
mnb_user_data "$W/config.yaml" "$W/user-data"
cp "$MNB_SRC/tests/guest/assets/reset-listing.sh" "$(guest_share "$G")/"
cat > "$W/before.sh" <<'EOF'
#!/bin/sh
# 30-reset: nft for the listing (not something apply installs), then the listing, right
# before cloud-init runs the user-data's runcmd (apply)
apt-get -q update > /dev/null && DEBIAN_FRONTEND=noninteractive apt-get -q -y install nftables > /dev/null
bash /mnt/host/reset-listing.sh /mnt/host/results/before
EOF
guest_net_prepare "$G" nspawn
mnb_mirror "$G"
boot "$G" "$W/user-data" "$W/before.sh"
[ -s "$(guest_share "$G")/results/before/files" ] || fail "no listing before apply"
assert_eq success "$(mnb_result "$G" .outcome)" "apply on first boot"
assert_eq active "$(guest_exec "$G" systemctl is-active kubelet)" "kubelet"
leftovers "$G"

step "fresh: reset --purge-packages"
t0=$SECONDS
reset_json "$G" "$W/fresh-reset.json" reset --purge-packages
log "reset took $((SECONDS - t0)) s"
assert_eq "reset success changed" "$(jq -r '[.command, .outcome, .phases[0].status] | join(" ")' "$W/fresh-reset.json")" "result"
guest_exec "$G" test ! -e "$MNB_STATE" || fail "the state directory is still there"
guest_exec "$G" cat /run/minikube-none-bootstrap/result.json | jq -e --slurpfile r "$W/fresh-reset.json" '. == $r[0]' > /dev/null ||
  fail "/run/minikube-none-bootstrap/result.json is not the result printed"
jq -r '.phases[0].changes[] | "    \(.action) \(.kind) \(.target)"' "$W/fresh-reset.json" >&2
for c in "stop unit kubelet.service" "remove cluster minikube" "remove interface cni0" "remove interface veth5c1e90a2" \
  "remove interface flannel.1" "remove firewall iptables filter" "remove firewall iptables nat" \
  "remove firewall ip6tables filter" "remove firewall nft table inet minikube-none-bootstrap" \
  "remove firewall nft table ip kube-proxy" "remove mount /var/lib/kubelet/pods/0b5e/volumes/kubernetes.io~empty-dir/cache" \
  "remove package" "remove file /usr/local/bin/minikube" "restore file /etc/hosts" "run unit systemd" \
  "remove directory $MNB_STATE"; do
  jq -e --arg c "$c" '[.phases[0].changes[] | "\(.action) \(.kind) \(.target)"] | any(startswith($c))' \
    "$W/fresh-reset.json" > /dev/null || fail "reset's changes lack '$c'"
done
log "ok: the result names each thing reset did ($(jq '.phases[0].changes | length' "$W/fresh-reset.json") changes)"
listing "$G" after
same "$G" before after
guest_exec "$G" ip -o -4 addr show dev eth0 | grep -q "$(guest_ip "$G")/24" || fail "eth0 lost its address"
guest_exec "$G" python3 -c "import socket; socket.create_connection(('mirror.test', 443), 5)" ||
  fail "host networking broken after reset"
log "ok: eth0 keeps its address, mirror.test:443 answers"

step "fresh: a second reset changes nothing"
reset_json "$G" "$W/fresh-again.json" reset --purge-packages
assert_eq "success unchanged 0" "$(jq -r '[.outcome, .phases[0].status, (.phases[0].changes | length)] | join(" ")' "$W/fresh-again.json")" "second reset"
listing "$G" again
same "$G" before again
guest_stop "$G"

step "own: a host with files and firewall rules of its own; apply by hand"
G=reset-own
sed '/^runcmd:/,$d' "$W/user-data" > "$W/user-data-noapply"
! grep -q 'apply' "$W/user-data-noapply" || fail "user-data without runcmd still applies"
cp "$MNB_SRC/tests/guest/assets/reset-listing.sh" "$(guest_share "$G")/"
guest_net_prepare "$G" nspawn
mnb_mirror "$G"
boot "$G" "$W/user-data-noapply"
guest_exec "$G" bash -euo pipefail -c '
  export DEBIAN_FRONTEND=noninteractive
  apt-get -q update > /dev/null && apt-get -q -y install nftables iptables > /dev/null
  iptables -A INPUT -s 192.0.2.9/32 -m comment --comment "my own rule" -j DROP
  iptables -t nat -A POSTROUTING -s 10.88.0.0/16 -j MASQUERADE
  ip6tables -A INPUT -s 2001:db8::9/128 -j DROP
  nft add table inet myfw
  nft add chain inet myfw input "{ type filter hook input priority 10; policy accept; }"
  nft add rule inet myfw input tcp dport 2222 drop
  printf "#!/bin/sh\necho \"Client Version: v1.28.0 (the distribution kubectl)\"\n" > /usr/local/bin/kubectl
  chmod 0755 /usr/local/bin/kubectl
  mkdir -p /etc/docker /etc/kubernetes /etc/cni/net.d /etc/containerd
  printf "{\n  \"log-driver\": \"journald\",\n  \"mtu\": 1400\n}\n" > /etc/docker/daemon.json
  printf "apiVersion: v1\nkind: Config\n# the site audit policy\n" > /etc/kubernetes/audit-policy.yaml
  chown debian:debian /etc/kubernetes/audit-policy.yaml; chmod 0640 /etc/kubernetes/audit-policy.yaml
  printf "{\"cniVersion\": \"1.0.0\", \"name\": \"podman\", \"plugins\": [{\"type\": \"bridge\"}]}\n" > /etc/cni/net.d/87-podman-bridge.conflist
  printf "version = 2\n# site containerd config, CRI left on\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"registry.k8s.io/pause:3.8\"\n" > /etc/containerd/config.toml
  ln -s /etc/docker/daemon.json /etc/docker/daemon.link
'
own=(/usr/local/bin/kubectl /etc/docker/daemon.json /etc/kubernetes/audit-policy.yaml /etc/cni/net.d/87-podman-bridge.conflist
  /etc/containerd/config.toml)
own_sha=$(guest_exec "$G" sha256sum "${own[@]}")
listing "$G" before
guest_exec "$G" "${APPLY[@]}" > "$W/own-apply.txt" 2> "$W/own-apply.log" || { tail -30 "$W/own-apply.log" >&2; fail "apply failed"; }
assert_eq success "$(mnb_result "$G" .outcome)" "apply by hand"
changed=$(guest_exec "$G" sha256sum "${own[@]}" 2> /dev/null || true)
log "apply and minikube changed $(diff <(echo "$own_sha") <(echo "$changed") | grep -c '^>' || true) of the ${#own[@]} own files:"
diff <(echo "$own_sha") <(echo "$changed") | sed -n 's/^> /    /p' >&2 || true
# What the double leaves alone but others do: older minikube releases overwrite kubectl, the
# docker runtime writes daemon.json, kubeadm runs leave /etc/kubernetes files of theirs.
guest_exec "$G" bash -euc 'printf "#!/bin/sh\necho v1.34.0\n" > /usr/local/bin/kubectl
  echo "{\"exec-opts\": [\"native.cgroupdriver=systemd\"]}" > /etc/docker/daemon.json
  echo "# edited" >> /etc/kubernetes/audit-policy.yaml; chown root:root /etc/kubernetes/audit-policy.yaml
  chmod 0600 /etc/kubernetes/audit-policy.yaml'
now=$(guest_exec "$G" sha256sum "${own[@]}" 2> /dev/null || true)
assert_eq 0 "$(comm -12 <(echo "$own_sha" | sort) <(echo "$now" | sort) | wc -l)" "own files still as they were"
leftovers "$G"

step "own: plan reset shows it all and changes nothing"
listing "$G" applied
reset_json "$G" "$W/own-plan.json" plan reset --purge-packages
assert_eq "plan success changed" "$(jq -r '[.command, .outcome, .phases[0].status] | join(" ")' "$W/own-plan.json")" "plan reset"
for p in "${own[@]}"; do
  jq -e --arg p "$p" '.phases[0].changes | any(.target == $p and .action == "restore")' "$W/own-plan.json" > /dev/null ||
    { jq -r '.phases[0].changes[] | "\(.action) \(.kind) \(.target)"' "$W/own-plan.json" >&2; fail "plan reset does not restore $p"; }
done
log "ok: plan reset restores each own file ($(jq '.phases[0].changes | length' "$W/own-plan.json") changes planned)"
reset_json "$G" "$W/own-plan-keep.json" plan reset
jq -e '.phases[0].changes | any(.kind == "package" and .action == "keep" and (.detail | contains("--purge-packages")))' \
  "$W/own-plan-keep.json" > /dev/null || fail "plan reset without --purge-packages does not say the packages stay"
log "ok: without --purge-packages the packages are kept, and the result says so"
listing "$G" planned
r=$(guest_share "$G")/results
for part in files units packages links netfilter mounts; do
  diff -q "$r/applied/$part" "$r/planned/$part" > /dev/null || { diff -u "$r/applied/$part" "$r/planned/$part" >&2; fail "plan reset changed $part"; }
done
log "ok: plan reset changed nothing"

step "own: a reset killed during minikube delete, then a reset that finishes"
# minikube is made slow once (the wrapper is at a tracked path: reset removes it anyway)
# shellcheck disable=SC2016  # expanded in the guest
guest_exec "$G" bash -euc 'mv /usr/local/bin/minikube /run/mnb-minikube.real
  printf "#!/bin/sh\nif [ \"\$1\" = delete ] && [ ! -e /run/mnb-slowed ]; then touch /run/mnb-slowed; echo \$\$ > /run/mnb-slow.pid; exec sleep 60; fi\nexec /run/mnb-minikube.real \"\$@\"\n" > /usr/local/bin/minikube
  chmod 0755 /usr/local/bin/minikube'
rc=0
guest_exec "$G" timeout -s KILL 8 minikube-none-bootstrap reset --purge-packages > /dev/null 2> "$W/own-killed.log" || rc=$?
assert_eq 137 "$rc" "the first reset was killed"
guest_exec "$G" test -e /run/mnb-slowed || fail "the killed reset never reached minikube delete"
# shellcheck disable=SC2016  # expanded in the guest
guest_exec "$G" sh -c 'kill "$(cat /run/mnb-slow.pid)" 2> /dev/null' || true   # gone with timeout's process group
guest_exec "$G" test -e "$MNB_STATE/manifest.json" || fail "the killed reset lost the manifest"
assert_eq inactive "$(guest_exec "$G" systemctl is-active kubelet || true)" "kubelet stopped by the killed reset"
t0=$SECONDS
reset_json "$G" "$W/own-reset.json" reset --purge-packages
log "reset took $((SECONDS - t0)) s"
assert_eq "success changed" "$(jq -r '[.outcome, .phases[0].status] | join(" ")' "$W/own-reset.json")" "the reset after the killed one"
guest_exec "$G" rm -f /run/mnb-minikube.real /run/mnb-slowed /run/mnb-slow.pid
assert_eq "$own_sha" "$(guest_exec "$G" sha256sum "${own[@]}")" "own files, byte for byte"
assert_eq "debian:debian 640" "$(guest_exec "$G" stat -c '%U:%G %a' /etc/kubernetes/audit-policy.yaml)" "own file's owner and mode"
assert_eq /etc/docker/daemon.json "$(guest_exec "$G" readlink /etc/docker/daemon.link)" "own symlink"
listing "$G" after
same "$G" before after

step "own: a second reset changes nothing"
reset_json "$G" "$W/own-again.json" reset --purge-packages
assert_eq "success unchanged 0" "$(jq -r '[.outcome, .phases[0].status, (.phases[0].changes | length)] | join(" ")' "$W/own-again.json")" "second reset"
guest_stop "$G"
