//! Packages: what is installed, what an install would add, and removal.

use super::{SHORT, run_bounded, run_ok};
use crate::host::Host;
use crate::host::cmd::{self, Finished};
use crate::host::packages::{self, Manager};
use anyhow::{Context, Result, bail};
use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

/// Names of the installed packages (dpkg status through the root; `rpm -qa` on dnf hosts).
pub fn installed(host: &Host, manager: Manager) -> Result<BTreeSet<String>> {
    Ok(match manager {
        Manager::Apt => packages::dpkg_installed(host),
        Manager::Dnf => {
            let rpm = host.which("rpm").context("rpm not found")?;
            let root = host.root().display().to_string();
            let out = run_ok(&rpm, &["--root", &root, "-qa", "--qf", "%{NAME}\n"], None, SHORT)?;
            out.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect()
        }
    })
}

fn apt_env(c: &mut Command) {
    c.env("DEBIAN_FRONTEND", "noninteractive").env("NEEDRESTART_MODE", "a");
}

/// Package names in `apt-get -s` output lines starting with one of `verbs` (`Inst`,
/// `Remv`, `Purg`); an `Inst` with a `[current version]` is an upgrade and left out.
pub fn apt_simulated(output: &str, verbs: &[&str]) -> Vec<String> {
    output
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let (verb, name) = (*w.first()?, *w.get(1)?);
            if !verbs.contains(&verb) || (verb == "Inst" && w.get(2).is_some_and(|x| x.starts_with('['))) {
                return None;
            }
            Some(name.to_string())
        })
        .collect()
}

/// What installing `names` would install, dependencies included (apt: a simulation, after
/// `apt-get update` when the lists do not know a name yet; dnf: `names` themselves, the
/// dependencies are recorded after the install from the package database).
pub fn would_install(host: &Host, manager: Manager, names: &[String], lock_wait: Duration) -> Result<Vec<String>> {
    if manager == Manager::Dnf || names.is_empty() {
        return Ok(names.to_vec());
    }
    let apt = host.which("apt-get").context("apt-get not found")?;
    let simulate = || -> Result<Finished> {
        let mut c = Command::new(&apt);
        apt_env(&mut c);
        c.args(["-s", "-q", "-y", "--no-install-recommends", "install"]).args(names);
        run_bounded(c, None, Duration::from_secs(120))
    };
    let mut f = simulate()?;
    if !f.success() {
        let timeout = format!("DPkg::Lock::Timeout={}", lock_wait.as_secs());
        let mut c = Command::new(&apt);
        apt_env(&mut c);
        c.args(["-o", &timeout, "-q", "update"]);
        let up = run_bounded(c, None, lock_wait + Duration::from_secs(600))?;
        if !up.success() {
            bail!("apt-get update failed: {}", cmd::tail(&up.stderr));
        }
        f = simulate()?;
    }
    if !f.success() {
        bail!("apt-get -s install {} failed: {}", names.join(" "), cmd::tail(&f.stderr));
    }
    let mut all = apt_simulated(&f.stdout, &["Inst"]);
    for n in names {
        if !all.contains(n) {
            all.push(n.clone());
        }
    }
    Ok(all)
}

/// Removes `names` (and their configuration) without prompts. Refused, before anything is
/// removed, when the removal would take other packages with it (something installed later
/// depends on them). Waits up to `lock_wait` for another package manager run.
pub fn purge(host: &Host, manager: Manager, names: &[String], lock_wait: Duration) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let ours: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    match manager {
        Manager::Apt => {
            let apt = host.which("apt-get").context("apt-get not found")?;
            let mut c = Command::new(&apt);
            apt_env(&mut c);
            c.args(["-s", "-q", "-y", "purge"]).args(names);
            let sim = run_bounded(c, None, Duration::from_secs(120))?;
            if !sim.success() {
                bail!("apt-get -s purge failed: {}", cmd::tail(&sim.stderr));
            }
            let extra: Vec<String> = apt_simulated(&sim.stdout, &["Remv", "Purg"])
                .into_iter()
                .filter(|n| !ours.contains(n.split(':').next().unwrap_or(n)) && !ours.contains(n.as_str()))
                .collect();
            if !extra.is_empty() {
                bail!(
                    "removing them would also remove {}, installed later and depending on them: nothing removed",
                    extra.join(", ")
                );
            }
            let timeout = format!("DPkg::Lock::Timeout={}", lock_wait.as_secs());
            let mut c = Command::new(&apt);
            apt_env(&mut c);
            c.args(["-o", &timeout, "-q", "-y", "purge"]).args(names);
            let f = run_bounded(c, None, lock_wait + Duration::from_secs(900))?;
            if !f.success() {
                bail!("apt-get purge failed: {}", cmd::tail(&f.stderr));
            }
        }
        Manager::Dnf => {
            let rpm = host.which("rpm").context("rpm not found")?;
            let test = [&["-e", "--test"][..], &names.iter().map(String::as_str).collect::<Vec<_>>()].concat();
            run_ok(&rpm, &test, None, SHORT).context("packages installed later depend on them: nothing removed")?;
            let dnf = host.which("dnf").context("dnf not found")?;
            let mut c = Command::new(&dnf);
            c.args(["-y", "-q", "--setopt=clean_requirements_on_remove=False", "remove"]).args(names);
            let f = run_bounded(c, None, lock_wait + Duration::from_secs(900))?;
            if !f.success() {
                bail!("dnf remove failed: {}", cmd::tail(&f.stderr));
            }
        }
    }
    let now = installed(host, manager)?;
    let still: Vec<&str> = names.iter().map(String::as_str).filter(|n| now.contains(*n)).collect();
    if !still.is_empty() {
        bail!("still installed after removing: {}", still.join(", "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apt_simulations_name_new_packages_only() {
        let out = "NOTE: This is only a simulation!\n\
                   Inst libnetfilter-conntrack3 (1.1.0-1 Debian:13.1/stable [amd64])\n\
                   Inst conntrack (1:1.4.8-2 Debian:13.1/stable [amd64])\n\
                   Inst libc6 [2.41-11] (2.41-12 Debian:13.1/stable [amd64])\n\
                   Conf conntrack (1:1.4.8-2 Debian:13.1/stable [amd64])\n\
                   Purg socat [1.8.0.3-1]\nRemv other [1]\n";
        assert_eq!(apt_simulated(out, &["Inst"]), ["libnetfilter-conntrack3", "conntrack"]);
        assert_eq!(apt_simulated(out, &["Remv", "Purg"]), ["socat", "other"]);
    }
}
