//! Preflight checks against fixture roots: real os-release files and a real-format Debian 13
//! KVM guest tree (tests/fixtures/hosts), read through `Host` exactly as on a machine.

use jiff::civil::{Date, date};
use minikube_none_bootstrap::config::{Runtime, Version};
use minikube_none_bootstrap::host::Host;
use minikube_none_bootstrap::phases::preflight::{CHECK_IDS, Inputs, run_checks};
use minikube_none_bootstrap::result::{Check, CheckStatus};
use std::io::BufRead;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const TODAY: Date = date(2026, 12, 3);
const KERNEL: &str = "6.12.48+deb13-amd64";
const P: CheckStatus = CheckStatus::Pass;
const W: CheckStatus = CheckStatus::Warn;
const F: CheckStatus = CheckStatus::Fail;

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel)
}

fn os_release(name: &str) -> String {
    let p = fixture(&format!("os-release/{name}"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

fn copy_tree(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).expect("fixture tree") {
        let e = e.expect("entry");
        let dest = to.join(e.file_name());
        if e.path().is_dir() {
            std::fs::create_dir_all(&dest).expect("mkdir");
            copy_tree(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).expect("copy");
        }
    }
}

/// What the run's config and state say, besides the machine.
struct Opts {
    runtime: Runtime,
    owned_cluster: bool,
    proxy_http: Option<&'static str>,
    no_proxy: Option<&'static str>,
}

/// Covers everything, so a proxy in the test's own environment changes no result.
const FULL_NO_PROXY: &str = "192.0.2.15,10.96.0.0/12,10.244.0.0/16,127.0.0.1,localhost,\
                             control-plane.minikube.internal";

fn opts() -> Opts {
    let (runtime, no_proxy) = (Runtime::Containerd, Some(FULL_NO_PROXY));
    Opts { runtime, owned_cluster: false, proxy_http: None, no_proxy }
}

fn owned() -> Opts {
    Opts { owned_cluster: true, ..opts() }
}

fn runtime(runtime: Runtime) -> Opts {
    Opts { runtime, ..opts() }
}

/// A temp copy of a fixture host; each test changes what it is about.
struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    /// tests/fixtures/hosts/debian-13-kvm: a fresh Debian 13 guest that passes every check.
    fn healthy() -> Tree {
        let t = Tree { dir: tempfile::tempdir().expect("tempdir") };
        copy_tree(&fixture("hosts/debian-13-kvm"), t.dir.path());
        // A checkout may lose the exec bit; `which` only finds executables.
        for stub in ["usr/bin/apt-get", "usr/bin/sudo"] {
            let mode = std::fs::Permissions::from_mode(0o755);
            std::fs::set_permissions(t.path(stub), mode).expect("chmod");
        }
        t
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).expect("read")
    }
    fn write(&self, rel: &str, content: &str) -> &Self {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, content).expect("write");
        self
    }
    /// A stub program: what `host.which` finds, and what a check runs, under this root.
    fn exec(&self, rel: &str, body: &str) -> &Self {
        self.write(rel, &format!("#!/bin/sh\n{body}\n"));
        let mode = std::fs::Permissions::from_mode(0o755);
        std::fs::set_permissions(self.path(rel), mode).expect("chmod");
        self
    }
    fn rm(&self, rel: &str) -> &Self {
        let p = self.path(rel);
        let r = if p.is_dir() { std::fs::remove_dir_all(p) } else { std::fs::remove_file(p) };
        r.expect("rm");
        self
    }
    fn lock_path(&self) -> PathBuf {
        self.path("run/minikube-none-bootstrap.lock")
    }
    fn run_with(&self, o: &Opts) -> Vec<Check> {
        let host = Host::new(self.dir.path());
        let version: Version = "v1.34.0".parse().expect("version");
        run_checks(&Inputs {
            host: &host,
            today: TODAY,
            runtime: o.runtime,
            kubernetes_version: &version,
            proxy_http: o.proxy_http,
            proxy_https: None,
            no_proxy: o.no_proxy,
            owned_cluster: o.owned_cluster,
            lock_path: self.lock_path(),
        })
    }
    fn run(&self) -> Vec<Check> {
        self.run_with(&opts())
    }
    fn check(&self, id: &str) -> Check {
        get(&self.run(), id).clone()
    }
    fn check_with(&self, o: &Opts, id: &str) -> Check {
        get(&self.run_with(o), id).clone()
    }
}

