"""Tests of the minikube double (tests/double/minikube), run on the host.

Every test works in its own MINIKUBE_DOUBLE_ROOT temp tree with a PATH made only of
stub tools (conntrack, crictl, iptables, sudo, the runtime binaries) plus python3 and
openssl, so nothing outside the temp tree is touched and systemctl is only recorded.
Servers bind to 127.0.0.1 only; every wait is bounded.

Run:  python3 -m unittest discover -s tests/double -v     (or: python3 -m pytest tests/double)
"""

import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
DOUBLE = os.path.join(HERE, "minikube")
PYTHON = os.path.realpath(sys.executable)
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"

STEP_NAMES = [
    "Initial Minikube Setup", "Selecting Driver", "Downloading Artifacts", "Starting Node",
    "Updating Driver", "Pulling Base Image", "Running on Localhost", "Local OS Release",
    "Creating Container", "Creating VM", "Running Remotely", "Preparing Kubernetes",
    "Generating certificates", "Booting control plane", "Configuring RBAC rules",
    "Configuring CNI", "Configuring Localhost Environment", "Verifying Kubernetes",
    "Enabling Addons", "Done",
]
EVENT_TYPES = {"io.k8s.sigs.minikube." + t for t in
               ("step", "info", "warning", "error", "download", "download.progress")}

STUB_OK = "#!/bin/sh\nexit 0\n"
STUB_SUDO = """#!/bin/sh
# stub sudo: -n accepted; 'echo' probes succeed unless SUDO_STUB_FAIL is set
[ "$1" = "-n" ] && shift
[ -n "$SUDO_STUB_FAIL" ] && { echo "sudo: a password is required" >&2; exit 1; }
[ "$1" = "echo" ] && exit 0
exec "$@"
"""
STUB_CONTAINERD = '#!/bin/sh\necho "containerd github.com/containerd/containerd v1.7.24 61f9fd8"\n'
STUB_DOCKER = '#!/bin/sh\necho "28.3.3"\n'
STUB_CRIO = '#!/bin/sh\necho "crio version 1.33.1"\n'


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def parse_events(stdout):
    events = []
    for line in stdout.splitlines():
        if line.strip():
            events.append((line, json.loads(line)))
    return events


