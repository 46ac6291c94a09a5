//! The machine itself: systemd as PID 1, root, what it runs on (a VM is what the none driver
//! wants), SELinux mode, and whether another run holds our lock.

use super::Inputs;
use crate::host::probe::{self, Virt};
use crate::host::{locks, os_release};
use crate::result::Check;

pub fn checks(i: &Inputs) -> Vec<Check> {
    vec![systemd(i), root(), virtualization(i), selinux(i), lock(i)]
}

fn systemd(i: &Inputs) -> Check {
    const ID: &str = "systemd";
    let comm = probe::pid1_comm(i.host);
    // sd_booted(3): systemd is running as init when /run/systemd/system exists.
    let booted = i.host.exists("/run/systemd/system");
    let pid1 = comm.clone().unwrap_or_else(|| "unknown".into());
    let check = if comm.as_deref() == Some("systemd") && booted {
        Check::pass(ID, "systemd is PID 1")
    } else if comm.as_deref() == Some("systemd") {
        Check::fail(ID, "PID 1 is systemd but /run/systemd/system is missing: systemd did not boot this system")
            .remedy("boot the machine with systemd as init; the none driver needs systemd as PID 1")
    } else {
        let msg = format!("PID 1 is {pid1}: the none driver needs systemd as PID 1");
        Check::fail(ID, format!("{msg} (kubelet runs as a systemd unit)"))
            .remedy("use a systemd-based distribution booted with systemd (not a plain container)")
    };
    check.fact("pid1", pid1).fact("run_systemd_system", booted)
}

fn root() -> Check {
    const ID: &str = "root";
    let euid = nix::unistd::geteuid();
    if euid.is_root() {
        Check::pass(ID, "running as root").fact("euid", euid.as_raw())
    } else {
        Check::fail(ID, format!("running as uid {euid}; converging the host needs root"))
            .remedy("run as root (sudo minikube-none-bootstrap …)")
            .fact("euid", euid.as_raw())
    }
}

const BARE_METAL_WHY: &str = "the none driver is meant for a dedicated VM: minikube assumes \
    complete control of the machine and overwrites system paths (/usr/local/bin/kubeadm, \
    /usr/local/bin/kubectl, /etc/kubernetes)";

fn virtualization(i: &Inputs) -> Check {
    const ID: &str = "virtualization";
    match probe::detect_virt(i.host) {
        Virt::Vm(kind) => Check::pass(ID, format!("running in a {kind} virtual machine"))
            .fact("kind", "vm")
            .fact("virtualization", kind),
        Virt::Container(kind) => Check::warn(
            ID,
            format!(
                "running in a {kind} container: it cannot load kernel modules or set sysctls like \
                 a node, and kubelet needs a full systemd host"
            ),
        )
        .remedy("run in a dedicated VM")
        .fact("kind", "container")
        .fact("virtualization", kind),
        Virt::BareMetal => Check::warn(ID, format!("running on bare metal; {BARE_METAL_WHY}"))
            .remedy("use a dedicated VM, or a machine you can hand over to minikube entirely")
            .fact("kind", "bare-metal")
            .fact("virtualization", "none"),
        Virt::Unknown => {
            let msg = "cannot tell whether this is a VM (no DMI or cpuinfo)";
            Check::warn(ID, format!("{msg}; {BARE_METAL_WHY}")).remedy("use a dedicated VM").fact("kind", "unknown")
        }
    }
}

fn selinux(i: &Inputs) -> Check {
    const ID: &str = "selinux";
    let fedora = os_release::read(i.host).is_some_and(|o| o.is_fedora_family());
    if !fedora {
        return Check::pass(ID, "not applicable (SELinux is checked on the Fedora family)")
            .fact("mode", "not-applicable");
    }
    match i.host.read_value("/sys/fs/selinux/enforce").as_deref() {
        Some("1") => Check::warn(ID, "SELinux is enforcing; the none driver runs best with SELinux permissive")
            .remedy("setenforce 0 and SELINUX=permissive in /etc/selinux/config, or accept the warning")
            .fact("mode", "enforcing"),
        Some("0") => Check::pass(ID, "SELinux is permissive").fact("mode", "permissive"),
        _ => Check::pass(ID, "SELinux is disabled (no selinuxfs)").fact("mode", "disabled"),
    }
}

fn lock(i: &Inputs) -> Check {
    const ID: &str = "lock";
    let path = i.lock_path.display().to_string();
    let owner: Option<u32> = std::fs::read_to_string(&i.lock_path).ok().and_then(|s| s.trim().parse().ok());
    match locks::flock_held(&i.lock_path) {
        None => Check::pass(ID, "no other run holds the lock").fact("lock_file", path),
        Some(false) => Check::pass(ID, "no other run holds the lock (stale lock file)").fact("lock_file", path),
        // flock is per open file: our own run's lock looks held from a second descriptor.
        Some(true) if owner == Some(std::process::id()) => {
            Check::pass(ID, "this run holds the lock").fact("lock_file", path).fact("pid", owner)
        }
        Some(true) => {
            let who = owner.map_or(String::new(), |p| format!(" (pid {p})"));
            Check::fail(ID, format!("another minikube-none-bootstrap run{who} holds the lock {path}"))
                .remedy("wait for the other run to finish; nothing was changed")
                .fact("lock_file", path)
                .fact("pid", owner)
        }
    }
}