fn get<'a>(checks: &'a [Check], id: &str) -> &'a Check {
    checks.iter().find(|c| c.id == id).unwrap_or_else(|| panic!("no {id} check"))
}

/// Asserts `c` has `status`, a message naming `needle`, and a remedy unless it passed.
fn is(c: Check, status: CheckStatus, needle: &str) -> Check {
    let id = c.id;
    assert_eq!(c.status, status, "{id}: {} / {:?}", c.message, c.remedy);
    assert!(c.message.contains(needle), "{id}: {:?} lacks {needle:?}", c.message);
    assert!(status == P || c.remedy.is_some(), "{id} has no remedy");
    c
}

#[test]
fn one_check_per_id_in_report_order() {
    let checks = Tree::healthy().run();
    let ids: Vec<&str> = checks.iter().map(|c| c.id).collect();
    assert_eq!(ids, CHECK_IDS);
}

#[test]
fn a_healthy_vm_passes_every_check() {
    let checks = Tree::healthy().run();
    // disk measures the temp file system, root the test's own uid: both vary by machine.
    for c in checks.iter().filter(|c| c.id != "disk" && c.id != "root") {
        assert_eq!(c.status, P, "{}: {}", c.id, c.message);
    }
    let fact = |id: &str, key: &str| get(&checks, id).facts[key].clone();
    assert_eq!(fact("virtualization", "virtualization"), "qemu");
    assert_eq!(fact("default-route", "node_ip"), "192.0.2.15");
    assert_eq!(fact("cpus", "cpus"), 4);
    assert_eq!(fact("memory", "memory_mib"), 3919);
    let modules = serde_json::json!({"overlay": "loaded", "br_netfilter": "will load"});
    assert_eq!(fact("kernel-modules", "modules"), modules);
    let forward = serde_json::json!({"current": "0", "want": "1"});
    assert_eq!(fact("sysctls", "net.ipv4.ip_forward"), forward);
    let sysctls = get(&checks, "sysctls").clone();
    is(sysctls, P, "will set net.ipv4.ip_forward=1");
}

/// fixture, status, support, what the message says, on 2026-12-03.
const DISTRIBUTIONS: &str = "
debian-13           pass supported          released 2025-08-09
debian-12           warn outside-window     older than the supported window
debian-11           warn outside-window     its window ended 2023-08-14
debian-sid          pass newer-than-table   (forky) is newer than the releases
ubuntu-26.04        pass supported          released 2026-04-23
ubuntu-25.10        pass supported          released 2025-10-09
ubuntu-24.04        warn outside-window     released 2024-04-25
ubuntu-22.04        warn outside-window     older than the supported window
fedora-44           pass supported          released 2026-04-28
fedora-43           pass supported          released 2025-10-28
fedora-42           pass supported          released 2025-04-15
fedora-41           warn outside-window     its window ended 2026-10-29
arch                warn other-distribution Arch Linux is not a supported distribution
opensuse-tumbleweed warn other-distribution openSUSE Tumbleweed is not a supported
rocky-9             warn other-distribution Rocky Linux 9.3 (Blue Onyx) is not a supported
almalinux-10        warn other-distribution AlmaLinux 10.0 (Purple Lion) is not a supported
alpine-3.23         warn other-distribution Alpine Linux v3.23 is not a supported
";

