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

# --- helpers of the 2x scenarios (config errors, support window, fidelity, runtimes, reboot) ---

# What `find` records of the trees apply may change, for "nothing changed": path, type,
# mtime, size, mode, owner and link target of every entry (directories and symlinks too,
# so that a created directory or an enabled unit shows). Left out: cloud-init's own
# bookkeeping (/var/lib/cloud: it moves on to its next modules while we look), the tool's
# state dir (every run records its result there; /var/lib itself is not listed, as making
# that dir changes its mtime: what else appears in /var/lib is listed), /etc/machine-id
# and ld.so.cache.
MNB_SNAPSHOT_CMD='find /etc /usr /opt /var/lib/* -xdev \( -path /var/lib/cloud -o -path /var/lib/minikube-none-bootstrap -o -path /etc/machine-id -o -path /etc/ld.so.cache \) -prune -o -printf "%p %y %T@ %s %m %U %l\n" 2>/dev/null | LC_ALL=C sort'

# mnb_snapshot_vendor_data OUT: a vendor-data shell part that records that snapshot in
# /var/tmp/mnb-before. cloud-init runs vendor scripts (scripts_vendor) in its final stage
# right before the user-data's runcmd (scripts_user), so the snapshot is the host exactly
# as the tool finds it. Boot with mnb_boot_with.
mnb_snapshot_vendor_data() {
  printf '#!/bin/sh\n# mnb: snapshot of the host just before runcmd\n%s > /var/tmp/mnb-before\n' "$MNB_SNAPSHOT_CMD" > "$1"
}

# mnb_snapshot_take NAME FILE: the same snapshot, now, into FILE inside the guest
mnb_snapshot_take() {
  guest_exec "$1" sh -c "$MNB_SNAPSHOT_CMD > $2"
}

# mnb_snapshot_diff NAME [BEFORE]: the snapshot now vs BEFORE (a file in the guest, default
# /var/tmp/mnb-before); prints the diff, nothing when nothing changed
mnb_snapshot_diff() {
  guest_exec "$1" sh -c "$MNB_SNAPSHOT_CMD > /var/tmp/mnb-now; diff ${2:-/var/tmp/mnb-before} /var/tmp/mnb-now" || true
}

# mnb_boot_with NAME SUITE USER_DATA VENDOR_DATA: mnb_boot with an extra vendor-data part
mnb_boot_with() {
  local g=$1 suite=$2 ud=$3 vd=$4
  GUEST_HOSTNAME=${GUEST_HOSTNAME:-node1} GUEST_CA_FILE=$MNB_MIRROR_TLS/ca.crt seed_dir "$GUEST_WORK/seed" "$ud" "$vd"
  # shellcheck disable=SC2086  # MNB_PACKAGES is a list
  GUEST_REPO=$(guest_repo "$suite" $MNB_PACKAGES) guest_start_nspawn "$g" "$suite" "$GUEST_WORK/seed" \
    --bind-ro="$MNB_BIN:/usr/local/bin/minikube-none-bootstrap"
}

# mnb_untouched NAME [BEFORE]: fails unless the host is as it was at the snapshot BEFORE
# (default: the one taken before runcmd) and nothing apply installs or writes is there:
# packages (dpkg), drop-ins, binaries, runtime and cluster files, units (systemd).
mnb_untouched() {
  local g=$1 d p st
  d=$(mnb_snapshot_diff "$g" "${2:-}")
  [ -z "$d" ] || { printf '%s\n' "$d" >&2; fail "the host changed (snapshot diff above)"; }
  log "ok: /etc /usr /opt /var/lib unchanged ($(guest_exec "$g" wc -l < /dev/null /var/tmp/mnb-now | cut -d' ' -f1) entries: path, mtime, size, mode, owner)"
  for p in conntrack socat ethtool iptables sudo containerd runc docker.io; do
    # shellcheck disable=SC2016
    st=$(guest_exec "$g" dpkg-query -W -f='${Status}' "$p" 2> /dev/null || true)
    [[ $st != *" installed" ]] || fail "package $p is installed ($st)"
  done
  log "ok: none of the packages apply installs is installed (dpkg-query)"
  [ -z "$(guest_exec "$g" find /etc/modules-load.d /etc/sysctl.d -name '*minikube-none-bootstrap*')" ] ||
    fail "a modules-load.d or sysctl.d drop-in of the tool exists"
  for p in /usr/local/bin/minikube /usr/local/bin/crictl /usr/local/bin/cri-dockerd /opt/cni /etc/crictl.yaml \
      /etc/containerd /etc/systemd/system/cri-docker.service /root/.kube /root/.minikube /var/lib/minikube \
      /etc/kubernetes; do
    ! guest_exec "$g" test -e "$p" || fail "$p exists"
  done
  log "ok: no drop-in, binary, runtime or cluster file of apply's"
  for p in containerd.service docker.service cri-docker.socket kubelet.service; do
    assert_eq not-found "$(guest_exec "$g" systemctl show -p LoadState --value "$p")" "$p LoadState"
  done
}

