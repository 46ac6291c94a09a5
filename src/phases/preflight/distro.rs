//! The distribution: is it inside the none driver's support window, can we install with
//! its package manager, and does it package the configured container runtime.

use super::Inputs;
use crate::config::Runtime;
use crate::host::os_release::{self, OsRelease, Standing};
use crate::host::{cmd, probe};
use crate::result::Check;

pub fn checks(i: &Inputs) -> Vec<Check> {
    let os = os_release::read(i.host);
    vec![distribution(i, os.as_ref()), package_manager(i, os.as_ref()), container_runtime(i, os.as_ref())]
}

const ID: &str = "distribution";

fn distribution(i: &Inputs, os: Option<&OsRelease>) -> Check {
    let Some(os) = os else {
        return Check::warn(ID, "no /etc/os-release or /usr/lib/os-release: cannot tell the distribution")
            .remedy("run on Debian, Ubuntu or Fedora released less than two years ago")
            .fact("support", "unknown");
    };
    let support = os_release::support(os, i.today);
    let name = &os.pretty_name;
    let upgrade = os_release::newest(&os.id)
        .map(|r| {
            format!(
                "upgrade to a release less than two years old (the newest this tool knows: {} {})",
                display(r.id),
                r.version_id
            )
        })
        .unwrap_or_else(|| "use Debian, Ubuntu or Fedora released less than two years ago".into());
    let check = match os_release::standing(os, i.today) {
        Standing::Supported { release, until } => {
            let r = release.released;
            let msg = format!("{name}, released {r}, is a supported release (window open until {until})");
            Check::pass(ID, msg).fact("released", r.to_string()).fact("window_until", until.to_string())
        }
        Standing::OutsideWindow { release, ended } => {
            let r = release.released;
            let msg = format!(
                "{name} was released {r} and is older than the supported window (releases less \
                 than two years old; its window ended {ended}); likely to work"
            );
            Check::warn(ID, msg).remedy(upgrade).fact("released", r.to_string()).fact("window_ended", ended.to_string())
        }
        Standing::NewerThanTable => {
            let v = os.version_id.as_deref().or(os.version_codename.as_deref());
            let what = v.unwrap_or("testing/unstable");
            let msg = format!("{name} ({what}) is newer than the releases this tool knows");
            Check::pass(ID, format!("{msg}; treated as supported"))
        }
        Standing::UnknownVersion { older } => {
            let v = os.version_id.as_deref().unwrap_or("?");
            let why = match older {
                true => "older than every release this tool knows",
                false => "not in the release table",
            };
            Check::warn(ID, format!("{name}: version {v} is {why}; likely to work")).remedy(upgrade)
        }
        Standing::OtherDistribution => {
            let tail = match probe::pid1_comm(i.host).is_some_and(|c| c == "systemd") {
                true => "likely to work (systemd based)",
                false => "and PID 1 is not systemd (see the systemd check)",
            };
            let msg = format!("{name} is not a supported distribution (Debian, Ubuntu, Fedora)");
            let remedy = "use Debian, Ubuntu or Fedora released less than two years ago";
            Check::warn(ID, format!("{msg}; {tail}")).remedy(format!("{remedy}, or accept the warning"))
        }
    };
    check
        .fact("id", &os.id)
        .fact("id_like", &os.id_like)
        .fact("version_id", &os.version_id)
        .fact("version_codename", &os.version_codename)
        .fact("pretty_name", name)
        .fact("support", support.status)
}

fn display(id: &str) -> &str {
    match id {
        "debian" => "Debian",
        "ubuntu" => "Ubuntu",
        "fedora" => "Fedora",
        other => other,
    }
}

fn package_manager(i: &Inputs, os: Option<&OsRelease>) -> Check {
    const ID: &str = "package-manager";
    let wanted: &[&str] = match os {
        Some(o) if o.is_debian_family() => &["apt-get"],
        Some(o) if o.is_fedora_family() => &["dnf"],
        _ => &["apt-get", "dnf"],
    };
    match wanted.iter().find_map(|p| i.host.which(p).map(|path| (*p, path))) {
        Some((name, path)) => Check::pass(ID, format!("{name} is available at {}", path.display()))
            .fact("manager", name)
            .fact("path", path.display().to_string()),
        None => Check::fail(
            ID,
            format!("no {} found: the packages phase installs with apt-get or dnf", wanted.join(" or ")),
        )
        .remedy("run on Debian, Ubuntu (apt-get) or Fedora (dnf)")
        .fact("looked_for", wanted),
    }
}

