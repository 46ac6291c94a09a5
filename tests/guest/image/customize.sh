#!/bin/bash
# customize.sh ROOT - mmdebstrap --customize-hook: runs on the host once every package is
# installed into ROOT. Makes the tree a throw-away, offline, cloud-init driven guest that
# boots the same way under systemd-nspawn and under qemu (own kernel).
set -euo pipefail
R=$1
in_root() { chroot "$R" "$@"; }

# --- identity ------------------------------------------------------------------
# Hostname comes from the seed's meta-data (local-hostname); /etc/hosts gets the
# 127.0.1.1 and mirror.test lines from the harness's vendor-data boothook.
echo testvm > "$R/etc/hostname"
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' > "$R/etc/hosts"
: > "$R/etc/machine-id"             # empty: every guest gets its own on first boot
rm -f "$R/var/lib/dbus/machine-id" "$R"/etc/ssh/ssh_host_*   # cloud-init makes fresh keys
in_root passwd -d root >/dev/null   # empty root password: serial-console debugging only
# The non-root user the tool hands a kubeconfig to (a cloud image's default user).
in_root useradd -m -u 1000 -U -s /bin/bash -c Debian debian
# No resolver: nothing in a guest may look names up beyond /etc/hosts.
: > "$R/etc/resolv.conf"; chmod 644 "$R/etc/resolv.conf"

# --- filesystems (qemu only; nspawn binds /mnt/host itself) -----------------------
# The root is /dev/vda, mounted rw by the kernel command line: no fstab entry needed.
: > "$R/etc/fstab"
mkdir -p "$R/mnt/host"
cat > "$R/etc/systemd/system/mnt-host.mount" <<'EOF'
[Unit]
Description=Harness share (9p, qemu guests)
ConditionVirtualization=vm
DefaultDependencies=no
Before=local-fs.target cloud-init-local.service umount.target
Conflicts=umount.target
[Mount]
What=hostshare
Where=/mnt/host
Type=9p
Options=trans=virtio,version=9p2000.L,msize=524288,nofail
[Install]
WantedBy=local-fs.target
EOF
in_root systemctl enable mnt-host.mount >/dev/null 2>&1

# --- network ----------------------------------------------------------------------
# qemu: DHCP from user-net, ignoring its DNS (names come from /etc/hosts only). With
# restrict=on its DHCP offers no router, so the default route (a VM has one: the tool
# takes the primary IP from it) is static; user-net drops what is sent there anyway.
# nspawn: the harness configures eth0 in the guest's netns before boot, like a VM that
# already has its lease; networkd must leave that link alone, hence Virtualization=vm.
cat > "$R/etc/systemd/network/10-harness-vm.network" <<'EOF'
[Match]
Virtualization=vm
Name=en* eth*
[Network]
DHCP=ipv4
Gateway=10.0.2.2
[DHCPv4]
UseDNS=no
UseNTP=no
EOF
in_root systemctl enable systemd-networkd.service >/dev/null 2>&1
mkdir -p "$R/etc/systemd/system/systemd-networkd-wait-online.service.d"
cat > "$R/etc/systemd/system/systemd-networkd-wait-online.service.d/timeout.conf" <<'EOF'
[Service]
ExecStart=
ExecStart=/usr/lib/systemd/systemd-networkd-wait-online --any --timeout=20
EOF

# --- cloud-init: NoCloud only, fast, leaves apt sources alone ----------------------
cat > "$R/etc/cloud/cloud.cfg.d/90-harness.cfg" <<'EOF'
datasource_list: [ NoCloud, None ]
network: {config: disabled}
resize_rootfs: false
growpart: {mode: 'off'}
locale: C.UTF-8
ssh_genkeytypes: [ed25519]
apt: {preserve_sources_list: true}
EOF
# The default user "debian" already exists; cloud-init must not grant it sudo rules or
# groups (sudo is not installed: writing /etc/sudoers would pre-empt the tool's install).
in_root python3 - <<'EOF'
import yaml
p = "/etc/cloud/cloud.cfg"
c = yaml.safe_load(open(p))
c.setdefault("system_info", {})["default_user"] = {
    "name": "debian", "lock_passwd": True, "gecos": "Debian", "shell": "/bin/bash"}
open(p, "w").write(yaml.safe_dump(c, default_flow_style=False, sort_keys=False))
EOF

# --- apt inside the guest: ONLY the offline repo on the share ------------------------
rm -f "$R/etc/apt/sources.list" "$R"/etc/apt/sources.list.d/*
echo 'deb [trusted=yes] file:/mnt/host/repo ./' > "$R/etc/apt/sources.list.d/offline.list"
echo 'Acquire::Languages "none";' > "$R/etc/apt/apt.conf.d/90harness"

# --- skip boot-time work a throw-away guest never needs ------------------------------
for u in apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer \
         e2scrub_reap.service fstrim.timer man-db.timer systemd-timesyncd.service; do
  in_root systemctl mask "$u" >/dev/null 2>&1 || true
done
