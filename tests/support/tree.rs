//! A fixture root that looks like a fresh, healthy Debian 13 VM to every preflight check.
#![allow(dead_code, clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub struct Tree {
    pub dir: tempfile::TempDir,
}

impl Tree {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn root_arg(&self) -> String {
        self.path().display().to_string()
    }

    pub fn at(&self, abs: &str) -> PathBuf {
        self.path().join(abs.trim_start_matches('/'))
    }

    pub fn write(&self, abs: &str, content: &str) -> &Self {
        let p = self.at(abs);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
        self
    }

    /// An executable stub script.
    pub fn script(&self, abs: &str, body: &str) -> &Self {
        self.write(abs, &format!("#!/bin/sh\n{body}\n"));
        std::fs::set_permissions(self.at(abs), std::fs::Permissions::from_mode(0o755)).unwrap();
        self
    }

    pub fn mkdir(&self, abs: &str) -> &Self {
        std::fs::create_dir_all(self.at(abs)).unwrap();
        self
    }

    pub fn remove(&self, abs: &str) -> &Self {
        let p = self.at(abs);
        if p.is_dir() {
            std::fs::remove_dir_all(p).unwrap();
        } else {
            let _ = std::fs::remove_file(p);
        }
        self
    }
}

const OS_RELEASE_TRIXIE: &str = include_str!("../fixtures/os-release/debian-13");
const TCP_HEADER: &str =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

/// A healthy Debian 13 VM under QEMU/KVM: 2 CPUs, 4 GiB, systemd, apt, sudo, a default route.
pub fn good_vm() -> Tree {
    let t = Tree { dir: tempfile::tempdir().unwrap() };
    t.write("/etc/os-release", OS_RELEASE_TRIXIE)
        .write("/proc/1/comm", "systemd\n")
        .mkdir("/run/systemd/system")
        .write("/proc/sys/kernel/hostname", "node1\n")
        .write("/etc/hostname", "node1\n")
        .write("/etc/hosts", "127.0.0.1 localhost\n127.0.1.1 node1\n")
        .write("/etc/machine-id", "0123456789abcdef0123456789abcdef\n")
        .write("/sys/devices/system/cpu/online", "0-1\n")
        .write("/proc/cpuinfo", "processor\t: 0\nflags\t\t: fpu hypervisor\n\nprocessor\t: 1\nflags\t\t: fpu hypervisor\n")
        .write("/proc/meminfo", "MemTotal:        4011076 kB\nMemFree:         3500000 kB\nSwapTotal:             0 kB\n")
        .write("/sys/class/dmi/id/sys_vendor", "QEMU\n")
        .write("/sys/class/dmi/id/product_name", "Standard PC (Q35 + ICH9, 2009)\n")
        .write("/proc/net/tcp", TCP_HEADER)
        .write("/proc/net/tcp6", TCP_HEADER)
        .write(
            "/proc/net/route",
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
             eth0\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n\
             eth0\t0002A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n",
        )
        .write("/sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n")
        .write("/proc/sys/kernel/osrelease", "6.12.48+deb13-amd64\n")
        .write("/proc/modules", "overlay 212992 0 - Live 0x0000000000000000\nbr_netfilter 32768 0 - Live 0x0000000000000000\n")
        .write("/lib/modules/6.12.48+deb13-amd64/modules.dep", "kernel/fs/overlayfs/overlay.ko.xz:\nkernel/net/bridge/br_netfilter.ko.xz: kernel/net/bridge/bridge.ko.xz\n")
        .write("/lib/modules/6.12.48+deb13-amd64/modules.builtin", "")
        .write("/proc/sys/net/ipv4/ip_forward", "0\n")
        .write("/proc/sys/net/bridge/bridge-nf-call-iptables", "0\n")
        .write("/proc/sys/net/bridge/bridge-nf-call-ip6tables", "0\n")
        .write("/proc/sys/fs/protected_regular", "2\n")
        .script("/usr/bin/apt-get", "exit 0")
        .script("/usr/bin/sudo", "exit 0")
        .mkdir("/var/lib/dpkg")
        .mkdir("/var/tmp");
    t
}