class DoubleCase(unittest.TestCase):
    """A temp root, a stub PATH and helpers to run the double."""

    runtime = "containerd"

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mk-double-test-")
        self.root = os.path.join(self.tmp, "root")
        self.bin = os.path.join(self.tmp, "bin")
        os.makedirs(self.root)
        os.makedirs(self.bin)
        self.procs = []
        for name in ("conntrack", "crictl", "iptables", "cri-dockerd", "dockerd"):
            self.stub(name, STUB_OK)
        self.stub("sudo", STUB_SUDO)
        self.stub("containerd", STUB_CONTAINERD)
        self.stub("docker", STUB_DOCKER)
        self.stub("crio", STUB_CRIO)
        os.symlink(PYTHON, os.path.join(self.bin, "python3"))
        os.symlink(OPENSSL, os.path.join(self.bin, "openssl"))
        for d in ("opt/cni/bin", "run/containerd", "var/run/crio", "etc/containerd"):
            os.makedirs(self.path(d), exist_ok=True)
        for sock in ("run/containerd/containerd.sock", "var/run/cri-dockerd.sock", "var/run/crio/crio.sock"):
            open(self.path(sock), "w").close()
        with open(self.path("etc/containerd/config.toml"), "w") as f:
            f.write('version = 2\n[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "registry.k8s.io/pause:3.8"\n'
                    '  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]\n    SystemdCgroup = false\n')
        with open(self.path("etc/hosts"), "w") as f:
            f.write("127.0.0.1\tlocalhost\n")
        self.env = {
            "PATH": self.bin, "HOME": "/root", "MINIKUBE_DOUBLE_ROOT": self.root,
            "MINIKUBE_DOUBLE_TIME_SCALE": "0", "MINIKUBE_DOUBLE_NODE_IP": "127.0.0.1",
            "LANG": "C.UTF-8",
        }

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=10)
            if p.stderr:
                p.stderr.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # helpers ---------------------------------------------------------------
    def path(self, rel):
        return os.path.join(self.root, rel.lstrip("/"))

    def stub(self, name, body):
        p = os.path.join(self.bin, name)
        with open(p, "w") as f:
            f.write(body)
        os.chmod(p, 0o755)

    def unstub(self, name):
        os.unlink(os.path.join(self.bin, name))

    def run_double(self, *args, env=None, timeout=180):
        e = dict(self.env)
        e.update(env or {})
        return subprocess.run([PYTHON, DOUBLE] + list(args), env=e, capture_output=True, text=True, timeout=timeout)

    def start(self, *extra, env=None, runtime=None):
        args = ["start", "--driver=none", "--container-runtime=%s" % (runtime or self.runtime),
                "--kubernetes-version=v1.34.0", "--interactive=false", "--output=json"] + list(extra)
        r = self.run_double(*args, env=env)
        events = parse_events(r.stdout)
        for raw, ev in events:
            self.assert_cloudevent(raw, ev)
        return r, [ev for _, ev in events]

    def assert_cloudevent(self, raw, ev):
        self.assertTrue(raw.startswith('{"specversion":"1.0","id":"'), raw)
        self.assertEqual(list(ev), ["specversion", "id", "source", "type", "datacontenttype", "data"])
        self.assertEqual(ev["specversion"], "1.0")
        uuid.UUID(ev["id"])
        self.assertEqual(ev["source"], "https://minikube.sigs.k8s.io/")
        self.assertIn(ev["type"], EVENT_TYPES)
        self.assertEqual(ev["datacontenttype"], "application/json")
        data = ev["data"]
        self.assertIsInstance(data, dict)
        for k, v in data.items():
            self.assertIsInstance(v, str, (k, v))
        self.assertEqual(list(data), sorted(data), "Go marshals map keys sorted")
        t = ev["type"].rsplit(".", 1)[-1]
        if ev["type"].endswith(".step"):
            self.assertEqual(set(data), {"currentstep", "message", "name", "totalsteps"})
            self.assertEqual(data["totalsteps"], "19")
            self.assertEqual(STEP_NAMES[int(data["currentstep"])], data["name"])
        elif t in ("info", "warning"):
            self.assertEqual(set(data), {"message"})
        elif t == "error":
            self.assertIn(set(data), ({"message"}, {"advice", "exitcode", "issues", "message", "name", "url"}))

    def assert_refused(self, r, events, reason, code, message_re=None):
        self.assertEqual(r.returncode, code, r.stdout + r.stderr)
        last = events[-1]
        self.assertEqual(last["type"], "io.k8s.sigs.minikube.error", last)
        self.assertEqual(last["data"]["name"], reason)
        self.assertEqual(last["data"]["exitcode"], str(code))
        if message_re:
            self.assertRegex(last["data"]["message"], message_re)
        return last

    def steps(self, events):
        return [e["data"]["name"] for e in events if e["type"].endswith(".step")]

    def systemctl_log(self):
        try:
            with open(self.path("systemctl.log")) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def set_unit(self, unit, state):
        p = self.path("systemctl.state.json")
        st = {}
        if os.path.exists(p):
            with open(p) as f:
                st = json.load(f)
        st[unit] = state
        with open(p, "w") as f:
            json.dump(st, f)

    def fake_proc(self, cpus=None, mem_kb=None):
        os.makedirs(self.path("proc"), exist_ok=True)
        if cpus is not None:
            with open(self.path("proc/cpuinfo"), "w") as f:
                f.write("".join("processor\t: %d\nmodel name\t: fake\n\n" % i for i in range(cpus)))
        if mem_kb is not None:
            with open(self.path("proc/meminfo"), "w") as f:
                f.write("MemTotal:       %d kB\nMemFree:        1000 kB\n" % mem_kb)

    def status_json(self, *extra, env=None):
        r = self.run_double("status", "-o", "json", *extra, env=env)
        return r.returncode, (json.loads(r.stdout) if r.stdout.startswith("{\"Name\"") else r.stdout)

    def start_standin(self, port, ready_after="0.5"):
        """The kubelet stand-in written by `start`, serving the apiserver on 127.0.0.1:port."""
        kubelet = self.path("var/lib/minikube/binaries/v1.34.0/kubelet")
        e = dict(self.env, MINIKUBE_DOUBLE_NODE_READY_AFTER=ready_after)
        p = subprocess.Popen([PYTHON, kubelet, "--config=/var/lib/kubelet/config.yaml", "--hostname-override=TestNode",
                              "--node-ip=127.0.0.1", "--double-bind=127.0.0.1", "--double-port=%d" % port,
                              "--double-exit-after=120"],
                             env=e, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.procs.append(p)
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return p
            except OSError:
                if p.poll() is not None:
                    self.fail("stand-in exited: %s" % p.stderr.read().decode())
                time.sleep(0.1)
        self.fail("stand-in did not listen on %d" % port)

    def tls(self, with_client_cert=True):
        mk = self.path("root/.minikube")
        ctx = ssl.create_default_context(cafile=os.path.join(mk, "ca.crt"))
        if with_client_cert:
            ctx.load_cert_chain(os.path.join(mk, "profiles/minikube/client.crt"),
                                os.path.join(mk, "profiles/minikube/client.key"))
        return ctx

    def get(self, port, path, ctx):
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ctx))
        with opener.open("https://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
            return r.status, r.read()


class VersionTest(DoubleCase):
    def test_version_outputs(self):
        r = self.run_double("version", "--short")
        self.assertEqual((r.returncode, r.stdout), (0, "v1.37.0\n"))
        r = self.run_double("version", "-o", "json")
        self.assertEqual(r.returncode, 0)
        self.assertEqual(list(json.loads(r.stdout)), ["commit", "minikubeVersion"])
        r = self.run_double("version")
        self.assertRegex(r.stdout, r"^minikube version: v1\.37\.0\ncommit: [0-9a-f]{40}\n$")
        r = self.run_double("version", "-o", "xml")
        self.assertEqual(r.returncode, 10)
        r = self.run_double("version", "--short", env={"MINIKUBE_DOUBLE_VERSION": "v1.36.0"})
        self.assertEqual(r.stdout, "v1.36.0\n")

    def test_usage_errors(self):
        r = self.run_double("start", "--bogus-flag")
        self.assertEqual(r.returncode, 14)
        self.assertIn("unknown flag: --bogus-flag", r.stderr)
        r = self.run_double("frobnicate")
        self.assertEqual(r.returncode, 14)


class RefusalTest(DoubleCase):
    def test_iptables_missing(self):
        self.unstub("iptables")
        r, ev = self.start()
        last = self.assert_refused(r, ev, "PROVIDER_NONE_NOT_FOUND", 65, r'"iptables": executable file not found')
        self.assertEqual(last["data"]["advice"], "iptables must be installed")
        self.assertEqual(self.steps(ev), ["Initial Minikube Setup", "Selecting Driver"])

    def test_non_root_needs_passwordless_sudo(self):
        r, ev = self.start(env={"MINIKUBE_DOUBLE_UID": "1000", "SUDO_STUB_FAIL": "1"})
        self.assert_refused(r, ev, "PROVIDER_NONE_NOT_FOUND", 65, "requires sudo permissions")

    def test_non_root_with_sudo_is_not_refused(self):
        r, ev = self.start(env={"MINIKUBE_DOUBLE_UID": "1000"})
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.steps(ev)[-1], "Done")

    def test_sudo_password_with_interactive_false(self):
        # as root the driver status skips sudo, validateUser does not
        r, ev = self.start(env={"SUDO_STUB_FAIL": "1"})
        self.assert_refused(r, ev, "DRV_NEEDS_ROOT", 57, r"^sudo requires a password, and --interactive=false$")

    def test_no_sudo_binary_with_interactive_false(self):
        self.unstub("sudo")
        r, ev = self.start()
        self.assert_refused(r, ev, "DRV_NEEDS_ROOT", 57)

    def test_no_sudo_binary_interactive(self):
        self.unstub("sudo")
        r = self.run_double("start", "--driver=none", "--container-runtime=containerd", "-o", "json")
        ev = [e for _, e in parse_events(r.stdout)]
        self.assert_refused(r, ev, "GUEST_PROVISION", 80, r'"sudo": executable file not found')

    def test_conntrack_missing(self):
        self.unstub("conntrack")
        r, ev = self.start()
        self.assert_refused(r, ev, "GUEST_MISSING_CONNTRACK", 86,
                            r"^Sorry, Kubernetes 1\.34\.0 requires conntrack to be installed in root's path$")

    def test_crictl_missing_uses_conntrack_reason(self):
        self.unstub("crictl")
        r, ev = self.start()
        self.assert_refused(r, ev, "GUEST_MISSING_CONNTRACK", 86,
                            r"^Sorry, Kubernetes 1\.34\.0 requires crictl to be installed in root's path$")

    def test_crictl_not_needed_before_1_24(self):
        self.unstub("crictl")
        r = self.run_double("start", "--driver=none", "--container-runtime=docker", "--kubernetes-version=v1.23.17",
                            "-o", "json")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_runtime_binary_missing(self):
        self.unstub("containerd")
        r, ev = self.start()
        self.assert_refused(r, ev, "GUEST_PROVISION", 80, "containerd")
        retry = [e for e in ev if e["type"].endswith(".error") and "will try again" in e["data"]["message"]]
        self.assertEqual(len(retry), 1)
        self.assertIn("Running on Localhost", self.steps(ev))

    def test_cri_dockerd_missing(self):
        self.unstub("cri-dockerd")
        r, ev = self.start(runtime="docker")
        last = self.assert_refused(r, ev, "NOT_FOUND_CRI_DOCKERD", 15, r"^$")
        self.assertIn("requires cri-dockerd", last["data"]["advice"])
        self.assertEqual(self.steps(ev)[-1], "Running on Localhost")
        # SaveProfile happens before the host is created: the profile exists already
        self.assertTrue(os.path.exists(self.path("root/.minikube/profiles/minikube/config.json")))

    def test_dockerd_missing(self):
        self.unstub("dockerd")
        r, ev = self.start(runtime="docker")
        self.assert_refused(r, ev, "NOT_FOUND_DOCKERD", 15)

    def test_cni_plugins_dir_missing(self):
        shutil.rmtree(self.path("opt/cni"))
        r, ev = self.start()
        last = self.assert_refused(r, ev, "NOT_FOUND_CNI_PLUGINS", 15)
        self.assertIn("containernetworking-plugins", last["data"]["advice"])

    def test_cni_plugins_dir_empty_passes_like_upstream(self):
        self.assertEqual(os.listdir(self.path("opt/cni/bin")), [])
        r, ev = self.start()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_containerd_socket_missing(self):
        os.unlink(self.path("run/containerd/containerd.sock"))
        r, ev = self.start()
        self.assert_refused(r, ev, "RUNTIME_ENABLE", 90, "containerd.sock")

    def test_containerd_config_missing(self):
        os.unlink(self.path("etc/containerd/config.toml"))
        r, ev = self.start()
        self.assert_refused(r, ev, "RUNTIME_ENABLE", 90, "config.toml")

    def test_crictl_version_failing(self):
        self.stub("crictl", "#!/bin/sh\n[ \"$1\" = version ] && exit 1\nexit 0\n")
        r, ev = self.start()
        self.assert_refused(r, ev, "RUNTIME_ENABLE", 90, "crictl version")

    def test_one_cpu(self):
        self.fake_proc(cpus=1)
        r, ev = self.start()
        self.assert_refused(r, ev, "RSRC_INSUFFICIENT_CORES", 29, "less than 2 CPUs available")

    def test_one_cpu_forced_is_an_error_event_but_goes_on(self):
        self.fake_proc(cpus=1)
        r, ev = self.start("--force")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        errs = [e for e in ev if e["type"].endswith(".error") and e["data"].get("name") == "RSRC_INSUFFICIENT_CORES"]
        self.assertEqual(len(errs), 1)
        self.assertEqual(errs[0]["data"]["exitcode"], "29")
        self.assertEqual(self.steps(ev)[-1], "Done")

    def test_low_memory(self):
        self.fake_proc(cpus=2, mem_kb=1024 * 1024)
        r, ev = self.start()
        self.assert_refused(r, ev, "RSRC_INSUFFICIENT_SYS_MEMORY", 23, r"System only has 1024MiB available, less than the required 1800MiB")

    def test_memory_just_enough_warns(self):
        self.fake_proc(cpus=2, mem_kb=1900 * 1024)
        r, ev = self.start()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(any(e["type"].endswith(".warning") and "system overhead" in e["data"]["message"] for e in ev))

    def test_kubernetes_too_old(self):
        r = self.run_double("start", "--driver=none", "--kubernetes-version=v1.19.16", "-o", "json")
        ev = [e for _, e in parse_events(r.stdout)]
        self.assert_refused(r, ev, "K8S_OLD_UNSUPPORTED", 106)

    def test_unparsable_version_and_bad_runtime(self):
        r = self.run_double("start", "--driver=none", "--kubernetes-version=banana", "-o", "json")
        self.assert_refused(r, [e for _, e in parse_events(r.stdout)], "MK_USAGE", 14)
        r = self.run_double("start", "--driver=none", "--container-runtime=rkt", "-o", "json")
        self.assert_refused(r, [e for _, e in parse_events(r.stdout)], "MK_USAGE", 14, "Invalid Container Runtime: rkt")
        r = self.run_double("start", "--driver=none", "--extra-config=frob.x=1", "-o", "json")
        self.assert_refused(r, [e for _, e in parse_events(r.stdout)], "MK_USAGE", 14, "Valid components are")

    def test_other_profile(self):
        r, ev = self.start("-p", "other")
        self.assert_refused(r, ev, "DRV_UNSUPPORTED_PROFILE", 56)

    def test_no_driver_given(self):
        r = self.run_double("start", "-o", "json")
        self.assert_refused(r, [e for _, e in parse_events(r.stdout)], "DRV_NOT_DETECTED", 55)

    def test_text_mode_refusal(self):
        self.unstub("conntrack")
        r = self.run_double("start", "--driver=none")
        self.assertEqual(r.returncode, 86)
        self.assertIn("X Exiting due to GUEST_MISSING_CONNTRACK: Sorry, Kubernetes 1.34.0 requires conntrack", r.stderr)
        self.assertIn("* minikube v1.37.0 on ", r.stdout)

    def test_injected_failures(self):
        for reason, code in (("RUNTIME_ENABLE", 90), ("K8S_KUBELET_NOT_RUNNING", 109), ("GUEST_START", 80),
                             ("NOT_FOUND_CNI_PLUGINS", 15), ("GUEST_MISSING_CONNTRACK", 86), ("GUEST_CERT", 80),
                             ("K8S_INSTALL_FAILED", 100)):
            with self.subTest(reason=reason):
                r, ev = self.start(env={"MINIKUBE_DOUBLE_FAIL": reason})
                self.assert_refused(r, ev, reason, code)
        r, ev = self.start(env={"MINIKUBE_DOUBLE_FAIL": "NO_SUCH_REASON"})
        self.assertEqual(r.returncode, 1)
        self.assertIn("not an injectable reason", r.stderr)


