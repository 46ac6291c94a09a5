//! Software already on the host that matters: sudo (minikube shells out to it), a Kubernetes
//! that is not ours (the none driver overwrites it), and a package manager busy on first boot.

use super::Inputs;
use crate::host::locks::{self, Holder};
use crate::host::{cmd, probe};
use crate::result::Check;

pub fn checks(i: &Inputs) -> Vec<Check> {
    vec![sudo(i), existing_kubernetes(i), package_lock(i)]
}

fn sudo(i: &Inputs) -> Check {
    const ID: &str = "sudo";
    let Some(sudo) = i.host.which("sudo") else {
        let msg = "sudo is not installed; the packages phase will install sudo \
                   (minikube shells out to it even as root)";
        return Check::warn(ID, msg).remedy("nothing to do: apply installs it").fact("installed", false);
    };
    let path = sudo.display().to_string();
    // minikube runs with --interactive=false, so sudo must work without a password prompt.
    let ran = cmd::run_status(&sudo, &["-n", "true"], &[]);
    match ran {
        Ok(f) if f.success() => {}
        Ok(f) => {
            let why = cmd::tail(&f.stderr).lines().last().unwrap_or("").to_string();
            let msg = format!("'sudo -n true' failed ({why}): minikube needs sudo without a password");
            let remedy = "allow root passwordless sudo ('root ALL=(ALL:ALL) ALL' in /etc/sudoers)";
            return Check::fail(ID, msg).remedy(remedy).fact("path", path).fact("exit_code", f.status);
        }
        Err(e) => {
            return Check::fail(ID, format!("cannot run {path}: {e:#}")).remedy("reinstall sudo").fact("path", path);
        }
    }
    // Fedora and RHEL ship a secure_path without /usr/local/bin; any sudoers may set one.
    match probe::sudo_secure_path(i.host) {
        Some(sp) if !sp.split(':').any(|d| d == "/usr/local/bin") => Check::warn(
            ID,
            format!(
                "sudo's secure_path ({sp}) lacks /usr/local/bin, where minikube puts kubectl and \
                 kubeadm: they will not be found via sudo"
            ),
        )
        .remedy("add /usr/local/bin to 'Defaults secure_path' with visudo")
        .fact("path", path)
        .fact("secure_path", sp),
        sp => Check::pass(ID, "sudo -n works").fact("path", path).fact("secure_path", sp),
    }
}

const BINARIES: [&str; 4] = ["kubelet", "kubeadm", "kubectl", "minikube"];
const FILES: [&str; 3] = ["/etc/kubernetes/admin.conf", "/etc/kubernetes/kubelet.conf", "/var/lib/kubelet/config.yaml"];
const UNIT_DIRS: [&str; 3] = ["/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system"];

fn existing_kubernetes(i: &Inputs) -> Check {
    const ID: &str = "existing-kubernetes";
    let mut found: Vec<(String, bool)> = Vec::new(); // (what, blocking)
    for b in BINARIES {
        if let Some(p) = i.host.which(b) {
            let abs = format!("/{}", p.strip_prefix(i.host.root()).unwrap_or(&p).display());
            // A kubectl (kubernetes-client) or minikube (prepare installs it) alone is no cluster.
            found.push((abs, !matches!(b, "kubectl" | "minikube")));
        }
    }
    let units = UNIT_DIRS.map(|d| format!("{d}/kubelet.service"));
    for f in FILES.iter().map(|f| f.to_string()).chain(units) {
        if i.host.exists(&f) {
            found.push((f, true));
        }
    }
    let names: Vec<&str> = found.iter().map(|(f, _)| f.as_str()).collect();
    let blocking = found.iter().any(|(_, b)| *b);
    let check = if found.is_empty() {
        Check::pass(ID, "no Kubernetes binaries, configs or kubelet unit found")
    } else if i.owned_cluster {
        Check::pass(ID, format!("found {}: the cluster this tool made", names.join(", ")))
    } else if blocking {
        Check::fail(ID, format!("an existing Kubernetes is on this host: {}", names.join(", ")))
            .remedy("remove it (kubeadm reset, uninstall kubelet and kubeadm) or use a fresh VM")
    } else {
        Check::warn(
            ID,
            format!(
                "found {} but no kubelet, kubeadm or cluster config; minikube may overwrite \
                 /usr/local/bin/kubectl",
                names.join(", ")
            ),
        )
        .remedy("nothing to do unless you rely on that binary's version")
    };
    check.fact("found", names)
}

const DPKG_LOCKS: [&str; 4] =
    ["/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock", "/var/lib/apt/lists/lock", "/var/cache/apt/archives/lock"];
/// rpm's transaction lock is a POSIX lock too (rpmdb moved to /usr/lib/sysimage in Fedora 36).
const RPM_LOCKS: [&str; 2] = ["/usr/lib/sysimage/rpm/.rpm.lock", "/var/lib/rpm/.rpm.lock"];
const DNF_PIDFILES: [&str; 5] = [
    "/var/run/dnf.pid",
    "/run/dnf.pid",
    "/var/lib/dnf/rpmdb_lock.pid",
    "/var/cache/dnf/metadata_lock.pid",
    "/var/cache/dnf/download_lock.pid",
];

fn package_lock(i: &Inputs) -> Check {
    const ID: &str = "package-lock";
    let mut held: Vec<(String, Option<u32>)> = Vec::new();
    let mut checked: Vec<&str> = Vec::new();
    for f in DPKG_LOCKS.iter().chain(RPM_LOCKS.iter()) {
        match locks::posix_lock_holder(&i.host.path(f)) {
            Some(Holder::Held(pid)) => held.push((f.to_string(), pid)),
            Some(Holder::Free) => checked.push(f),
            None => {}
        }
    }
    for f in DNF_PIDFILES {
        let pid = i.host.read_value(f).and_then(|s| s.parse::<u32>().ok());
        if let Some(pid) = pid.filter(|p| probe::pid_alive(i.host, *p)) {
            held.push((f.to_string(), Some(pid)));
        }
    }
    let Some((file, pid)) = held.first() else {
        return Check::pass(ID, "no package manager lock is held").fact("checked", checked);
    };
    let who = match pid {
        Some(p) => format!("pid {p}{}", probe::comm(i.host, *p).map_or(String::new(), |c| format!(" ({c})"))),
        None => "another process".into(),
    };
    let facts: Vec<serde_json::Value> = held.iter().map(|(f, p)| serde_json::json!({ "file": f, "pid": p })).collect();
    Check::warn(
        ID,
        format!(
            "{file} is held by {who} (cloud-init's package module or unattended-upgrades often \
             hold it on first boot); apply will wait, bounded"
        ),
    )
    .remedy("let it finish; apply waits for the lock before installing packages")
    .fact("held", facts)
}
