#!/bin/bash
# Install the host tools the guest harness needs (Debian 12 host, root). Idempotent, quiet.
set -euo pipefail

# mmdebstrap        builds the guest rootfs
# systemd-container systemd-nspawn (nspawn flavour)
# qemu-system-x86   the VMM (TCG here); qemu-utils MUST be named in the same install, or
#                   apt removes the machine's newer qemu-utils and qemu-img disappears
# xorriso           NoCloud "cidata" seed ISO (qemu flavour)
# apt-utils         apt-ftparchive indexes the offline guest repo
# iproute2          ip netns / veth for the guest's network
# openssl           test CA + mirror.test certificate
# python3           JSON parsing, free ports, the self-test's tiny servers
# socat             relays qemu guestfwd connections into the mirror's namespace
# openssh-client    guest_ssh (qemu flavour)
# e2fsprogs         mkfs.ext4 -d for the qemu disk image
# jq                scenarios query the tool's JSON results
PKGS=(mmdebstrap systemd-container qemu-system-x86 qemu-utils xorriso apt-utils iproute2
      openssl python3 socat openssh-client e2fsprogs jq)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
# qemu-img must exist (see above); reinstall the pair if a later install removed it
command -v qemu-img >/dev/null || missing+=(qemu-system-x86 qemu-utils)
[ ${#missing[@]} -eq 0 ] && exit 0

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# qemu-system-x86 and qemu-utils must be the same version: this machine image may carry a
# newer qemu-utils (a backport) that Breaks bookworm's qemu-system-common. Pin both to the
# candidate of qemu-system-x86, downgrading qemu-utils if needed, in ONE transaction.
args=()
for p in "${missing[@]}"; do
  case $p in qemu-system-x86|qemu-utils) ;; *) args+=("$p") ;; esac
done
case " ${missing[*]} " in
  *" qemu-"*)
    v=$(apt-cache policy qemu-system-x86 | awk '/Candidate:/ {print $2}')
    args+=("qemu-system-x86=$v" "qemu-utils=$v") ;;
esac
apt-get install -y -qq --no-install-recommends --allow-downgrades "${args[@]}" >/dev/null
