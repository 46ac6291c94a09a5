//! Read-only probes of /proc, /sys and /etc through the run's root: what kind of machine
//! this is, its name and identity, its CPUs and memory, its processes.

use super::Host;

/// What the machine runs on, from the same sources systemd-detect-virt reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Virt {
    Vm(String),
    Container(String),
    BareMetal,
    /// Nothing to go by (no DMI, no cpuinfo): an unusual root.
    Unknown,
}

/// DMI vendor/product substrings → hypervisor, in systemd-detect-virt's names.
const DMI_VENDORS: &[(&str, &str)] = &[
    ("KVM", "kvm"),
    ("OpenStack", "kvm"),
    ("DigitalOcean", "kvm"),
    ("Hetzner", "kvm"),
    ("QEMU", "qemu"),
    ("Proxmox", "qemu"),
    ("VMware", "vmware"),
    ("VMW", "vmware"),
    ("innotek GmbH", "oracle"),
    ("VirtualBox", "oracle"),
    ("Xen", "xen"),
    ("Bochs", "bochs"),
    ("Parallels", "parallels"),
    ("BHYVE", "bhyve"),
    ("Apple Virtualization", "apple"),
    ("Amazon EC2", "amazon"),
    ("Google Compute Engine", "google"),
];

pub fn detect_virt(host: &Host) -> Virt {
    if let Some(c) = container(host) {
        return Virt::Container(c);
    }
    let dmi = |f: &str| host.read_value(&format!("/sys/class/dmi/id/{f}")).unwrap_or_default();
    let (vendor, product, bios) = (dmi("sys_vendor"), dmi("product_name"), dmi("bios_vendor"));
    // EC2 bare-metal instances keep the Amazon vendor string: the product says ".metal".
    let metal = product.ends_with(".metal");
    if vendor == "Microsoft Corporation" && product == "Virtual Machine" {
        return Virt::Vm("microsoft".into());
    }
    if !metal {
        for (needle, kind) in DMI_VENDORS {
            if [&vendor, &product, &bios].iter().any(|f| f.contains(needle)) {
                return Virt::Vm((*kind).into());
            }
        }
        if let Some(h) = host.read_value("/sys/hypervisor/type").filter(|h| !h.is_empty()) {
            return Virt::Vm(h);
        }
    }
    match host.read("/proc/cpuinfo") {
        Some(info) if !metal && cpu_flags(&info).any(|f| f == "hypervisor") => Virt::Vm("vm-other".into()),
        Some(_) => Virt::BareMetal,
        None if vendor.is_empty() => Virt::Unknown,
        None => Virt::BareMetal,
    }
}

fn cpu_flags(cpuinfo: &str) -> impl Iterator<Item = &str> {
    cpuinfo
        .lines()
        .filter(|l| l.starts_with("flags"))
        .filter_map(|l| l.split_once(':'))
        .flat_map(|(_, v)| v.split_whitespace())
}

/// The container manager, from systemd's marker, PID 1's environment, or engine marker files.
fn container(host: &Host) -> Option<String> {
    if let Some(c) = host.read_value("/run/systemd/container").filter(|c| !c.is_empty()) {
        return Some(c);
    }
    let environ = std::fs::read(host.path("/proc/1/environ")).unwrap_or_default();
    let from_env = environ
        .split(|b| *b == 0)
        .filter_map(|kv| kv.strip_prefix(b"container="))
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .find(|v| !v.is_empty());
    if from_env.is_some() {
        return from_env;
    }
    if host.exists("/.dockerenv") {
        return Some("docker".into());
    }
    host.exists("/run/.containerenv").then(|| "podman".to_string())
}

/// The virtualization kind for the result's host facts: a hypervisor or container name,
/// `none` on bare metal, `None` when nothing tells.
pub fn virtualization(host: &Host) -> Option<String> {
    match detect_virt(host) {
        Virt::Vm(k) | Virt::Container(k) => Some(k),
        Virt::BareMetal => Some("none".into()),
        Virt::Unknown => None,
    }
}

/// The kernel's hostname (what kubelet registers the node as), else /etc/hostname.
pub fn hostname(host: &Host) -> Option<String> {
    host.read_value("/proc/sys/kernel/hostname")
        .filter(|h| !h.is_empty())
        .or_else(|| host.read_value("/etc/hostname").filter(|h| !h.is_empty()))
}

/// /etc/machine-id when it holds an id (an image sealed for cloning has it empty).
pub fn machine_id(host: &Host) -> Option<String> {
    host.read_value("/etc/machine-id").filter(|m| m.len() == 32 && m.bytes().all(|b| b.is_ascii_hexdigit()))
}

pub fn pid1_comm(host: &Host) -> Option<String> {
    host.read_value("/proc/1/comm")
}

/// Online CPUs: /sys/devices/system/cpu/online (`0-3,5`), else `processor` lines of cpuinfo.
pub fn cpu_count(host: &Host) -> Option<(u32, &'static str)> {
    if let Some(n) = host.read_value("/sys/devices/system/cpu/online").and_then(|s| count_ranges(&s)) {
        return Some((n, "/sys/devices/system/cpu/online"));
    }
    let info = host.read("/proc/cpuinfo")?;
    let n = info.lines().filter(|l| l.split(':').next().is_some_and(|k| k.trim() == "processor")).count();
    (n > 0).then(|| (u32::try_from(n).unwrap_or(u32::MAX), "/proc/cpuinfo"))
}

