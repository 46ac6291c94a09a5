//! Packages: what is installed (read from the package database through the root) and
//! non-interactive installs with apt-get or dnf, waiting (bounded) for a held lock.

use super::Host;
use super::cmd;
use anyhow::{Result, bail};
use std::collections::BTreeSet;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manager {
    Apt,
    Dnf,
}

impl Manager {
    pub fn detect(host: &Host) -> Option<Manager> {
        if host.which("apt-get").is_some() {
            Some(Manager::Apt)
        } else if host.which("dnf").is_some() {
            Some(Manager::Dnf)
        } else {
            None
        }
    }
}

/// Names of the packages dpkg records as installed ("install ok installed").
pub fn dpkg_installed(host: &Host) -> BTreeSet<String> {
    let status = host.read("/var/lib/dpkg/status").unwrap_or_default();
    let mut out = BTreeSet::new();
    for para in status.split("\n\n") {
        let mut name = None;
        let mut ok = false;
        for line in para.lines() {
            if let Some(v) = line.strip_prefix("Package: ") {
                name = Some(v.trim());
            } else if let Some(v) = line.strip_prefix("Status: ") {
                ok = v.trim() == "install ok installed";
            }
        }
        if let (Some(n), true) = (name, ok) {
            out.insert(n.to_string());
        }
    }
    out
}

type IsInstalled = dyn Fn(&str) -> Result<bool>;

/// What to install for the entries of `wanted` that no installed package satisfies; an
/// entry `a|b` is satisfied by either, and `a` is what gets installed.
pub fn missing(host: &Host, manager: Manager, wanted: &[String]) -> Result<Vec<String>> {
    let installed: Box<IsInstalled> = match manager {
        Manager::Apt => {
            let have = dpkg_installed(host);
            Box::new(move |p| Ok(have.contains(p)))
        }
        Manager::Dnf => {
            let rpm = host.which("rpm").ok_or_else(|| anyhow::anyhow!("rpm not found"))?;
            let root = host.root().display().to_string();
            Box::new(move |p| Ok(cmd::run_status(&rpm, &["--root", &root, "-q", p], &[])?.success()))
        }
    };
    let mut absent = Vec::new();
    for entry in wanted {
        let mut alternatives = entry.split('|');
        let first = alternatives.next().unwrap_or(entry).to_string();
        if !installed(&first)? && !alternatives.map(&installed).collect::<Result<Vec<_>>>()?.contains(&true) {
            absent.push(first);
        }
    }
    absent.dedup();
    Ok(absent)
}

/// Installs `names` without prompts, keeping local config files; waits up to `lock_wait`
/// for another package manager run (cloud-init, unattended-upgrades) to finish.
pub fn install(host: &Host, manager: Manager, names: &[String], lock_wait: Duration) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    match manager {
        Manager::Apt => {
            let apt = host.which("apt-get").ok_or_else(|| anyhow::anyhow!("apt-get not found"))?;
            let timeout = format!("DPkg::Lock::Timeout={}", lock_wait.as_secs());
            let env = [("DEBIAN_FRONTEND", "noninteractive"), ("NEEDRESTART_MODE", "a")];
            let common = ["-o", &timeout, "-q"];
            cmd::run(&apt, &[&common[..], &["update"]].concat(), &env)?;
            let args = [
                &common[..],
                &[
                    "-y",
                    "--no-install-recommends",
                    "-o",
                    "Dpkg::Options::=--force-confdef",
                    "-o",
                    "Dpkg::Options::=--force-confold",
                    "install",
                ],
                &refs[..],
            ]
            .concat();
            cmd::run(&apt, &args, &env)?;
        }
        Manager::Dnf => {
            let dnf = host.which("dnf").ok_or_else(|| anyhow::anyhow!("dnf not found"))?;
            let args = [&["-y", "-q", "--setopt=install_weak_deps=False", "install"][..], &refs[..]].concat();
            cmd::run(&dnf, &args, &[])?;
        }
    }
    let still = missing(host, manager, names)?;
    if !still.is_empty() {
        bail!("after installing, these packages are still missing: {}", still.join(", "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_installed_packages_from_dpkg_status() {
        let d = tempfile::tempdir().expect("tmp");
        let status = "Package: sudo\nStatus: install ok installed\nVersion: 1\n\n\
                      Package: socat\nStatus: deinstall ok config-files\n\n\
                      Package: iptables\nStatus: install ok installed\n";
        std::fs::create_dir_all(d.path().join("var/lib/dpkg")).expect("mkdir");
        std::fs::write(d.path().join("var/lib/dpkg/status"), status).expect("write");
        let host = Host::new(d.path());
        let have = dpkg_installed(&host);
        assert!(have.contains("sudo") && have.contains("iptables"));
        assert!(!have.contains("socat"), "removed-but-configured is not installed");
        let wanted = vec!["sudo".to_string(), "socat".to_string()];
        assert_eq!(missing(&host, Manager::Apt, &wanted).expect("missing"), vec!["socat".to_string()]);
        // docker's containerd.io satisfies containerd: installing Debian's would remove docker.
        let wanted = vec!["containerd|iptables".to_string(), "runc|containerd.io".to_string()];
        assert_eq!(missing(&host, Manager::Apt, &wanted).expect("missing"), vec!["runc".to_string()]);
    }
}