class StartTest(DoubleCase):
    EXPECTED_STEPS = ["Initial Minikube Setup", "Selecting Driver", "Starting Node", "Running on Localhost",
                      "Local OS Release", "Preparing Kubernetes", "Generating certificates", "Booting control plane",
                      "Configuring RBAC rules", "Configuring CNI", "Configuring Localhost Environment",
                      "Verifying Kubernetes", "Enabling Addons", "Done"]

    WRITTEN = [
        "var/lib/minikube/binaries/v1.34.0/kubelet", "var/lib/minikube/binaries/v1.34.0/kubeadm",
        "var/lib/minikube/binaries/v1.34.0/kubectl", "etc/kubernetes/admin.conf", "etc/kubernetes/kubelet.conf",
        "etc/kubernetes/controller-manager.conf", "etc/kubernetes/scheduler.conf", "etc/kubernetes/super-admin.conf",
        "etc/kubernetes/manifests/kube-apiserver.yaml", "etc/kubernetes/manifests/etcd.yaml",
        "etc/kubernetes/manifests/kube-controller-manager.yaml", "etc/kubernetes/manifests/kube-scheduler.yaml",
        "etc/kubernetes/addons/storage-provisioner.yaml", "etc/kubernetes/addons/storageclass.yaml",
        "lib/systemd/system/kubelet.service", "etc/systemd/system/kubelet.service.d/10-kubeadm.conf",
        "var/lib/minikube/certs/ca.crt", "var/lib/minikube/certs/ca.key", "var/lib/minikube/certs/apiserver.crt",
        "var/lib/minikube/certs/apiserver.key", "var/lib/minikube/certs/sa.key", "var/lib/minikube/certs/sa.pub",
        "var/lib/minikube/certs/front-proxy-ca.crt", "var/lib/minikube/certs/etcd/ca.crt",
        "var/lib/minikube/kubeconfig", "usr/share/ca-certificates/minikubeCA.pem", "etc/ssl/certs/minikubeCA.pem",
        "etc/crictl.yaml", "etc/cni/net.d/1-k8s.conflist", "var/lib/kubelet/config.yaml",
        "var/tmp/minikube/kubeadm.yaml", "root/.minikube/profiles/minikube/config.json",
        "root/.minikube/profiles/minikube/client.crt", "root/.minikube/ca.crt",
        "root/.minikube/machines/minikube/config.json", "root/.kube/config",
        "root/.minikube/cache/linux/amd64/v1.34.0/kubelet",
    ]

    def test_containerd_start_writes_files_and_events(self):
        r, ev = self.start()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.steps(ev), self.EXPECTED_STEPS)
        cur = [int(e["data"]["currentstep"]) for e in ev if e["type"].endswith(".step")]
        self.assertEqual(cur, sorted(cur))
        self.assertEqual(ev[-1]["data"]["message"],
                         'Done! kubectl is now configured to use "minikube" cluster and "default" namespace by default\n')
        self.assertIn("OS release is ", [e for e in ev if e["type"].endswith(".step")][4]["data"]["message"])
        missing = [p for p in self.WRITTEN if not os.path.lexists(self.path(p))]
        self.assertEqual(missing, [])
        # kubelet: daemon-reload + start, never enabled
        log = self.systemctl_log()
        self.assertIn("systemctl daemon-reload", log)
        self.assertIn("systemctl start kubelet", log)
        self.assertIn("systemctl restart containerd", log)
        self.assertFalse([l for l in log if l.startswith("systemctl enable") and "kubelet" in l], log)
        # CA link and hosts entries
        self.assertEqual(os.readlink(self.path("etc/ssl/certs/minikubeCA.pem")), "/usr/share/ca-certificates/minikubeCA.pem")
        with open(self.path("etc/hosts")) as f:
            hosts = f.read()
        self.assertIn("127.0.0.1\tlocalhost\n", hosts)
        self.assertIn("127.0.0.1\thost.minikube.internal\n", hosts)
        self.assertIn("127.0.0.1\tcontrol-plane.minikube.internal\n", hosts)
        with open(self.path("etc/crictl.yaml")) as f:
            self.assertEqual(f.read(), "runtime-endpoint: unix:///run/containerd/containerd.sock\n")
        with open(self.path("etc/containerd/config.toml")) as f:
            toml = f.read()
        self.assertIn('sandbox_image = "registry.k8s.io/pause:3.10.1"', toml)
        self.assertIn("enable_unprivileged_ports = true", toml)
        with open(self.path("etc/systemd/system/kubelet.service.d/10-kubeadm.conf")) as f:
            dropin = f.read()
        self.assertIn("ExecStart=/var/lib/minikube/binaries/v1.34.0/kubelet ", dropin)
        self.assertIn("--node-ip=127.0.0.1", dropin)
        # kubeconfig
        with open(self.path("root/.kube/config")) as f:
            kc = f.read()
        self.assertIn("current-context: minikube\n", kc)
        self.assertIn("server: https://127.0.0.1:8443\n", kc)
        self.assertIn("certificate-authority: /root/.minikube/ca.crt\n", kc)
        self.assertIn("client-certificate: /root/.minikube/profiles/minikube/client.crt\n", kc)
        self.assertEqual(os.stat(self.path("root/.kube/config")).st_mode & 0o777, 0o600)
        # profile config
        with open(self.path("root/.minikube/profiles/minikube/config.json")) as f:
            cfg = json.load(f)
        self.assertEqual(cfg["Driver"], "none")
        self.assertEqual(cfg["KubernetesConfig"]["KubernetesVersion"], "v1.34.0")
        self.assertEqual(cfg["KubernetesConfig"]["ContainerRuntime"], "containerd")
        self.assertEqual(cfg["Nodes"][0]["IP"], "127.0.0.1")
        self.assertEqual(cfg["Addons"], {"default-storageclass": True, "storage-provisioner": True})
        # certificates: apiserver signed by the CA, with the node IP in its SANs
        ca = self.path("var/lib/minikube/certs/ca.crt")
        crt = self.path("var/lib/minikube/certs/apiserver.crt")
        v = subprocess.run([OPENSSL, "verify", "-CAfile", ca, crt], capture_output=True, text=True)
        self.assertEqual(v.returncode, 0, v.stderr)
        txt = subprocess.run([OPENSSL, "x509", "-noout", "-text", "-in", crt], capture_output=True, text=True).stdout
        self.assertIn("IP Address:127.0.0.1", txt)
        self.assertIn("DNS:control-plane.minikube.internal", txt)
        # stand-in binaries answer --version
        kubelet = self.path("var/lib/minikube/binaries/v1.34.0/kubelet")
        out = subprocess.run([PYTHON, kubelet, "--version"], capture_output=True, text=True).stdout
        self.assertEqual(out, "Kubernetes v1.34.0\n")
        kubeadm = self.path("var/lib/minikube/binaries/v1.34.0/kubeadm")
        out = subprocess.run(["/bin/sh", kubeadm, "version", "-o", "short"], capture_output=True, text=True).stdout
        self.assertEqual(out, "v1.34.0\n")
        # the event log minikube keeps for `status --layout cluster`
        self.assertTrue(os.path.getsize(self.path("root/.minikube/profiles/minikube/events.json")) > 0)

    def test_docker_runtime_files(self):
        r, ev = self.start(runtime="docker")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with open(self.path("etc/crictl.yaml")) as f:
            self.assertEqual(f.read(), "runtime-endpoint: unix:///var/run/cri-dockerd.sock\n")
        self.assertTrue(os.path.exists(self.path("etc/systemd/system/cri-docker.service.d/10-cni.conf")))
        with open(self.path("etc/docker/daemon.json")) as f:
            self.assertIn("native.cgroupdriver=", f.read())
        self.assertIn("systemctl restart cri-docker.socket", self.systemctl_log())
        self.assertIn("Preparing Kubernetes v1.34.0 on Docker 28.3.3 ...\n", [e["data"].get("message") for e in ev])
        # no "untested configuration" warning for docker, which is the default runtime
        self.assertFalse(any("untested" in e["data"].get("message", "") for e in ev))

    def test_flags_reach_files(self):
        r, ev = self.start("--apiserver-ips=10.9.8.7", "--apiserver-names=k8s.example.test",
                           "--extra-config=kubelet.max-pods=50", "--extra-config=apiserver.bind-address=127.0.0.1",
                           "--wait=all", "--force")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(any(e["type"].endswith(".warning") and "--force" in e["data"]["message"] for e in ev))
        self.assertIn("kubelet.max-pods=50\n", [e["data"]["message"] for e in ev if e["type"].endswith(".info")])
        crt = self.path("var/lib/minikube/certs/apiserver.crt")
        txt = subprocess.run([OPENSSL, "x509", "-noout", "-text", "-in", crt], capture_output=True, text=True).stdout
        self.assertIn("IP Address:10.9.8.7", txt)
        self.assertIn("DNS:k8s.example.test", txt)
        with open(self.path("etc/systemd/system/kubelet.service.d/10-kubeadm.conf")) as f:
            self.assertIn("--max-pods=50", f.read())
        with open(self.path("etc/kubernetes/manifests/kube-apiserver.yaml")) as f:
            self.assertIn("--bind-address=127.0.0.1", f.read())
        with open(self.path("root/.minikube/profiles/minikube/config.json")) as f:
            cfg = json.load(f)
        self.assertEqual(cfg["KubernetesConfig"]["APIServerIPs"], ["10.9.8.7"])
        self.assertEqual(set(cfg["VerifyComponents"]), {"apiserver", "system_pods", "default_sa", "apps_running",
                                                         "node_ready", "kubelet", "extra"})

    def test_kubeconfig_env_and_merge(self):
        kc = "/work/kube/cfg"
        os.makedirs(self.path("work/kube"))
        with open(self.path(kc), "w") as f:
            f.write("apiVersion: v1\nclusters:\n- cluster:\n    server: https://other:6443\n  name: other\n"
                    "contexts:\n- context:\n    cluster: other\n    user: other\n  name: other\n"
                    "current-context: other\nkind: Config\npreferences: {}\nusers:\n- name: other\n  user:\n"
                    "    token: abc\n")
        r, ev = self.start(env={"KUBECONFIG": kc + ":/ignored/second"})
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("KUBECONFIG=%s:/ignored/second\n" % kc, [e["data"]["message"] for e in ev if e["type"].endswith(".info")])
        with open(self.path(kc)) as f:
            txt = f.read()
        self.assertIn("server: https://other:6443", txt)
        self.assertIn("token: abc", txt)
        self.assertIn("current-context: minikube", txt)
        self.assertFalse(os.path.exists(self.path("root/.kube/config")))
        r = self.run_double("delete", env={"KUBECONFIG": kc})
        self.assertEqual(r.returncode, 0)
        with open(self.path(kc)) as f:
            txt = f.read()
        self.assertIn("name: other", txt)
        self.assertNotIn("minikube", txt)
        self.assertIn('current-context: ""', txt)

    def test_minikube_home(self):
        r, ev = self.start(env={"MINIKUBE_HOME": "/srv/mk"})
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(os.path.exists(self.path("srv/mk/.minikube/profiles/minikube/config.json")))
        self.assertIn("MINIKUBE_HOME=/srv/mk\n", [e["data"]["message"] for e in ev if e["type"].endswith(".info")])
        r, ev = self.start(env={"MINIKUBE_HOME": "/srv/mk2/.minikube"})
        self.assertTrue(os.path.exists(self.path("srv/mk2/.minikube/profiles/minikube/config.json")))

    def test_rerun_and_conflicts(self):
        r, ev = self.start()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with open(self.path("var/lib/minikube/certs/ca.crt")) as f:
            ca1 = f.read()
        r, ev = self.start()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        msgs = [e["data"]["message"] for e in ev if e["type"].endswith(".step")]
        self.assertIn("Using the none driver based on existing profile\n", msgs)
        self.assertIn('Updating the running none "minikube" bare metal machine ...\n', msgs)
        self.assertNotIn("Generating certificates", self.steps(ev))
        self.assertEqual(self.steps(ev)[-1], "Done")
        with open(self.path("var/lib/minikube/certs/ca.crt")) as f:
            self.assertEqual(f.read(), ca1)
        r = self.run_double("start", "--driver=none", "--kubernetes-version=v1.33.0", "-o", "json")
        self.assert_refused(r, [e for _, e in parse_events(r.stdout)], "K8S_DOWNGRADE_UNSUPPORTED", 106,
                            "Unable to safely downgrade existing Kubernetes v1.34.0 cluster to v1.33.0")
        r = self.run_double("start", "--driver=docker", "-o", "json")
        self.assert_refused(r, [e for _, e in parse_events(r.stdout)], "GUEST_DRIVER_MISMATCH", 81)

    def test_download_only_starts_nothing(self):
        self.unstub("iptables")  # driver status is not checked with --download-only
        r, ev = self.start("--download-only")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(ev[-1]["data"]["message"], "Download complete!\n")
        self.assertEqual(self.steps(ev), ["Initial Minikube Setup", "Selecting Driver", "Starting Node", "Starting Node"])
        cache = self.path("root/.minikube/cache/linux/amd64/v1.34.0")
        self.assertEqual(sorted(os.listdir(cache)), ["kubeadm", "kubectl", "kubelet"])
        out = subprocess.run([PYTHON, os.path.join(cache, "kubelet"), "--version"], capture_output=True, text=True).stdout
        self.assertIn("v1.34.0", out)
        self.assertEqual(self.systemctl_log(), [])
        self.assertFalse(os.path.exists(self.path("var/lib/minikube")))
        self.assertFalse(os.path.exists(self.path("etc/kubernetes")))
        self.assertFalse(os.path.exists(self.path("root/.kube/config")))
        # the checks that do run with --download-only (validateFlags) still refuse
        self.unstub("conntrack")
        r, ev = self.start("--download-only")
        self.assert_refused(r, ev, "GUEST_MISSING_CONNTRACK", 86)