/// Counts a kernel cpu list like `0-3,5,7-8`.
pub fn count_ranges(list: &str) -> Option<u32> {
    let mut n = 0u32;
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse::<u32>().ok()?, b.trim().parse::<u32>().ok()?),
            None => {
                let a = part.trim().parse::<u32>().ok()?;
                (a, a)
            }
        };
        n = n.checked_add(b.checked_sub(a)?.checked_add(1)?)?;
    }
    (n > 0).then_some(n)
}

/// A `/proc/meminfo` field in KiB (`MemTotal`, `SwapTotal`).
pub fn meminfo_kib(host: &Host, field: &str) -> Option<u64> {
    host.read("/proc/meminfo")?.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        if k != field {
            return None;
        }
        v.split_whitespace().next()?.parse().ok()
    })
}

/// Process ids in the root's /proc whose `comm` is `name`.
pub fn pids_named(host: &Host, name: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir(host.path("/proc")) else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| host.read_value(&format!("/proc/{pid}/comm")).is_some_and(|c| c == name))
        .collect();
    pids.sort_unstable();
    pids
}

/// Whether `/proc/<pid>` exists in the root (the process is alive).
pub fn pid_alive(host: &Host, pid: u32) -> bool {
    pid > 0 && host.exists(&format!("/proc/{pid}"))
}

/// The process name of `pid`, for messages.
pub fn comm(host: &Host, pid: u32) -> Option<String> {
    host.read_value(&format!("/proc/{pid}/comm"))
}

/// The last `Defaults secure_path=` in /etc/sudoers and /etc/sudoers.d (sudo applies the last).
pub fn sudo_secure_path(host: &Host) -> Option<String> {
    let mut texts: Vec<String> = host.read("/etc/sudoers").into_iter().collect();
    if let Ok(dir) = std::fs::read_dir(host.path("/etc/sudoers.d")) {
        let mut names: Vec<_> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        names.sort();
        // sudo skips files with a '.' or ending in '~' in an includedir.
        names.retain(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| !n.contains('.') && !n.ends_with('~')));
        texts.extend(names.iter().filter_map(|p| std::fs::read_to_string(p).ok()));
    }
    texts.iter().flat_map(|t| t.lines()).rev().find_map(|l| {
        let rest = l.trim().strip_prefix("Defaults")?;
        let (k, v) = rest.trim().split_once('=')?;
        (k.trim() == "secure_path").then(|| v.trim().trim_matches('"').to_string())
    })
}

/// Whether a kernel module's function is present even if it is not listed as a module:
/// built-in modules need not appear in /proc/modules or /sys/module.
pub fn module_function_present(host: &Host, module: &str) -> bool {
    match module {
        "overlay" => {
            host.read("/proc/filesystems").is_some_and(|f| f.lines().any(|l| l.trim_end().ends_with("\toverlay")))
        }
        "br_netfilter" => host.exists("/proc/sys/net/bridge/bridge-nf-call-iptables"),
        _ => false,
    }
}

/// The kernels whose modules are installed, when the running kernel's are not: the kernel
/// was upgraded (and the old modules removed) without a reboot, so nothing can be loaded.
pub fn kernel_upgraded_without_reboot(host: &Host) -> Option<Vec<String>> {
    let release = host.read_value("/proc/sys/kernel/osrelease")?;
    let dirs = ["/lib/modules", "/usr/lib/modules"];
    if dirs.iter().any(|d| host.exists(&format!("{d}/{release}"))) {
        return None;
    }
    let mut installed: Vec<String> = dirs
        .iter()
        .filter_map(|d| std::fs::read_dir(host.path(d)).ok())
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|name| name.as_bytes().first().is_some_and(u8::is_ascii_digit))
        .collect();
    installed.sort();
    installed.dedup();
    (!installed.is_empty()).then_some(installed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(count_ranges("0-3,5"), Some(5));
        assert_eq!(count_ranges("0"), Some(1));
        assert_eq!(count_ranges("3-1"), None);
        assert_eq!(count_ranges(""), None);
    }

    #[test]
    fn virt_from_dmi_and_cpuinfo() {
        let d = tempfile::tempdir().expect("tempdir");
        let w = |p: &str, c: &str| {
            let p = d.path().join(p);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, c).expect("write");
        };
        let host = Host::new(d.path());
        assert_eq!(detect_virt(&host), Virt::Unknown);
        w("proc/cpuinfo", "processor\t: 0\nflags\t\t: fpu sse2\n");
        assert_eq!(detect_virt(&host), Virt::BareMetal);
        w("proc/cpuinfo", "processor\t: 0\nflags\t\t: fpu sse2 hypervisor\n");
        assert_eq!(detect_virt(&host), Virt::Vm("vm-other".into()));
        w("sys/class/dmi/id/sys_vendor", "Amazon EC2\n");
        w("sys/class/dmi/id/product_name", "m5.metal\n");
        w("proc/cpuinfo", "processor\t: 0\nflags\t\t: fpu\n");
        assert_eq!(detect_virt(&host), Virt::BareMetal);
        w("sys/class/dmi/id/product_name", "t3.medium\n");
        assert_eq!(virtualization(&host).as_deref(), Some("amazon"));
        w("run/systemd/container", "systemd-nspawn\n");
        assert_eq!(detect_virt(&host), Virt::Container("systemd-nspawn".into()));
    }
}