/// Whether the distribution's archive has the runtime's package.
enum Packaged {
    Yes(&'static str),
    No,
    /// The archive may or may not have it; apt-cache on the host can tell.
    Unverified(&'static str),
}

fn packaged(os: &OsRelease, runtime: Runtime) -> Option<Packaged> {
    let debian_family = os.is_debian_family();
    let fedora_family = os.id == "fedora" || (os.is_like("fedora") && !os.is_like("rhel"));
    let major = os.version_id.as_deref().and_then(|v| v.split('.').next()?.parse::<u32>().ok());
    Some(match runtime {
        Runtime::Containerd if debian_family || fedora_family => Packaged::Yes("containerd"),
        Runtime::Docker if debian_family => Packaged::Yes("docker.io"),
        Runtime::Docker if fedora_family => Packaged::Yes("moby-engine"),
        Runtime::CriO if fedora_family => Packaged::Yes("cri-o"),
        // bullseye, bookworm and trixie have no cri-o package; later releases are not confirmed.
        Runtime::CriO if os.id == "debian" && major.is_some_and(|m| m <= 13) => Packaged::No,
        Runtime::CriO if debian_family => Packaged::Unverified("cri-o"),
        _ => return None,
    })
}

/// bullseye packages containerd 1.4, and kubelet 1.26+ speaks only CRI v1 (containerd 1.6+).
fn containerd_too_old(i: &Inputs, os: Option<&OsRelease>, candidate: Option<&str>) -> Option<Check> {
    let bullseye = os.is_some_and(|o| o.id == "debian" && o.version_id.as_deref() == Some("11"));
    let old = candidate.is_none_or(|v| v.starts_with("1.4") || v.starts_with("1.5"));
    let k = i.kubernetes_version;
    (i.runtime == Runtime::Containerd && bullseye && old && k.at_least(1, 26)).then(|| {
        let msg = format!("{} packages containerd 1.4, too old for Kubernetes {k}", os_name(os));
        Check::warn("container-runtime", format!("{msg} (CRI v1 needs containerd 1.6+)"))
            .remedy("use Debian 12 or later, or a Kubernetes version below v1.26")
    })
}

fn os_name(os: Option<&OsRelease>) -> String {
    os.map_or("this distribution".to_string(), |o| o.pretty_name.clone())
}

/// `apt-cache policy PKG` on the host: the candidate version, when the lists know one.
fn apt_candidate(i: &Inputs, package: &str) -> Option<String> {
    let apt_cache = i.host.which("apt-cache")?;
    let out = cmd::run_status(&apt_cache, &["policy", package], &[]).ok()?;
    out.stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("Candidate:"))
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty() && c != "(none)")
}

fn container_runtime(i: &Inputs, os: Option<&OsRelease>) -> Check {
    const ID: &str = "container-runtime";
    let rt = i.runtime.to_string();
    let name = os_name(os);
    let Some(verdict) = os.and_then(|o| packaged(o, i.runtime)) else {
        return Check::warn(
            ID,
            format!("no package is known for {rt} on {name}; the runtime phase may not install it"),
        )
        .remedy("use Debian, Ubuntu or Fedora, or install the runtime yourself before apply")
        .fact("runtime", rt);
    };
    let candidate = |p: &str| {
        if os.is_some_and(OsRelease::is_debian_family) { apt_candidate(i, p) } else { None }
    };
    let check = match verdict {
        Packaged::Yes(p) => {
            let c = candidate(p);
            let msg = format!("{rt} can be installed from the {name} archive (package {p})");
            let check = match containerd_too_old(i, os, c.as_deref()) {
                Some(warn) => warn,
                None => Check::pass(ID, msg),
            };
            check.fact("candidate", c).fact("packages", [p])
        }
        // An added repository (cri-o's own) may still provide it: apt-cache knows.
        Packaged::No => match candidate("cri-o").filter(|_| i.runtime == Runtime::CriO) {
            Some(c) => Check::pass(ID, format!("{rt} {c} is available from an added apt repository (package cri-o)"))
                .fact("candidate", c)
                .fact("packages", ["cri-o"]),
            None => Check::fail(ID, format!("{name} does not package {rt}"))
                .remedy("set container-runtime: containerd (or docker), or add a repository that has cri-o")
                .fact("packages", Vec::<&str>::new()),
        },
        Packaged::Unverified(p) => match candidate(p) {
            Some(c) => {
                let msg = format!("{rt} {c} is available from the apt sources (package {p})");
                Check::pass(ID, msg).fact("candidate", c).fact("packages", [p])
            }
            None => {
                let msg = format!("could not confirm that {name} packages {rt} ({p}): apply fails if not");
                Check::warn(ID, msg)
                    .remedy("set container-runtime: containerd, or add a repository that has cri-o")
                    .fact("packages", [p])
            }
        },
    };
    check.fact("runtime", rt)
}
