//! What the manifest tracks.

/// Every path a run (or minikube under it) may create or overwrite. A trailing `/**` means the
/// whole tree. Fedora installs some binaries under /usr/bin, hence both locations. Beyond the
/// design list: /var/tmp/minikube (kubeadm.yaml), /tmp/gvisor, /etc/cni/net.mk and the CA's
/// subject-hash link (`CN=minikubeCA` hashes to b5213941), which minikube writes too, and
/// /root/.kube itself, so that a kubeconfig directory the run created goes with it.
pub const TRACKED: &[&str] = &[
    "/usr/local/bin/kubeadm",
    "/usr/local/bin/kubectl",
    "/usr/local/bin/kubelet",
    "/usr/local/bin/minikube",
    "/usr/local/bin/crictl",
    "/usr/local/bin/cri-dockerd",
    "/usr/bin/minikube",
    "/usr/bin/crictl",
    "/usr/bin/cri-dockerd",
    "/etc/kubernetes/**",
    "/var/lib/minikube/**",
    "/var/lib/kubelet/**",
    "/var/tmp/minikube/**",
    "/tmp/gvisor",
    "/etc/systemd/system/kubelet.service",
    "/etc/systemd/system/kubelet.service.d/**",
    "/lib/systemd/system/kubelet.service",
    "/usr/lib/systemd/system/kubelet.service",
    "/etc/systemd/system/cri-docker.service",
    "/etc/systemd/system/cri-docker.socket",
    "/etc/systemd/system/cri-docker.service.d/**",
    "/etc/docker/daemon.json",
    "/etc/containerd/config.toml",
    "/etc/crictl.yaml",
    "/etc/cni/net.d/**",
    "/etc/cni/net.mk",
    "/opt/cni/bin/**",
    "/etc/hosts",
    "/usr/share/ca-certificates/minikubeCA.pem",
    "/etc/ssl/certs/minikubeCA.pem",
    "/etc/ssl/certs/b5213941.0",
    "/etc/modules-load.d/minikube-none-bootstrap.conf",
    "/etc/sysctl.d/99-zz-minikube-none-bootstrap.conf",
    "/root/.kube",
    "/root/.kube/config",
    "/root/.minikube/**",
    "/etc/systemd/system/multi-user.target.wants/kubelet.service",
    "/etc/systemd/system/multi-user.target.wants/containerd.service",
    "/etc/systemd/system/multi-user.target.wants/docker.service",
    "/etc/systemd/system/multi-user.target.wants/cri-docker.service",
    "/etc/systemd/system/multi-user.target.wants/crio.service",
    "/etc/systemd/system/sockets.target.wants/cri-docker.socket",
];

/// [`TRACKED`] plus the kubeconfig of the user the cluster is handed to (`home` absolute),
/// and that user's `.minikube` (where minikube puts its home when it runs for the user).
pub fn tracked_for_user(home: &str) -> Vec<String> {
    let home = home.trim_end_matches('/');
    let mut v: Vec<String> = TRACKED.iter().map(|s| s.to_string()).collect();
    let own = [format!("{home}/.kube"), format!("{home}/.kube/config"), format!("{home}/.minikube/**")];
    for p in own {
        if !v.contains(&p) {
            v.push(p);
        }
    }
    v
}

/// The root of a tree pattern (`/etc/kubernetes/**` → `/etc/kubernetes`), `None` for a path.
pub fn tree_root(pattern: &str) -> Option<&str> {
    pattern.strip_suffix("/**")
}
