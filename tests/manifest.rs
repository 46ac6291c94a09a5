//! The pre-install manifest against temp roots: record before apply, simulate what apply and
//! minikube do, restore, and compare the listing with the one taken before.
#![allow(clippy::unwrap_used)]

use minikube_none_bootstrap::host::Host;
use minikube_none_bootstrap::manifest::{
    Kind, ListingRow, Manifest, RestoreStep, TRACKED, diff_listings, listing, tracked_for_user,
};
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

const OLD_KUBECTL: &[u8] = b"\x7fELF old kubectl \x00\x01\x02";
const OLD_DAEMON: &[u8] = b"{\"log-driver\": \"journald\"}\n";
const OLD_CUSTOM: &[u8] = b"apiVersion: v1\nkind: Custom\n";
const OLD_HOSTS: &[u8] = b"127.0.0.1 localhost\n::1 localhost\n";
const OTHER_CRT: &str = "/usr/share/ca-certificates/other.crt";
const MINIKUBE_CA: &str = "/usr/share/ca-certificates/minikubeCA.pem";
const CUSTOM: &str = "/etc/kubernetes/custom.conf";
const KUBECTL: &str = "/usr/local/bin/kubectl";
const DAEMON: &str = "/etc/docker/daemon.json";
const HOSTS: &str = "/etc/hosts";

struct Root {
    _dir: tempfile::TempDir,
    host: Host,
    state: PathBuf,
}

