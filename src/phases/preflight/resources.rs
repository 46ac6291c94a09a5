//! What Kubernetes needs from the kernel and the hardware: CPUs, memory, disk under /var,
//! cgroups, the overlay and br_netfilter modules, and the sysctls the host phase sets.

use super::Inputs;
use crate::host::{Host, probe};
use crate::result::Check;
use std::collections::BTreeMap;
use std::path::Path;

pub fn checks(i: &Inputs) -> Vec<Check> {
    vec![cpus(i), memory(i), disk(i), cgroups(i), kernel_modules(i), sysctls(i)]
}

const MIN_CPUS: u32 = 2;
const MIN_MEMORY_MIB: u64 = 1800;
const GIB: u64 = 1024 * 1024 * 1024;
const WANT_DISK_GIB: u64 = 20;
const MIN_DISK_GIB: u64 = 2;

fn cpus(i: &Inputs) -> Check {
    const ID: &str = "cpus";
    match probe::cpu_count(i.host) {
        Some((n, src)) if n >= MIN_CPUS => {
            Check::pass(ID, format!("{n} CPUs online")).fact("cpus", n).fact("source", src)
        }
        Some((n, src)) => {
            Check::fail(ID, format!("{n} CPU online; Kubernetes needs {MIN_CPUS} (minikube: RSRC_INSUFFICIENT_CORES)"))
                .remedy(format!("give the VM at least {MIN_CPUS} vCPUs"))
                .fact("cpus", n)
                .fact("source", src)
        }
        None => Check::warn(ID, "cannot count CPUs (no cpu/online in /sys, no /proc/cpuinfo)")
            .remedy(format!("make sure the VM has at least {MIN_CPUS} vCPUs")),
    }
}

fn memory(i: &Inputs) -> Check {
    const ID: &str = "memory";
    let Some(kib) = probe::meminfo_kib(i.host, "MemTotal") else {
        return Check::warn(ID, "cannot read MemTotal from /proc/meminfo")
            .remedy(format!("make sure the VM has at least {MIN_MEMORY_MIB} MiB of memory"));
    };
    let mib = kib / 1024;
    let swap_mib = probe::meminfo_kib(i.host, "SwapTotal").map(|k| k / 1024);
    let check = if mib >= MIN_MEMORY_MIB {
        Check::pass(ID, format!("{mib} MiB of memory"))
    } else {
        Check::fail(ID, format!("{mib} MiB of memory; minikube needs at least {MIN_MEMORY_MIB} MiB"))
            .remedy(format!("give the VM at least 2 GiB of memory ({MIN_MEMORY_MIB} MiB minimum)"))
    };
    check.fact("memory_mib", mib).fact("swap_mib", swap_mib)
}

/// The deepest existing directory on the way to `abs` (statvfs needs an existing path).
fn existing_ancestor(host: &Host, abs: &str) -> Option<std::path::PathBuf> {
    let mut p = host.path(abs);
    loop {
        if p.is_dir() {
            return Some(p);
        }
        if !p.pop() || !p.starts_with(host.root()) {
            return None;
        }
    }
}

fn disk(i: &Inputs) -> Check {
    const ID: &str = "disk";
    let Some(dir) = existing_ancestor(i.host, "/var") else {
        return Check::warn(ID, "cannot find /var or any parent to measure").remedy("check the root file system");
    };
    let measured = dir.display().to_string();
    let stat = match nix::sys::statvfs::statvfs(Path::new(&dir)) {
        Ok(s) => s,
        Err(e) => {
            return Check::warn(ID, format!("cannot measure free space of {measured}: {e}"))
                .remedy("check the file system holding /var")
                .fact("path", measured);
        }
    };
    // bavail: what is left for unprivileged writers, the conservative number.
    let free = stat.blocks_available().saturating_mul(stat.fragment_size());
    let total = stat.blocks().saturating_mul(stat.fragment_size());
    let free_gib = free as f64 / GIB as f64;
    let shown = format!("{free_gib:.1} GiB free under /var");
    let check = if free >= WANT_DISK_GIB * GIB {
        Check::pass(ID, shown)
    } else if free >= MIN_DISK_GIB * GIB {
        Check::warn(ID, format!("{shown}; {WANT_DISK_GIB} GiB is recommended for images, etcd and logs"))
            .remedy(format!("grow the disk holding /var to at least {WANT_DISK_GIB} GiB free"))
    } else {
        Check::fail(ID, format!("{shown}; at least {MIN_DISK_GIB} GiB is needed ({WANT_DISK_GIB} GiB recommended)"))
            .remedy(format!("free space or grow the disk holding /var to at least {WANT_DISK_GIB} GiB free"))
    };
    check.fact("path", measured).fact("free_bytes", free).fact("total_bytes", total)
}

/// Controllers kubelet cannot run pods without.
const NEEDED_CONTROLLERS: [&str; 3] = ["cpu", "memory", "pids"];