class StatusTest(DoubleCase):
    def test_no_profile(self):
        r = self.run_double("status", "-o", "json")
        self.assertEqual(r.returncode, 85)
        ev = parse_events(r.stdout)
        for raw, e in ev:
            self.assert_cloudevent(raw, e)
        self.assertEqual([e["type"] for _, e in ev], ["io.k8s.sigs.minikube.info"] * 2)
        self.assertIn('Profile "minikube" not found.', ev[0][1]["data"]["message"])
        r = self.run_double("status")
        self.assertEqual(r.returncode, 85)
        self.assertIn('Profile "minikube" not found. Run "minikube profile list" to view all profiles.', r.stdout)

    def test_bitmask(self):
        port = free_port()
        r, _ = self.start("--apiserver-port=%d" % port)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # kubelet active (recorded), apiserver not answering -> 2
        rc, st = self.status_json()
        self.assertEqual((rc, st), (2, {"Name": "minikube", "Host": "Running", "Kubelet": "Running",
                                        "APIServer": "Stopped", "Kubeconfig": "Configured", "Worker": False}))
        # apiserver answering -> 0
        self.start_standin(port)
        rc, st = self.status_json()
        self.assertEqual(rc, 0, st)
        self.assertEqual(st["APIServer"], "Running")
        r = self.run_double("status", "--format={{.Host}}/{{.APIServer}}")
        self.assertEqual((r.returncode, r.stdout), (0, "Running/Running"))
        r = self.run_double("status")
        self.assertEqual(r.stdout, "minikube\ntype: Control Plane\nhost: Running\nkubelet: Running\n"
                                   "apiserver: Running\nkubeconfig: Configured\n\n")
        # stale kubeconfig -> 4
        with open(self.path("root/.kube/config")) as f:
            kc = f.read()
        with open(self.path("root/.kube/config"), "w") as f:
            f.write(kc.replace("https://127.0.0.1:%d" % port, "https://10.1.1.1:%d" % port))
        rc, st = self.status_json()
        self.assertEqual((rc, st["Kubeconfig"]), (4, "Misconfigured"))
        for p in self.procs:
            p.terminate()
            p.wait(timeout=10)
        # kubelet and apiserver both down -> host Stopped -> 7
        self.set_unit("kubelet", "inactive")
        rc, st = self.status_json()
        self.assertEqual(rc, 7)
        self.assertEqual({st[k] for k in ("Host", "Kubelet", "APIServer", "Kubeconfig")}, {"Stopped"})
        # machine gone -> Nonexistent -> 7
        shutil.rmtree(self.path("root/.minikube/machines/minikube"))
        rc, st = self.status_json()
        self.assertEqual((rc, st["Host"]), (7, "Nonexistent"))
        r = self.run_double("status", "-o", "json", "--format={{.Host}}")
        self.assertEqual(r.returncode, 14)