#[test]
fn distribution_support_window_on_2026_12_03() {
    let t = Tree::healthy();
    for row in DISTRIBUTIONS.lines().filter(|l| !l.is_empty()) {
        let f: Vec<&str> = row.split_whitespace().collect();
        let (name, support, says) = (f[0], f[2], f[3..].join(" "));
        let status = if f[1] == "pass" { P } else { W };
        t.write("etc/os-release", &os_release(name));
        let c = is(t.check("distribution"), status, &says);
        assert_eq!(c.facts["support"], support, "{name}");
    }
    t.write("etc/os-release", &os_release("fedora-44").replace("44", "45"));
    let c = is(t.check("distribution"), P, "newer than the releases");
    assert_eq!(c.facts["support"], "newer-than-table");
    // /usr/lib/os-release is the fallback os-release(5) names.
    let noble = os_release("ubuntu-24.04");
    t.rm("etc/os-release").write("usr/lib/os-release", &noble);
    is(t.check("distribution"), W, "Ubuntu 24.04.3 LTS was released");
}

#[test]
fn too_few_cpus_or_too_little_memory_fail() {
    let t = Tree::healthy();
    let meminfo = "MemTotal:        1048576 kB\nMemFree:          524288 kB\n";
    t.write("sys/devices/system/cpu/online", "0\n").write("proc/meminfo", meminfo);
    let checks = t.run();
    is(get(&checks, "cpus").clone(), F, "RSRC_INSUFFICIENT_CORES");
    is(get(&checks, "memory").clone(), F, "1024 MiB of memory");
    t.rm("sys/devices/system/cpu/online");
    assert_eq!(t.check("cpus").facts["source"], "/proc/cpuinfo");
}

#[test]
fn a_listening_apiserver_port_fails_unless_the_cluster_is_ours() {
    let t = Tree::healthy();
    let apiserver = "   3: 00000000:20FB 00000000:0000 0A 00000000:00000000 00:00000000 \
                     00000000     0        0 31337 1 0000000000000000 100 0 0 10 0\n";
    t.write("proc/net/tcp", &(t.read("proc/net/tcp") + apiserver));
    let c = is(t.check("ports"), F, "in use: 8443 (kube-apiserver) held");
    assert!(!c.message.contains("10250"), "{}", c.message);
    is(t.check_with(&owned(), "ports"), P, "held by the cluster this tool made");
}

#[test]
fn an_underscore_hostname_fails_and_one_not_in_hosts_warns() {
    let t = Tree::healthy();
    t.write("proc/sys/kernel/hostname", "my_host\n");
    let c = is(t.check("hostname"), F, "my_host is not a valid Kubernetes node");
    assert!(c.message.contains("underscores are not allowed"));
    assert_eq!(c.remedy.as_deref(), Some("hostnamectl set-hostname my-host"));
    t.write("proc/sys/kernel/hostname", "node-2\n");
    is(t.check("hostname-resolves"), W, "node-2 is not in /etc/hosts");
}

#[test]
fn no_default_route_fails_and_an_ipv6_one_is_enough() {
    let t = Tree::healthy();
    t.write("proc/net/route", "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\n");
    is(t.check("default-route"), F, "no default route");
    let route = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 \
                 fe800000000000000000000000000001 00000400 00000002 00000000 00000003 ens3\n";
    let addrs = "20010db8000000000000000000000015 02 40 00 80     ens3\n";
    t.write("proc/net/ipv6_route", route).write("proc/net/if_inet6", addrs);
    let c = is(t.check("default-route"), P, "(ipv6) on ens3 via fe80::1");
    assert_eq!(c.facts["node_ip"], "2001:db8::15");
}

#[test]
fn a_proxy_without_no_proxy_coverage_warns_with_the_line_to_use() {
    let t = Tree::healthy();
    let (proxy_http, no_proxy) = (Some("http://proxy.example:3128"), Some("localhost,127.0.0.1"));
    let o = Opts { proxy_http, no_proxy, ..opts() };
    let missing = "192.0.2.15, 10.96.0.0/12, 10.244.0.0/16, control-plane.minikube.internal";
    let c = is(t.check_with(&o, "proxy"), W, missing);
    let line = "NO_PROXY=localhost,127.0.0.1,192.0.2.15,10.96.0.0/12,10.244.0.0/16,\
                control-plane.minikube.internal";
    assert!(c.remedy.as_deref().is_some_and(|r| r.ends_with(line)), "{:?}", c.remedy);
    let wide = Some("localhost,127.0.0.0/8,192.0.2.0/24,10.0.0.0/8,.minikube.internal");
    let covered = Opts { no_proxy: wide, ..o };
    is(t.check_with(&covered, "proxy"), P, "NO_PROXY covers");
}

