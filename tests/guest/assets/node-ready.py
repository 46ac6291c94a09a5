"""Runs inside a guest: the node's Ready condition, asked of the apiserver over TLS with the
credentials of the kubeconfig given as argv[1]. Prints True, False, or what went wrong."""
import base64, json, socket, ssl, sys, tempfile, urllib.request

text = open(sys.argv[1]).read()  # no YAML module in the guest: the few keys are read by hand


def field(name):
    # The kubeconfigs here have one cluster and one user: take the first value of each key.
    for line in text.splitlines():
        s = line.strip()
        if s.startswith(name + ":"):
            return s.split(":", 1)[1].strip().strip('"')
    return None


def material(key):
    data = field(key + "-data")
    if data:
        f = tempfile.NamedTemporaryFile(delete=False)
        f.write(base64.b64decode(data))
        f.close()
        return f.name
    return field(key)


ctx = ssl.create_default_context(cafile=material("certificate-authority"))
ctx.load_cert_chain(material("client-certificate"), material("client-key"))
node = socket.gethostname()
try:
    with urllib.request.urlopen(f"{field('server')}/api/v1/nodes/{node}", context=ctx, timeout=10) as r:
        obj = json.load(r)
    print(next((c["status"] for c in obj["status"]["conditions"] if c["type"] == "Ready"), "absent"))
except Exception as e:  # the scenario prints this as the observed state
    print(f"error: {e}")