class DeleteTest(DoubleCase):
    REMOVED = ["etc/kubernetes/manifests", "etc/kubernetes/admin.conf", "etc/kubernetes/kubelet.conf",
               "etc/kubernetes/controller-manager.conf", "etc/kubernetes/scheduler.conf",
               "etc/kubernetes/super-admin.conf", "var/lib/minikube", "var/tmp/minikube",
               "root/.minikube/profiles/minikube", "root/.minikube/machines/minikube", "var/lib/kubelet/config.yaml"]
    LEFT = ["etc/kubernetes/addons/storage-provisioner.yaml", "lib/systemd/system/kubelet.service",
            "etc/systemd/system/kubelet.service.d/10-kubeadm.conf", "etc/crictl.yaml", "etc/cni/net.d/1-k8s.conflist",
            "usr/share/ca-certificates/minikubeCA.pem", "etc/ssl/certs/minikubeCA.pem", "var/lib/kubelet",
            "root/.minikube/ca.crt", "root/.minikube/cache/linux/amd64/v1.34.0/kubelet", "root/.kube/config"]

    def test_delete_removes_what_minikube_removes(self):
        r, _ = self.start()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = self.run_double("delete")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('Uninstalling Kubernetes v1.34.0 using kubeadm ...', r.stdout)
        self.assertIn('Deleting "minikube" in none ...', r.stdout)
        self.assertIn('Removed all traces of the "minikube" cluster.', r.stdout)
        self.assertEqual([p for p in self.REMOVED if os.path.lexists(self.path(p))], [])
        self.assertEqual([p for p in self.LEFT if not os.path.lexists(self.path(p))], [])
        with open(self.path("etc/hosts")) as f:
            self.assertIn("control-plane.minikube.internal", f.read())
        with open(self.path("root/.kube/config")) as f:
            self.assertNotIn("minikube", f.read())
        self.assertIn("systemctl stop kubelet", self.systemctl_log())
        rc, _ = self.status_json()
        self.assertEqual(rc, 85)

    def test_delete_absent_cluster_is_a_noop(self):
        r = self.run_double("delete")
        self.assertEqual(r.returncode, 0)
        self.assertIn('"minikube" profile does not exist, trying anyways.', r.stderr)
        self.assertIn('Removed all traces of the "minikube" cluster.', r.stdout)

    def test_delete_all_purge(self):
        r, _ = self.start()
        self.assertEqual(r.returncode, 0)
        r = self.run_double("delete", "--all", "--purge")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Successfully deleted all profiles", r.stdout)
        self.assertIn("Successfully purged minikube directory located at - [%s]" % self.path("root/.minikube"), r.stdout)
        self.assertFalse(os.path.exists(self.path("root/.minikube")))
        self.assertTrue(os.path.exists(self.path("etc/kubernetes/addons")))