fn cgroups(i: &Inputs) -> Check {
    const ID: &str = "cgroups";
    if let Some(list) = i.host.read_value("/sys/fs/cgroup/cgroup.controllers") {
        let controllers: Vec<&str> = list.split_whitespace().collect();
        let missing: Vec<&str> = NEEDED_CONTROLLERS.iter().copied().filter(|c| !controllers.contains(c)).collect();
        let check = if missing.is_empty() {
            Check::pass(ID, "cgroup v2 (unified hierarchy)")
        } else {
            Check::fail(ID, format!("cgroup v2 without the {} controller(s) kubelet needs", missing.join(", ")))
                .remedy("enable them on the kernel command line (e.g. cgroup_enable=memory) and reboot")
                .fact("missing", &missing)
        };
        return check.fact("version", 2).fact("controllers", controllers);
    }
    if i.host.path("/sys/fs/cgroup/memory").is_dir() || i.host.path("/sys/fs/cgroup/cpu,cpuacct").is_dir() {
        let k = i.kubernetes_version;
        let extra = if k.at_least(1, 35) {
            "; kubelet 1.35+ refuses to start on cgroup v1 unless failCgroupV1 is false"
        } else {
            ""
        };
        return Check::warn(
            ID,
            format!("cgroup v1: supported but deprecated since Kubernetes 1.31 (configured {k}){extra}"),
        )
        .remedy("boot with systemd.unified_cgroup_hierarchy=1 to switch to cgroup v2")
        .fact("version", 1);
    }
    Check::fail(ID, "no cgroup hierarchy is mounted at /sys/fs/cgroup")
        .remedy("boot a systemd distribution (it mounts cgroup v2 at /sys/fs/cgroup)")
        .fact("version", serde_json::Value::Null)
}

const MODULES: [&str; 2] = ["overlay", "br_netfilter"];

/// `kernel/net/bridge/br_netfilter.ko.zst` → `br_netfilter` (dashes and underscores are one).
fn module_name(path: &str) -> Option<String> {
    let file = path.rsplit('/').next()?;
    Some(file.split(".ko").next()?.replace('-', "_"))
}

fn kernel_modules(i: &Inputs) -> Check {
    const ID: &str = "kernel-modules";
    let release = i.host.read_value("/proc/sys/kernel/osrelease").unwrap_or_default();
    let loaded: Vec<String> = i
        .host
        .read("/proc/modules")
        .map(|t| t.lines().filter_map(|l| l.split_whitespace().next().map(|m| m.replace('-', "_"))).collect())
        .unwrap_or_default();
    // /lib is /usr/lib on merged-/usr systems; either may be the real one.
    let dir = ["/lib/modules", "/usr/lib/modules"].iter().map(|d| format!("{d}/{release}")).find(|d| i.host.exists(d));
    let listed = |file: &str| -> Vec<String> {
        dir.as_ref()
            .and_then(|d| i.host.read(&format!("{d}/{file}")))
            .map(|t| t.lines().filter_map(|l| module_name(l.split(':').next().unwrap_or(""))).collect())
            .unwrap_or_default()
    };
    let (builtin, loadable) = (listed("modules.builtin"), listed("modules.dep"));
    let mut state: BTreeMap<&str, &str> = BTreeMap::new();
    for m in MODULES {
        let s = if loaded.iter().any(|l| l == m) {
            "loaded"
        } else if builtin.iter().any(|b| b == m) {
            "built-in"
        } else if loadable.iter().any(|b| b == m) {
            "will load"
        } else if i.host.exists(&format!("/sys/module/{m}")) {
            "loaded"
        } else if probe::module_function_present(i.host, m) {
            "present"
        } else {
            "missing"
        };
        state.insert(m, s);
    }
    let missing: Vec<&str> = state.iter().filter(|(_, s)| **s == "missing").map(|(m, _)| *m).collect();
    let summary = state.iter().map(|(m, s)| format!("{m} {s}")).collect::<Vec<_>>().join(", ");
    let check = if missing.is_empty() {
        Check::pass(ID, summary)
    } else if let Some(installed) = probe::kernel_upgraded_without_reboot(i.host) {
        // Not a failure of the host: apply's host phase stops with the reboot-required code.
        Check::warn(
            ID,
            format!(
                "{} not loaded, and the running kernel {release} has no modules installed (installed: {}): a reboot is required",
                missing.join(", "),
                installed.join(", ")
            ),
        )
        .remedy("reboot into the installed kernel, then run apply again")
    } else if dir.is_none() {
        Check::fail(
            ID,
            format!("{} not loaded and no /lib/modules/{release} to load from (a container?)", missing.join(", ")),
        )
        .remedy("load the modules on the host (modprobe overlay br_netfilter), or run in a VM")
    } else {
        Check::fail(ID, format!("{} not available for kernel {release}", missing.join(", ")))
            .remedy("install the kernel's extra modules (linux-modules-extra-$(uname -r) on Ubuntu)")
    };
    check.fact("modules", state).fact("kernel", release).fact("modules_dir", dir)
}

/// The sysctls the host phase sets, and the value it sets each to.
const SYSCTLS: [(&str, &str); 4] = [
    ("net.ipv4.ip_forward", "1"),
    ("net.bridge.bridge-nf-call-iptables", "1"),
    ("net.bridge.bridge-nf-call-ip6tables", "1"),
    // minikube's none driver writes files in /tmp that protected_regular forbids reopening.
    ("fs.protected_regular", "0"),
];

fn sysctls(i: &Inputs) -> Check {
    const ID: &str = "sysctls";
    if !i.host.path("/proc/sys/kernel").is_dir() {
        return Check::warn(ID, "/proc/sys is not readable; the host phase cannot check or set sysctls")
            .remedy("mount procfs at /proc");
    }
    let mut facts = serde_json::Map::new();
    let mut changes = Vec::new();
    for (key, want) in SYSCTLS {
        let current = i.host.read_value(&format!("/proc/sys/{}", key.replace('.', "/")));
        if current.as_deref() != Some(want) {
            changes.push(format!("{key}={want}"));
        }
        facts.insert(key.into(), serde_json::json!({ "current": current, "want": want }));
    }
    let msg = if changes.is_empty() {
        "every sysctl already has the value the host phase wants".to_string()
    } else {
        format!("the host phase will set {}", changes.join(", "))
    };
    let mut check = Check::pass(ID, msg);
    for (k, v) in facts {
        check = check.fact(&k, v);
    }
    check
}
