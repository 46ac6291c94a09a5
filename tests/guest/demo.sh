#!/bin/bash
# demo.sh [shell|stop] - the README's main job, on this machine: boot a fresh Debian 13
# guest (systemd-nspawn) whose cloud-init runs the SHIPPED cloud-init/user-data.yaml, with
# a config that takes artifacts from a local HTTPS mirror (test CA) and the minikube double;
# print the result summary, and leave the guest running so you can look inside.
#   demo.sh         provision and report (the guest stays up)
#   demo.sh shell   a root shell inside the guest
#   demo.sh stop    power it off and clean up
# UPSTREAM=1 (a machine with internet): a qemu guest with a real network, apt from the Debian
# archive, the shipped user-data as it is: real upstream artifacts and real minikube.
set -euo pipefail
export GUEST_SCENARIO=demo
W=/var/tmp/minikube-none-bootstrap-e2e/demo
D=$W/guests/demo
HERE=$(cd "$(dirname "$0")" && pwd)

in_guest() {   # in_guest CMD...: run in the running demo guest's namespaces
  [ -f "$D/leader" ] || { echo "no demo guest is running (run: make demo)" >&2; exit 1; }
  nsenter -t "$(cat "$D/leader")" -m -u -i -n -p -C -r -w -- /usr/bin/env -i \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM="${TERM:-dumb}" "$@"
}

case "${1:-}" in
  shell) in_guest bash -l; exit ;;
  stop) GUEST_KEEP=0 bash -c ". '$HERE/lib.sh'"; echo "demo guest stopped"; exit ;;  # lib.sh reaps it
  "") ;;
  *) echo "usage: $0 [shell|stop]" >&2; exit 2 ;;
esac

export GUEST_KEEP=1
"$HERE/deps.sh"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=project.sh
. "$HERE/project.sh"
G=demo

if [ "${UPSTREAM:-0}" = 1 ]; then
  step "UPSTREAM=1: the shipped user-data unchanged; apt from the Debian archive; a qemu guest with a network"
  cp "$MNB_SRC/cloud-init/user-data.yaml" "$W/user-data"
  printf '%s\n' '#cloud-boothook' '#!/bin/sh' 'rm -f /etc/apt/sources.list.d/offline.list' \
    'printf "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: trixie trixie-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb\nURIs: http://security.debian.org/debian-security\nSuites: trixie-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n" > /etc/apt/sources.list.d/debian.sources' \
    > "$W/archive.boothook"
  MNB_MIRROR_TLS=$W/tls; mirror_cert "$MNB_MIRROR_TLS"   # mnb_qemu_boot installs a CA; unused here
  GUEST_QEMU_RESTRICT=off MNB_EXTRA_VENDOR="$W/archive.boothook" mnb_qemu_boot "$G" trixie "$W/user-data"
  ci=$(guest_wait_cloudinit "$G" 3600) || true
else
  step "config: the test mirror (https://mirror.test, test CA); the rest as shipped"
  mnb_mirror_config "$W/config.yaml"
  mnb_user_data "$W/config.yaml" "$W/user-data"
  guest_net_prepare "$G" nspawn
  mnb_mirror "$G"
  step "boot a fresh Debian 13 guest; cloud-init runs: minikube-none-bootstrap apply"
  mnb_boot "$G" trixie "$W/user-data"
  ci=$(guest_wait_cloudinit "$G" 600) || true
fi

echo
echo "=== cloud-init: $(jq -r .status <<< "$ci")"
echo "=== result (/var/lib/minikube-none-bootstrap/result.json in the guest):"
mnb_result "$G" '"outcome: \(.outcome) (exit \(.exit_code)) on \(.host.os_name), \(.host.virtualization)",
  (.phases[] | "  \(.name): \(.status) in \(.duration_ms) ms\(if .error then " — \(.error.code): \(.error.message)" else "" end)")'
echo "=== node Ready (asked over TLS with the user's kubeconfig): $(mnb_node_ready "$G" /home/debian/.kube/config)"
echo "=== units: containerd $(guest_exec "$G" systemctl is-active containerd), kubelet $(guest_exec "$G" systemctl is-active kubelet) / $(guest_exec "$G" systemctl is-enabled kubelet)"
cat <<EOF

Look inside:   make demo-shell   (then e.g. cat /var/log/cloud-init-output.log,
               jq . /var/lib/minikube-none-bootstrap/result.json, systemctl status kubelet,
               minikube-none-bootstrap plan)
Stop it:       make demo-stop
EOF
if [ "${UPSTREAM:-0}" != 1 ]; then
  echo "Parts that are doubles here (no internet): minikube and Kubernetes (tests/double/), and the"
  echo "release tarballs' binaries (stand-ins). systemd, apt, cloud-init, containerd and HTTPS are real."
  echo "With internet: make demo UPSTREAM=1 (real artifacts, real minikube, in a qemu guest)."
fi
[ "$(mnb_result "$G" .outcome)" = success ]
