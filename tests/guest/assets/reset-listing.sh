#!/bin/bash
# reset-listing.sh OUT_DIR: what `reset` must give back, taken in the guest with its own
# tools (find, sha256sum, systemctl, dpkg-query, ip, nft), never with the tool under test.
# Writes OUT_DIR/{files,units,active,packages,links,netfilter,sysctls,mounts,wide}; two
# listings are compared part by part (scenarios/30-reset.sh).
set -u
out=$1
mkdir -p "$out"

# The paths apply and minikube may create or overwrite (the tool's TRACKED list, written out
# again here on purpose, plus the kubeconfig user's and the CNI state); `/**`: the whole tree.
tracked=(
  /usr/local/bin/kubeadm /usr/local/bin/kubectl /usr/local/bin/kubelet /usr/local/bin/minikube
  /usr/local/bin/crictl /usr/local/bin/cri-dockerd /usr/bin/minikube /usr/bin/crictl /usr/bin/cri-dockerd
  '/etc/kubernetes/**' '/var/lib/minikube/**' '/var/lib/kubelet/**' '/var/tmp/minikube/**' /tmp/gvisor
  /etc/systemd/system/kubelet.service '/etc/systemd/system/kubelet.service.d/**'
  /lib/systemd/system/kubelet.service /usr/lib/systemd/system/kubelet.service
  /etc/systemd/system/cri-docker.service /etc/systemd/system/cri-docker.socket
  '/etc/systemd/system/cri-docker.service.d/**'
  /etc/docker/daemon.json /etc/containerd/config.toml /etc/crictl.yaml '/etc/cni/net.d/**' /etc/cni/net.mk
  '/opt/cni/bin/**' /etc/hosts
  /usr/share/ca-certificates/minikubeCA.pem /etc/ssl/certs/minikubeCA.pem /etc/ssl/certs/b5213941.0
  /etc/modules-load.d/minikube-none-bootstrap.conf /etc/sysctl.d/99-zz-minikube-none-bootstrap.conf
  /root/.kube /root/.kube/config '/root/.minikube/**'
  /etc/systemd/system/multi-user.target.wants/kubelet.service
  /etc/systemd/system/multi-user.target.wants/containerd.service
  /etc/systemd/system/multi-user.target.wants/docker.service
  /etc/systemd/system/multi-user.target.wants/cri-docker.service
  /etc/systemd/system/multi-user.target.wants/crio.service
  /etc/systemd/system/sockets.target.wants/cri-docker.socket
  /home/debian/.kube /home/debian/.kube/config '/home/debian/.minikube/**'
  '/var/lib/cni/**'
)

# path type mode uid:gid sha256 link-target, one line per path (trees expanded)
for p in "${tracked[@]}"; do
  depth=(-maxdepth 0)
  case $p in */'**') p=${p%/\*\*}; depth=() ;; esac
  if [ ! -e "$p" ] && [ ! -L "$p" ]; then echo "$p absent"; continue; fi
  find "$p" "${depth[@]}" -printf '%p\t%y\t%m\t%U:%G\t%l\n' | while IFS=$'\t' read -r path type mode owner target; do
    sha=-
    [ "$type" != f ] || sha=$(sha256sum < "$path" | cut -d' ' -f1)
    echo "$path $type $mode $owner $sha ${target:--}"
  done
done | LC_ALL=C sort -u > "$out/files"

systemctl list-unit-files --no-legend --no-pager | awk '{print $1, $2}' | LC_ALL=C sort > "$out/units"
for u in kubelet.service containerd.service; do echo "$u $(systemctl is-active "$u")"; done > "$out/active"
dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' | awk '$2 !~ /^[up]n/' | LC_ALL=C sort > "$out/packages"
ip -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' | LC_ALL=C sort > "$out/links"
awk '$5 ~ "^/var/lib/kubelet/" { print $5 }' /proc/self/mountinfo | LC_ALL=C sort > "$out/mounts"
for k in net/ipv4/ip_forward net/ipv6/conf/all/forwarding net/bridge/bridge-nf-call-iptables \
  net/bridge/bridge-nf-call-ip6tables fs/protected_regular; do
  echo "$k $(cat "/proc/sys/$k" 2> /dev/null || echo absent)"
done > "$out/sysctls"

# The whole ruleset of the guest's network namespace as JSON lines, without what changes by
# itself (handles, counters).
if command -v nft > /dev/null; then
  nft -j list ruleset | python3 -c '
import json, sys
items = [x for x in json.load(sys.stdin)["nftables"] if "metainfo" not in x]
def clean(o):
    if isinstance(o, dict):
        return {k: ({} if k == "counter" else clean(v)) for k, v in o.items() if k != "handle"}
    if isinstance(o, list):
        return [clean(v) for v in o]
    return o
items = [clean(x) for x in items]
for x in sorted(json.dumps(x, sort_keys=True) for x in items):
    print(x)
' > "$out/netfilter"
else
  echo "no nft" > "$out/netfilter"
fi

# Wider than the contract (the tracked paths): every entry of these trees (type, mode, owner;
# the size of files, the target of links; no digests, no times). Left out: what the package
# manager and systemd keep about themselves (the packages part covers dpkg), cloud-init's own. The scenario says which differences it expects, and why.
find /etc /usr /opt /root /home /srv /var/lib /var/tmp -xdev \( -path /var/lib/cloud -o -path /var/lib/apt/lists \
  -o -path /var/lib/dpkg -o -path /var/lib/systemd -o -path /var/lib/private -o -path /etc/ld.so.cache \) -prune \
  -o -type f -printf '%p f %m %U:%G %s\n' -o -printf '%p %y %m %U:%G %l\n' 2> /dev/null | LC_ALL=C sort > "$out/wide"