#[test]
fn selinux_enforcing_on_fedora_warns() {
    let t = Tree::healthy();
    t.write("etc/os-release", &os_release("fedora-43"))
        .write("sys/fs/selinux/enforce", "1\n")
        .exec("usr/bin/dnf", "exit 0");
    let checks = t.run();
    is(get(&checks, "selinux").clone(), W, "SELinux is enforcing");
    is(get(&checks, "package-manager").clone(), P, "dnf is available");
    t.write("sys/fs/selinux/enforce", "0\n");
    is(t.check("selinux"), P, "permissive");
    t.write("etc/os-release", &os_release("debian-13"));
    is(t.check("selinux"), P, "not applicable");
}

#[test]
fn an_existing_kubelet_fails_and_a_lone_kubectl_warns() {
    let t = Tree::healthy();
    t.exec("usr/local/bin/kubelet", "exit 0");
    let found = "Kubernetes is on this host: /usr/local/bin/kubelet";
    is(t.check("existing-kubernetes"), F, found);
    let ours = t.check_with(&owned(), "existing-kubernetes");
    is(ours, P, "the cluster this tool made");
    t.rm("usr/local/bin/kubelet").exec("usr/bin/kubectl", "exit 0");
    is(t.check("existing-kubernetes"), W, "found /usr/bin/kubectl");
    t.write("etc/kubernetes/admin.conf", "apiVersion: v1\nkind: Config\n");
    is(t.check("existing-kubernetes"), F, "/etc/kubernetes/admin.conf");
}

#[test]
fn sudo_failing_fails_and_missing_sudo_warns() {
    let t = Tree::healthy();
    t.exec("usr/bin/sudo", "echo 'sudo: a password is required' >&2; exit 1");
    is(t.check("sudo"), F, "failed (sudo: a password is required)");
    t.rm("usr/bin/sudo");
    is(t.check("sudo"), W, "will install sudo");
    let sudoers = "Defaults    secure_path = /sbin:/bin:/usr/sbin:/usr/bin\nroot\tALL=(ALL) \tALL\n";
    t.write("etc/os-release", &os_release("rocky-9")).exec("usr/bin/sudo", "exit 0").write("etc/sudoers", sudoers);
    is(t.check("sudo"), W, "(/sbin:/bin:/usr/sbin:/usr/bin) lacks /usr/local/bin");
}

#[test]
fn another_run_holding_the_lock_fails() {
    use nix::fcntl::{Flock, FlockArg};
    let t = Tree::healthy();
    is(t.check("lock"), P, "no other run holds the lock");
    t.write("run/minikube-none-bootstrap.lock", "4242");
    let f = std::fs::File::open(t.lock_path()).expect("open");
    let held = Flock::lock(f, FlockArg::LockExclusive).expect("flock");
    is(t.check("lock"), F, "another minikube-none-bootstrap run (pid 4242) holds");
    // The file names the holder's pid: a run sees its own lock as its own.
    t.write("run/minikube-none-bootstrap.lock", &std::process::id().to_string());
    is(t.check("lock"), P, "this run holds the lock");
    drop(held);
    is(t.check("lock"), P, "stale lock file");
}