# mnb_qemu_boot NAME SUITE USER_DATA: a qemu guest with the tool "baked in": the binary
# travels on the share, and a vendor-data boothook installs it as
# /usr/local/bin/minikube-none-bootstrap before cloud-init's modules run, once (a later
# boot finds it there), like an image Packer built. Test CA and hostname as for mnb_boot.
mnb_qemu_boot() {
  local g=$1 suite=$2 ud=$3 s
  s=$(guest_share "$g")
  mkdir -p "$s/bin"
  cp -f "$MNB_BIN" "$s/bin/minikube-none-bootstrap"
  printf '%s\n' '#cloud-boothook' '#!/bin/sh' \
    '[ -x /usr/local/bin/minikube-none-bootstrap ] || install -m 0755 /mnt/host/bin/minikube-none-bootstrap /usr/local/bin/' \
    > "$GUEST_WORK/install-tool.boothook"
  GUEST_HOSTNAME=${GUEST_HOSTNAME:-node1} GUEST_CA_FILE=$MNB_MIRROR_TLS/ca.crt \
    seed_dir "$GUEST_WORK/seed" "$ud" "$GUEST_WORK/install-tool.boothook" ${MNB_EXTRA_VENDOR:+"$MNB_EXTRA_VENDOR"}
  # shellcheck disable=SC2086
  GUEST_REPO=$(guest_repo "$suite" $MNB_PACKAGES) guest_start_qemu "$g" "$suite" "$GUEST_WORK/seed"
}

# mnb_cri_dockerd_daemon: repacks the cri-dockerd tarball of the mirror tree (mnb_mirror)
# with a stand-in that can run as cri-docker.service. make-artifacts.sh's stand-in prints
# its version and exits, which a Type=notify unit reports as a failed start; this one
# answers --version the same way and, started by systemd, reports READY=1 from the unit's
# main pid (`exec systemd-notify --ready --exec ";" sleep infinity`) and idles like the daemon. The CRI socket is
# systemd's (cri-docker.socket). SHA256SUMS is updated; prints the tarball's sha256.
mnb_cri_dockerd_daemon() {
  local www=$GUEST_WORK/mirror rel tmp v sum
  rel=$(awk '$2 ~ /cri-dockerd-.*\.tgz$/ {print $2}' "$www/SHA256SUMS")
  [ -n "$rel" ] || fail "no cri-dockerd tarball in $www/SHA256SUMS"
  v=$(basename "$rel"); v=${v#cri-dockerd-}; v=${v%.amd64.tgz}
  tmp=$(mktemp -d)
  mkdir -p "$tmp/cri-dockerd"
  # shellcheck disable=SC2016  # the stand-in's own expansions
  printf '%s\n' '#!/bin/sh' \
    '# cri-dockerd stand-in for tests, able to run as cri-docker.service: not the real program.' \
    'case "${1:-}" in' \
    "    --version | -v | version) echo \"cri-dockerd $v (stand-in)\"; exit 0 ;;" \
    'esac' \
    '[ -n "${NOTIFY_SOCKET:-}" ] || { echo "cri-dockerd stand-in: not the real program (args: $*)" >&2; exit 0; }' \
    'exec systemd-notify --ready --exec ";" sleep infinity' > "$tmp/cri-dockerd/cri-dockerd"
  chmod 755 "$tmp/cri-dockerd/cri-dockerd"
  tar -C "$tmp" --owner=0 --group=0 --numeric-owner --mtime=@0 --sort=name -cf - cri-dockerd | gzip -n -9 > "$www/$rel"
  rm -rf "$tmp"
  sum=$(sha256sum "$www/$rel" | cut -d' ' -f1)
  awk -v rel="$rel" -v sum="$sum" '$2 == rel { $1 = sum } { print $1 "  " $2 }' "$www/SHA256SUMS" > "$www/SHA256SUMS.new"
  mv "$www/SHA256SUMS.new" "$www/SHA256SUMS"
  echo "$sum"
}

# mnb_sha NAME_REGEX: the sha256 of the mirror tree's artifact whose path matches (SHA256SUMS)
mnb_sha() {
  awk -v re="$1" '$2 ~ re { print $1 }' "$GUEST_WORK/mirror/SHA256SUMS"
}

# mnb_sysctl_effective NAME KEY: the value KEY gets at boot: its last assignment in the
# configuration systemd-sysctl applies (every sysctl.d file, in its order of application).
mnb_sysctl_effective() {
  # shellcheck disable=SC2016
  guest_exec "$1" /usr/lib/systemd/systemd-sysctl --cat-config | awk -v k="$2" '
    /^[ \t]*[#;]/ { next }
    { line = $0; sub(/^[ \t]*-/, "", line); n = index(line, "="); if (!n) next
      key = substr(line, 1, n - 1); val = substr(line, n + 1)
      gsub(/^[ \t]+|[ \t]+$/, "", key); gsub(/^[ \t]+|[ \t]+$/, "", val); gsub("/", ".", key)
      if (key == k) v = val }
    END { print v }'
}
