# shellcheck shell=bash
# project.sh - what the project's scenarios share, on top of the harness (lib.sh):
# the tool's binary, the artifact mirror, the shipped user-data rendered with a config,
# and checks of a converged guest. Sourced after lib.sh.

MNB_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MNB_BIN=${MNB_BIN:-$MNB_SRC/target/release/minikube-none-bootstrap}
MNB_STATE=/var/lib/minikube-none-bootstrap
# What `apply` installs from the distribution, for the offline repo (containerd runtime).
MNB_PACKAGES="conntrack socat ethtool iptables sudo ca-certificates containerd runc"
MNB_K8S=v1.34.0

[ -x "$MNB_BIN" ] || fail "no tool binary at $MNB_BIN (run: cargo build --release)"

# mnb_mirror NAME: builds the artifact tree (stand-in tarballs, the minikube double) and
# serves it over HTTPS in NAME's gateway namespace as https://mirror.test. Sets MNB_MIRROR_TLS.
mnb_mirror() {
  local g=$1 www=$GUEST_WORK/mirror
  rm -rf "$www"
  bash "$MNB_SRC/tests/mirror/make-artifacts.sh" --minikube-file "$MNB_SRC/tests/double/minikube" \
    minikube=v1.37.0 crictl=v1.34.0 cni-plugins=v1.8.0 cri-dockerd=v0.3.20 "$www" > /dev/null
  MNB_MIRROR_TLS=$GUEST_WORK/tls
  [ -f "$MNB_MIRROR_TLS/ca.crt" ] || mirror_cert "$MNB_MIRROR_TLS"
  guest_netns_bg "$g" "$GUEST_WORK/mirror.log" "$GUEST_HOST_PY" "$MNB_SRC/tests/mirror/serve.py" \
    --dir "$www" --bind "$(guest_mirror_ip "$g")" --port 443 \
    --cert "$MNB_MIRROR_TLS/server.crt" --key "$MNB_MIRROR_TLS/server.key" --log "$GUEST_WORK/mirror-requests.jsonl" > /dev/null
  guest_wait_port "$g" 443
}

# mnb_user_data CONFIG_FILE OUT: the shipped cloud-init/user-data.yaml with its config
# replaced by CONFIG_FILE's content (the file users start from, not a test-only copy).
mnb_user_data() {
  "$GUEST_HOST_PY" "$MNB_SRC/tests/guest/assets/render-user-data.py" "$MNB_SRC/cloud-init/user-data.yaml" "$1" > "$2"
}

# mnb_mirror_config OUT [EXTRA_YAML]: a config that takes artifacts from the test mirror.
# An nspawn guest shares this host's kernel, whose hybrid cgroup v1 layout leaves the
# guest's cgroup v2 tree without controllers: its preflight `cgroups` failure is ignored
# there (MNB_IGNORE), and the qemu scenarios check cgroups on a kernel of their own.
MNB_IGNORE=${MNB_IGNORE:-cgroups}
mnb_mirror_config() {
  { printf 'kubernetes-version: %s\ncontainer-runtime: containerd\nmirror: https://mirror.test\n' "$MNB_K8S"
    printf 'tls:\n  ca-file: %s\nwait-timeout: 5m\n' "$GUEST_CA_PATH"
    [ -z "$MNB_IGNORE" ] || printf 'preflight:\n  ignore: [%s]\n' "$MNB_IGNORE"
    printf '%s' "${2:-}"; } > "$1"
}

# mnb_boot NAME SUITE USER_DATA: seed + boot an nspawn guest with the tool bound in.
mnb_boot() {
  local g=$1 suite=$2 ud=$3
  GUEST_HOSTNAME=${GUEST_HOSTNAME:-node1} GUEST_CA_FILE=$MNB_MIRROR_TLS/ca.crt seed_dir "$GUEST_WORK/seed" "$ud"
  GUEST_REPO=$(guest_repo "$suite" $MNB_PACKAGES) guest_start_nspawn "$g" "$suite" "$GUEST_WORK/seed" \
    --bind-ro="$MNB_BIN:/usr/local/bin/minikube-none-bootstrap"
}

# mnb_result NAME [JQ]: the guest's result.json (or a jq query on it)
mnb_result() {
  guest_exec "$1" cat "$MNB_STATE/result.json" | jq -r "${2:-.}"
}

# mnb_node_ready NAME KUBECONFIG: asks the apiserver over TLS, with the kubeconfig's
# credentials, for the node's Ready condition; prints True/False/...
mnb_node_ready() {
  guest_exec "$1" python3 - "$2" < "$MNB_SRC/tests/guest/assets/node-ready.py"
}

# mnb_fingerprint NAME: path, mtime, size and sha256 of every file apply may touch (and the
# tool's state, except the result it rewrites each run), for "a re-run modifies nothing".
mnb_fingerprint() {
  guest_exec "$1" sh -c 'find /etc /usr/local/bin /opt/cni /var/lib/minikube /var/lib/kubelet /var/lib/minikube-none-bootstrap \
      /root/.kube /root/.minikube /home/debian/.kube -xdev -type f ! -path "*/result.json" \
      ! -path "/etc/machine-id" ! -path "/etc/ld.so.cache" -printf "%p %T@ %s %m %U\n" 2>/dev/null | sort' 
}