class StandinAPIServerTest(DoubleCase):
    def test_tls_and_client_cert(self):
        r, _ = self.start()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        port = free_port()
        self.start_standin(port, ready_after="1")
        anon = self.tls(with_client_cert=False)
        self.assertEqual(self.get(port, "/readyz", anon), (200, b"ok"))
        self.assertEqual(self.get(port, "/livez", anon), (200, b"ok"))
        code, body = self.get(port, "/version", anon)
        self.assertEqual(json.loads(body)["gitVersion"], "v1.34.0")
        with self.assertRaises(urllib.error.HTTPError) as cm:
            self.get(port, "/api/v1/nodes", anon)
        self.assertEqual(cm.exception.code, 403)
        self.assertEqual(json.loads(cm.exception.read())["reason"], "Forbidden")
        ctx = self.tls()
        code, body = self.get(port, "/api/v1/nodes/testnode", ctx)
        node = json.loads(body)
        self.assertEqual(node["kind"], "Node")
        ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
        self.assertEqual(ready, "False")
        deadline = time.time() + 10
        while time.time() < deadline:
            node = json.loads(self.get(port, "/api/v1/nodes/testnode", ctx)[1])
            if {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"] == "True":
                break
            time.sleep(0.2)
        else:
            self.fail("node never became Ready")
        self.assertEqual(node["status"]["nodeInfo"]["kubeletVersion"], "v1.34.0")
        self.assertEqual(node["status"]["addresses"][0], {"type": "InternalIP", "address": "127.0.0.1"})
        code, body = self.get(port, "/api/v1/nodes", ctx)
        self.assertEqual([n["metadata"]["name"] for n in json.loads(body)["items"]], ["testnode"])
        with self.assertRaises(urllib.error.HTTPError) as cm:
            self.get(port, "/api/v1/nodes/elsewhere", ctx)
        self.assertEqual(cm.exception.code, 404)
        # a client certificate from another CA is refused in the TLS handshake
        other = os.path.join(self.tmp, "other")
        os.makedirs(other)
        subprocess.run([OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=intruder",
                        "-keyout", os.path.join(other, "k"), "-out", os.path.join(other, "c"), "-days", "1"],
                       check=True, capture_output=True)
        bad = self.tls(with_client_cert=False)
        bad.load_cert_chain(os.path.join(other, "c"), os.path.join(other, "k"))
        with self.assertRaises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
            self.get(port, "/api/v1/nodes", bad)
        # the kubectl stand-in (`minikube kubectl --`) reads the kubeconfig, so point it at this port
        with open(self.path("root/.kube/config")) as f:
            kc = f.read()
        with open(self.path("root/.kube/config"), "w") as f:
            f.write(kc.replace(":8443", ":%d" % port))
        r = self.run_double("kubectl", "--", "get", "nodes", "-o", "name")
        self.assertEqual((r.returncode, r.stdout), (0, "node/testnode\n"), r.stderr)
        r = self.run_double("kubectl", "--", "wait", "--for=condition=Ready", "nodes", "--all", "--timeout=10s")
        self.assertEqual(r.returncode, 0, r.stderr)
        # `minikube delete` (kubeadm reset) removes the static pod manifest: the stand-in stops serving
        r = self.run_double("delete")
        self.assertEqual(r.returncode, 0, r.stderr)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            except OSError:
                break
            time.sleep(0.2)
        else:
            self.fail("stand-in still serving after delete")

    def test_kubelet_standin_waits_for_config(self):
        kubelet = os.path.join(self.tmp, "v1.34.0", "kubelet")
        os.makedirs(os.path.dirname(kubelet))
        shutil.copyfile(DOUBLE, kubelet)
        r = subprocess.run([PYTHON, kubelet, "--config=/var/lib/kubelet/config.yaml"], env=self.env,
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("failed to load kubelet config file", r.stderr)


class YamlTest(unittest.TestCase):
    def test_roundtrip(self):
        import importlib.machinery
        import importlib.util
        loader = importlib.machinery.SourceFileLoader("minikube_double", DOUBLE)
        spec = importlib.util.spec_from_loader("minikube_double", loader)
        mod = importlib.util.module_from_spec(spec)
        loader.exec_module(mod)
        doc = mod.kubeconfig_doc("https://1.2.3.4:8443", ca_path="/root/.minikube/ca.crt", cert="/c", key="/k",
                                 namespace="default")
        doc["users"].append({"name": "exec", "user": {"exec": {"command": "x", "args": ["a", "b"], "env": None}}})
        txt = mod.dump_kubeconfig(doc)
        self.assertEqual(mod.yaml_load(txt), mod.yaml_load(mod.dump_kubeconfig(mod.yaml_load(txt))))
        back = mod.yaml_load(txt)
        self.assertEqual(back["clusters"][0]["cluster"]["server"], "https://1.2.3.4:8443")
        self.assertEqual(back["users"][1]["user"]["exec"]["args"], ["a", "b"])
        self.assertEqual(back["preferences"], {})
        self.assertEqual(mod.yaml_load('current-context: ""\nclusters: null\n'), {"current-context": "", "clusters": None})


if __name__ == "__main__":
    unittest.main()