fn mode_of(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().mode() & 0o7777
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

impl Root {
    fn new() -> Root {
        let dir = tempfile::tempdir().unwrap();
        let host = Host::new(dir.path());
        let state = host.path("/var/lib/minikube-none-bootstrap");
        Root { _dir: dir, host, state }
    }

    fn at(&self, abs: &str) -> PathBuf {
        self.host.path(abs)
    }

    fn write(&self, abs: &str, bytes: &[u8], mode: u32) {
        let p = self.at(abs);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
        self.chmod(abs, mode);
    }

    fn write_all(&self, files: &[(&str, &[u8], u32)]) {
        for (p, body, mode) in files {
            self.write(p, body, *mode);
        }
    }

    fn chmod(&self, abs: &str, mode: u32) {
        std::fs::set_permissions(self.at(abs), std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// Only as root; the owner assertions are skipped otherwise.
    fn chown(&self, abs: &str, id: u32) {
        if is_root() {
            std::os::unix::fs::chown(self.at(abs), Some(id), Some(id)).unwrap();
        }
    }

    fn append(&self, abs: &str, bytes: &[u8]) {
        let mut v = std::fs::read(self.at(abs)).unwrap();
        v.extend_from_slice(bytes);
        std::fs::write(self.at(abs), v).unwrap();
    }

    fn link(&self, abs: &str, target: &str) {
        let p = self.at(abs);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let _ = std::fs::remove_file(&p);
        symlink(target, &p).unwrap();
    }

    fn read(&self, abs: &str) -> Vec<u8> {
        std::fs::read(self.at(abs)).unwrap()
    }

    fn meta(&self, abs: &str) -> std::fs::Metadata {
        std::fs::symlink_metadata(self.at(abs)).unwrap()
    }

    fn list(&self) -> Vec<ListingRow> {
        listing(&self.host, &tracked_for_user("/home/dev"))
    }

    fn record<S: AsRef<str>>(&self, m: &mut Manifest, paths: &[S]) -> Vec<String> {
        m.record(&self.host, &self.state, paths).unwrap()
    }

    /// Plans and restores; returns the paths changed.
    fn reset(&self, m: &Manifest) -> Vec<String> {
        let steps = m.plan_restore(&self.host);
        m.restore(&self.host, &self.state, &steps).unwrap()
    }
}

/// A fresh VM with a few things of its own in tracked places.
fn before() -> Root {
    let r = Root::new();
    for d in ["/var/lib", "/etc/systemd/system", "/home/dev", "/root"] {
        std::fs::create_dir_all(r.at(d)).unwrap();
    }
    r.chmod("/root", 0o700);
    r.write_all(&[
        (KUBECTL, OLD_KUBECTL, 0o755),
        (DAEMON, OLD_DAEMON, 0o644),
        (CUSTOM, OLD_CUSTOM, 0o600),
        (OTHER_CRT, b"other CA\n", 0o644),
        (HOSTS, OLD_HOSTS, 0o644),
    ]);
    r.chown(CUSTOM, 1000);
    r.link("/etc/ssl/certs/other.pem", OTHER_CRT);
    r
}

/// What apply does before its second record call.
fn apply_first_half(r: &Root) {
    r.write_all(&[
        (KUBECTL, b"new kubectl", 0o755),
        (DAEMON, b"{\"exec-opts\": []}", 0o644),
        ("/etc/kubernetes/admin.conf", b"kind: Config\n", 0o600),
        ("/etc/kubernetes/manifests/etcd.yaml", b"kind: Pod\n", 0o600),
    ]);
}

#[derive(Clone, Copy)]
enum Custom {
    Modify,
    Delete,
}

/// What the rest of apply and `minikube start` do.
fn apply_second_half(r: &Root, custom: Custom) {
    r.write_all(&[
        ("/var/lib/minikube/binaries/v1.34.0/kubelet", b"\x7fELF", 0o755),
        (MINIKUBE_CA, b"minikube CA\n", 0o644),
        ("/opt/cni/bin/bridge", b"\x7fELF bridge", 0o755),
        ("/root/.kube/config", b"kind: Config\n", 0o600),
        ("/root/.kube/cache/discovery/x.json", b"{}", 0o644),
        ("/home/dev/.kube/config", b"kind: Config\n", 0o600),
        ("/etc/systemd/system/kubelet.service", b"[Unit]\n", 0o644),
        ("/etc/systemd/system/kubelet.service.d/10-kubeadm.conf", b"", 0o644),
    ]);
    r.append(HOSTS, b"10.0.2.15 control-plane.minikube.internal\n");
    r.link("/etc/ssl/certs/minikubeCA.pem", MINIKUBE_CA);
    r.link("/etc/ssl/certs/b5213941.0", "/etc/ssl/certs/minikubeCA.pem");
    r.write("/var/tmp/minikube/kubeadm.yaml", b"kind: InitConfiguration\n", 0o640);
    let wants = "/etc/systemd/system/multi-user.target.wants/kubelet.service";
    r.link(wants, "/etc/systemd/system/kubelet.service");
    match custom {
        Custom::Modify => {
            r.chmod(CUSTOM, 0o644);
            r.chown(CUSTOM, 0);
        }
        Custom::Delete => std::fs::remove_file(r.at(CUSTOM)).unwrap(),
    }
}

fn assert_same(before: &[ListingRow], after: &[ListingRow]) {
    let diff = diff_listings(before, after);
    assert!(diff.is_empty(), "listing differs:\n{}", diff.join("\n"));
    assert_eq!(before, after);
}

fn assert_original_content(r: &Root) {
    assert_eq!(r.read(KUBECTL), OLD_KUBECTL);
    assert_eq!(r.read(DAEMON), OLD_DAEMON);
    assert_eq!(r.read(CUSTOM), OLD_CUSTOM);
    assert_eq!(r.read(HOSTS), OLD_HOSTS);
    let custom = r.meta(CUSTOM);
    assert_eq!(custom.mode() & 0o7777, 0o600);
    if is_root() {
        assert_eq!((custom.uid(), custom.gid()), (1000, 1000));
    }
    assert_eq!(mode_of(&r.at(KUBECTL)), 0o755);
    let other = std::fs::read_link(r.at("/etc/ssl/certs/other.pem")).unwrap();
    assert_eq!(other, Path::new(OTHER_CRT));
    for gone in [
        "/etc/kubernetes/admin.conf",
        "/etc/kubernetes/manifests",
        "/var/lib/minikube",
        MINIKUBE_CA,
        "/etc/ssl/certs/minikubeCA.pem",
        "/etc/ssl/certs/b5213941.0",
        "/var/tmp",
        "/opt",
        "/root/.kube",
        "/home/dev/.kube",
        "/etc/systemd/system/kubelet.service.d",
        "/etc/systemd/system/multi-user.target.wants",
    ] {
        assert!(r.at(gone).symlink_metadata().is_err(), "{gone} left");
    }
}

fn all_unchanged(steps: &[RestoreStep]) {
    let changes: Vec<_> = steps.iter().filter(|s| s.is_change()).collect();
    assert!(changes.is_empty(), "not converged: {changes:#?}");
    let unchanged = |s: &RestoreStep| matches!(s, RestoreStep::Unchanged { .. });
    assert!(steps.iter().all(unchanged));
}

/// The whole story: record, apply in two halves with a second record between, reset.
fn story(custom: Custom) -> (Root, Manifest, Vec<ListingRow>) {
    let r = before();
    let first = r.list();
    let mut m = Manifest::load(&r.state).unwrap();
    assert!(m.is_empty());
    let tracked = tracked_for_user("/home/dev");
    let recorded = m.record(&r.host, &r.state, &tracked).unwrap();
    assert!(recorded.contains(&CUSTOM.to_string()));
    let kubectl_sha = m.entry(KUBECTL).unwrap().sha256.clone();

    apply_first_half(&r);
    // A later run records again, with what it is about to touch and the whole list: nothing
    // recorded first is overwritten; paths new under recorded trees are recorded as absent.
    let mut m = Manifest::load(&r.state).unwrap();
    let admin = "/etc/kubernetes/admin.conf";
    let again = r.record(&mut m, &[KUBECTL, admin, HOSTS]);
    assert_eq!(again, [admin]);
    assert!(m.record(&r.host, &r.state, &tracked).unwrap().is_empty());
    let kubectl = m.entry(KUBECTL).unwrap();
    assert_eq!(kubectl.sha256, kubectl_sha);
    assert_eq!(kubectl.size, Some(OLD_KUBECTL.len() as u64));
    assert!(!m.entry(admin).unwrap().existed);
    assert!(m.entry("/etc/kubernetes/manifests").is_none());

    apply_second_half(&r, custom);
    let m = Manifest::load(&r.state).unwrap();
    assert_ne!(diff_listings(&first, &r.list()), Vec::<String>::new());
    let steps = m.plan_restore(&r.host);
    let changed = m.restore(&r.host, &r.state, &steps).unwrap();
    for p in [KUBECTL, CUSTOM, "/etc/kubernetes/manifests", "/opt"] {
        assert!(changed.contains(&p.to_string()), "{p} not in {changed:?}");
    }
    (r, m, first)
}

/// Modified (chmod, chown) in one variant, deleted in the other: both come back exactly.
#[test]
fn reset_gives_back_the_listing_and_the_bytes() {
    for custom in [Custom::Modify, Custom::Delete] {
        let (r, m, first) = story(custom);
        assert_same(&first, &r.list());
        assert_original_content(&r);
        all_unchanged(&m.plan_restore(&r.host));
        assert!(r.reset(&m).is_empty());
    }
}

#[test]
fn reset_after_minikube_delete_removed_the_whole_tree() {
    let r = before();
    let first = r.list();
    let mut m = Manifest::default();
    r.record(&mut m, TRACKED);
    apply_first_half(&r);
    let kube_dir = r.meta("/etc/kubernetes");
    std::fs::remove_dir_all(r.at("/etc/kubernetes")).unwrap();
    std::fs::remove_file(r.at(HOSTS)).unwrap();
    symlink("/tmp/elsewhere", r.at(HOSTS)).unwrap(); // a type change
    let steps = m.plan_restore(&r.host);
    assert!(steps.contains(&RestoreStep::Mkdir {
        path: "/etc/kubernetes".into(),
        mode: kube_dir.mode() & 0o7777,
        uid: kube_dir.uid(),
        gid: kube_dir.gid(),
    }));
    m.restore(&r.host, &r.state, &steps).unwrap();
    assert_same(&first, &r.list());
    assert_eq!(r.read(CUSTOM), OLD_CUSTOM);
    assert!(r.meta(HOSTS).is_file());
    all_unchanged(&m.plan_restore(&r.host));
}

#[test]
fn interrupted_restore_converges_when_planned_again() {
    let r = before();
    let first = r.list();
    let mut m = Manifest::default();
    r.record(&mut m, &tracked_for_user("/home/dev"));
    apply_first_half(&r);
    apply_second_half(&r, Custom::Modify);
    let mut steps = m.plan_restore(&r.host);
    steps.retain(RestoreStep::is_change);
    assert!(steps.len() > 4, "{steps:#?}");
    // Killed half-way: the later half never ran.
    let half = &steps[..steps.len() / 2];
    m.restore(&r.host, &r.state, half).unwrap();
    let m = Manifest::load(&r.state).unwrap(); // untouched by restore
    let rest = m.plan_restore(&r.host);
    assert!(rest.iter().any(RestoreStep::is_change));
    m.restore(&r.host, &r.state, &rest).unwrap();
    assert_same(&first, &r.list());
    assert_original_content(&r);
    all_unchanged(&m.plan_restore(&r.host));
}

#[test]
fn manifest_and_backups_are_private_and_exact() {
    let r = before();
    let mut m = Manifest::default();
    r.record(&mut m, TRACKED);
    let (file, backups) = (Manifest::file(&r.state), r.state.join("backup"));
    assert_eq!([&r.state, &file, &backups].map(|p| mode_of(p)), [0o700, 0o600, 0o700]);
    let copy = backups.join(m.entry(KUBECTL).unwrap().backup.as_ref().unwrap());
    assert_eq!(std::fs::read(&copy).unwrap(), OLD_KUBECTL);
    assert_eq!(mode_of(&copy), 0o755);
    // Links are recorded as links, never followed (other.pem is not tracked by default).
    r.record(&mut m, &["/etc/ssl/certs/other.pem"]);
    let link = m.entry("/etc/ssl/certs/other.pem").unwrap();
    assert_eq!(link.kind, Some(Kind::Symlink));
    assert_eq!(link.target.as_deref(), Some(OTHER_CRT));
    assert!(link.backup.is_none());
    let absent = m.entry("/etc/containerd/config.toml").unwrap();
    assert!(!absent.existed && !absent.implied);
    assert!(m.entry("/etc/containerd").unwrap().implied);
    assert!(!m.entry("/var/lib/minikube").unwrap().existed);
    // The JSON: readable modes, entries keyed by path, absent entries without metadata.
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(json["schema"], "minikube-none-bootstrap/manifest/v1");
    assert_eq!(json["entries"][KUBECTL]["mode"], "0755");
    assert_eq!(json["entries"][KUBECTL]["kind"], "file");
    assert!(json["entries"]["/var/lib/minikube"].get("mode").is_none());
    let trees = json["trees"].as_array().unwrap();
    assert!(trees.iter().any(|t| t == "/etc/kubernetes"));
    assert_eq!(Manifest::load(&r.state).unwrap(), m);
}

#[test]
fn new_paths_under_a_recorded_tree_are_absent() {
    let r = before();
    let mut m = Manifest::default();
    r.record(&mut m, &["/etc/kubernetes/**"]);
    let ca = "/etc/kubernetes/pki/ca.crt";
    assert!(m.record_tree_later(ca));
    assert!(!m.record_tree_later(ca));
    assert!(!m.record_tree_later(CUSTOM)); // recorded as it was
    assert!(!m.record_tree_later("/etc/kubernetes-other/x")); // not under the tree
    assert!(!m.entry(ca).unwrap().existed);
    r.write(ca, b"ca", 0o644);
    let (path, kind) = ("/etc/kubernetes/pki".to_string(), Kind::Dir);
    assert_eq!(m.plan_restore(&r.host)[0], RestoreStep::Remove { path, kind });
}

#[test]
fn foreign_content_keeps_a_parent_the_run_created() {
    let r = before();
    let mut m = Manifest::default();
    r.record(&mut m, &["/etc/containerd/config.toml"]);
    r.write("/etc/containerd/config.toml", b"version = 2\n", 0o644);
    r.write("/etc/containerd/someone-elses.toml", b"x", 0o644);
    r.reset(&m);
    assert!(!r.at("/etc/containerd/config.toml").exists());
    assert!(r.at("/etc/containerd/someone-elses.toml").exists());
    all_unchanged(&m.plan_restore(&r.host));
}

#[test]
fn sysctl_units_and_packages_first_wins() {
    let r = Root::new();
    let mut m = Manifest::default();
    r.record(&mut m, TRACKED);
    assert!(m.record_sysctl("net.ipv4.ip_forward", "0"));
    assert!(!m.record_sysctl("net.ipv4.ip_forward", "1"));
    assert!(m.record_unit("kubelet.service", "not-found"));
    assert!(!m.record_unit("kubelet.service", "enabled"));
    assert!(m.record_unit("containerd.service", "disabled"));
    let first = m.record_absent_packages(&["conntrack", "socat"]);
    assert_eq!(first, ["conntrack", "socat"]);
    assert_eq!(m.record_absent_packages(&["socat", "ebtables"]), ["ebtables"]);
    assert!(r.record(&mut m, TRACKED).is_empty()); // nothing new, but saves the above
    let m = Manifest::load(&r.state).unwrap();
    assert_eq!(m.sysctls()["net.ipv4.ip_forward"], "0");
    assert_eq!(m.units()["kubelet.service"], "not-found");
    assert_eq!(m.units()["containerd.service"], "disabled");
    let pkgs: Vec<&str> = m.absent_packages().iter().map(String::as_str).collect();
    assert_eq!(pkgs, ["conntrack", "ebtables", "socat"]);
}

#[test]
fn diff_listings_is_readable() {
    let r = before();
    let a = listing(&r.host, &[HOSTS, "/etc/kubernetes/**"]);
    r.append(HOSTS, b"1.2.3.4 x\n");
    r.chmod(HOSTS, 0o600);
    r.write("/etc/kubernetes/admin.conf", b"x", 0o600);
    let b = listing(&r.host, &[HOSTS, "/etc/kubernetes/**"]);
    let d = diff_listings(&a, &b);
    assert_eq!(d.len(), 2, "{d:?}");
    assert!(d[0].starts_with("~ /etc/hosts: mode 0644 → 0600; sha256 "));
    assert!(d[1].starts_with("+ /etc/kubernetes/admin.conf: file 0600"));
}

#[test]
fn rejects_relative_or_unnormalized_paths() {
    let r = Root::new();
    let mut m = Manifest::default();
    for bad in ["etc/hosts", "/etc/../hosts", "/etc//hosts", "/", "/etc/"] {
        assert!(m.record(&r.host, &r.state, &[bad]).is_err(), "{bad}");
    }
}
