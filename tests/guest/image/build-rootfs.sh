#!/bin/bash
# build-rootfs.sh SUITE SOURCES_FILE OUTDIR
# Builds the guest rootfs directory OUTDIR (must not exist) for Debian SUITE with mmdebstrap.
# One tree serves both flavours: systemd-nspawn boots it directly, the qemu flavour turns it
# into an ext4 image and boots its own kernel/initrd. The hash of this directory's files keys
# the cache (lib/image.sh), so any change here rebuilds the image.
set -euo pipefail
SUITE=$1 SOURCES=$2 OUT=$3
HERE=$(cd "$(dirname "$0")" && pwd)

# No sudo, nftables or iptables: the tool under test installs them, scenarios check that.
# No Recommends (mmdebstrap's default), so cloud-init does not drag sudo in.
PKGS=(systemd-sysv dbus udev kmod iproute2 netbase procps cloud-init python3 ca-certificates
      openssl openssh-server
      linux-image-amd64 initramfs-tools zstd)   # the qemu flavour's kernel + initrd

include=$(IFS=,; echo "${PKGS[*]}")
# setup-hooks put the initramfs config in place BEFORE the kernel postinst runs: the initrd is
# built once, small (MODULES=list: only what mounting /dev/vda and the 9p share needs; Debian
# builds virtio/ext4/9p as modules), without resume probing.
# dpkgopt path-excludes drop docs, man pages, locales and driver trees a guest never loads
# (modules live under /lib in bookworm's packages, /usr/lib in trixie's).
# shellcheck disable=SC2016  # "$1" in the hooks is mmdebstrap's (the rootfs), not ours
mmdebstrap --mode=root --format=directory --variant=minbase --quiet \
  --include="$include" \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-include=/usr/share/locale/locale.alias' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/lib/modules/*/kernel/drivers/gpu/*' \
  --dpkgopt='path-exclude=/lib/modules/*/kernel/drivers/gpu/*' \
  --dpkgopt='path-exclude=/usr/lib/modules/*/kernel/drivers/net/wireless/*' \
  --dpkgopt='path-exclude=/lib/modules/*/kernel/drivers/net/wireless/*' \
  --dpkgopt='path-exclude=/usr/lib/modules/*/kernel/drivers/media/*' \
  --dpkgopt='path-exclude=/lib/modules/*/kernel/drivers/media/*' \
  --dpkgopt='path-exclude=/usr/lib/modules/*/kernel/drivers/infiniband/*' \
  --dpkgopt='path-exclude=/lib/modules/*/kernel/drivers/infiniband/*' \
  --dpkgopt='path-exclude=/usr/lib/modules/*/kernel/drivers/staging/*' \
  --dpkgopt='path-exclude=/lib/modules/*/kernel/drivers/staging/*' \
  --dpkgopt='path-exclude=/usr/lib/modules/*/kernel/drivers/bluetooth/*' \
  --dpkgopt='path-exclude=/lib/modules/*/kernel/drivers/bluetooth/*' \
  --dpkgopt='path-exclude=/usr/lib/modules/*/kernel/sound/*' \
  --dpkgopt='path-exclude=/lib/modules/*/kernel/sound/*' \
  --dpkgopt='path-exclude=/usr/lib/modules/*/kernel/net/wireless/*' \
  --dpkgopt='path-exclude=/lib/modules/*/kernel/net/wireless/*' \
  --dpkgopt='path-exclude=/usr/lib/modules/*/kernel/net/mac80211/*' \
  --dpkgopt='path-exclude=/lib/modules/*/kernel/net/mac80211/*' \
  --setup-hook='mkdir -p "$1/etc/initramfs-tools/conf.d" "$1/usr/share/initramfs-tools/modules.d"' \
  --setup-hook='printf "MODULES=list\nCOMPRESS=zstd\n" > "$1/etc/initramfs-tools/conf.d/harness.conf"' \
  --setup-hook='echo RESUME=none > "$1/etc/initramfs-tools/conf.d/resume"' \
  --setup-hook='printf "%s\n" virtio_pci virtio_blk ext4 crc32c_generic 9p 9pnet_virtio > "$1/usr/share/initramfs-tools/modules.d/harness"' \
  --customize-hook="\"$HERE/customize.sh\" \"\$1\"" \
  "$SUITE" "$OUT" "$SOURCES"