#[test]
fn a_held_dpkg_frontend_lock_warns_with_the_holder() {
    let t = Tree::healthy();
    let lock = t.path("var/lib/dpkg/lock-frontend");
    let script = "import fcntl,sys,time\nf=open(sys.argv[1],'w')\nfcntl.lockf(f,fcntl.LOCK_EX)\n\
                  print('locked',flush=True)\ntime.sleep(30)\n";
    let mut child = std::process::Command::new("python3")
        .args(["-c", script, lock.to_str().expect("utf-8 path")])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    let out = child.stdout.take().expect("stdout");
    std::io::BufReader::new(out).read_line(&mut line).expect("read");
    assert_eq!(line.trim(), "locked");
    let c = t.check("package-lock");
    let _ = child.kill(); // the sleep bounds it anyway
    let _ = child.wait();
    let held = format!("/var/lib/dpkg/lock-frontend is held by pid {}", child.id());
    let c = is(c, W, &held);
    assert!(c.message.contains("apply will wait, bounded"), "{}", c.message);
    is(t.check("package-lock"), P, "no package manager lock is held");
}

#[test]
fn containers_and_bare_metal_warn() {
    let t = Tree::healthy();
    t.write("run/systemd/container", "docker\n");
    is(t.check("virtualization"), W, "running in a docker container");
    let cpuinfo = t.read("proc/cpuinfo").replace(" hypervisor", "");
    t.rm("run/systemd/container")
        .write("sys/class/dmi/id/sys_vendor", "Dell Inc.\n")
        .write("sys/class/dmi/id/product_name", "PowerEdge R650\n")
        .write("sys/class/dmi/id/bios_vendor", "Dell Inc.\n")
        .write("proc/cpuinfo", &cpuinfo);
    let c = is(t.check("virtualization"), W, "bare metal");
    assert!(c.message.contains("overwrites system paths"), "{}", c.message);
}

#[test]
fn no_systemd_cgroups_or_br_netfilter_fail() {
    let t = Tree::healthy();
    let dep = format!("lib/modules/{KERNEL}/modules.dep");
    t.write("proc/1/comm", "bash\n")
        .rm("sys/fs/cgroup/cgroup.controllers")
        .write(&dep, "kernel/fs/overlayfs/overlay.ko.xz:\n");
    let checks = t.run();
    let pid1 = "PID 1 is bash: the none driver needs systemd as PID 1";
    is(get(&checks, "systemd").clone(), F, pid1);
    is(get(&checks, "cgroups").clone(), F, "no cgroup hierarchy");
    let modules = get(&checks, "kernel-modules").clone();
    is(modules, F, "br_netfilter not available for kernel 6.12.48");
    std::fs::create_dir_all(t.path("sys/fs/cgroup/memory")).expect("mkdir");
    is(t.check("cgroups"), W, "cgroup v1: supported but deprecated");
}

#[test]
fn runtimes_map_to_distribution_packages() {
    let t = Tree::healthy();
    let (crio, docker) = (runtime(Runtime::CriO), runtime(Runtime::Docker));
    let id = "container-runtime";
    t.write("etc/os-release", &os_release("debian-12"));
    let c = is(t.check_with(&crio, id), F, "does not package cri-o");
    assert!(c.remedy.as_deref().is_some_and(|r| r.contains("containerd")));
    is(t.check_with(&docker, id), P, "(package docker.io)");
    t.write("etc/os-release", &os_release("fedora-44"));
    is(t.check_with(&docker, id), P, "(package moby-engine)");
    is(t.check_with(&crio, id), P, "(package cri-o)");
    // apt-cache on the host settles what the table cannot.
    let policy = "printf 'cri-o:\\n  Installed: (none)\\n  Candidate: 1.34.1-1\\n'";
    t.write("etc/os-release", &os_release("debian-13")).exec("usr/bin/apt-cache", policy);
    is(t.check_with(&crio, id), P, "cri-o 1.34.1-1 is available");
}

#[test]
fn firewalld_running_warns_and_no_package_manager_fails() {
    let t = Tree::healthy();
    t.write("proc/812/comm", "firewalld\n").rm("usr/bin/apt-get");
    let checks = t.run();
    let firewall = get(&checks, "host-firewall").clone();
    is(firewall, W, "firewalld (pid 812) active: it may block 8443");
    is(get(&checks, "package-manager").clone(), F, "no apt-get found");
}
