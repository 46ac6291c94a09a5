#!/usr/bin/env bash
# Build a mirror tree in the upstream layout with stand-in artifacts.
#
#   make-artifacts.sh [--arch ARCH] [--minikube-file PATH] NAME=VERSION... OUTDIR
#
# NAME is one of minikube, crictl, cni-plugins, cri-dockerd, e.g.
#   make-artifacts.sh --minikube-file tests/double/minikube \
#       minikube=v1.37.0 crictl=v1.31.1 cni-plugins=v1.5.1 cri-dockerd=0.3.15 /tmp/mirror
#
# Tarballs are real .tar.gz files laid out like upstream's (crictl: `crictl`;
# CNI: `./bridge`, `./host-local`, ...; cri-dockerd: `cri-dockerd/cri-dockerd`)
# whose binaries are small shell stand-ins answering --version. Checksum files
# follow upstream: minikube and crictl `.sha256` hold the bare hex digest, CNI
# `.sha256` is `<hex>  <file name>`, cri-dockerd has none. OUTDIR/SHA256SUMS
# lists every artifact as `<hex>  <relative path>` (for pins and bundles).
set -euo pipefail

arch=amd64
minikube_file=
args=()
while [ $# -gt 0 ]; do
    case $1 in
        --arch) arch=$2; shift 2 ;;
        --minikube-file) minikube_file=$2; shift 2 ;;
        -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
        *) args+=("$1"); shift ;;
    esac
done
if [ ${#args[@]} -lt 2 ]; then
    echo "usage: $0 [--arch ARCH] [--minikube-file PATH] NAME=VERSION... OUTDIR" >&2
    exit 2
fi
out=${args[-1]}
unset 'args[-1]'
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# stand_in PATH NAME VERSION-LINE
stand_in() {
    mkdir -p "$(dirname "$1")"
    cat > "$1" <<EOF
#!/bin/sh
# $2 stand-in for tests: not the real program.
case "\${1:-}" in
    --version | -v | version) echo "$3 (stand-in)" ;;
    *) echo "$2 stand-in: not the real program (args: \$*)" >&2 ;;
esac
EOF
    chmod 755 "$1"
}

# pack DIR TARBALL MEMBERS...: deterministic tar.gz
pack() {
    local dir=$1 tarball=$2
    shift 2
    mkdir -p "$(dirname "$tarball")"
    tar -C "$dir" --owner=0 --group=0 --numeric-owner --mtime=@0 --sort=name -cf - "$@" | gzip -n -9 > "$tarball"
}

digest() { sha256sum "$1" | cut -d' ' -f1; }

: > "$work/sums"
record() { echo "$(digest "$out/$1")  $1" >> "$work/sums"; }

for spec in "${args[@]}"; do
    name=${spec%%=*}
    v=${spec#*=}
    v=v${v#v}
    case $name in
        minikube)
            [ -n "$minikube_file" ] || { echo "$0: minikube needs --minikube-file" >&2; exit 2; }
            rel=minikube/releases/$v/minikube-linux-$arch
            mkdir -p "$out/$(dirname "$rel")"
            cp "$minikube_file" "$out/$rel"
            chmod 755 "$out/$rel"
            digest "$out/$rel" > "$out/$rel.sha256"
            ;;
        crictl)
            rel=kubernetes-sigs/cri-tools/releases/download/$v/crictl-$v-linux-$arch.tar.gz
            stand_in "$work/crictl/crictl" crictl "crictl version $v"
            pack "$work/crictl" "$out/$rel" crictl
            digest "$out/$rel" > "$out/$rel.sha256"
            ;;
        cni-plugins)
            rel=containernetworking/plugins/releases/download/$v/cni-plugins-linux-$arch-$v.tgz
            for p in bandwidth bridge dhcp dummy firewall host-device host-local ipvlan loopback \
                macvlan portmap ptp sbr static tap tuning vlan vrf; do
                stand_in "$work/cni/$p" "$p" "CNI $p plugin $v"
            done
            pack "$work/cni" "$out/$rel" .
            (cd "$(dirname "$out/$rel")" && sha256sum "$(basename "$rel")" > "$(basename "$rel").sha256")
            ;;
        cri-dockerd)
            rel=Mirantis/cri-dockerd/releases/download/$v/cri-dockerd-${v#v}.$arch.tgz
            stand_in "$work/cri-dockerd/cri-dockerd/cri-dockerd" cri-dockerd "cri-dockerd ${v#v}"
            pack "$work/cri-dockerd" "$out/$rel" cri-dockerd
            ;;
        *)
            echo "$0: unknown artifact '$name' (minikube, crictl, cni-plugins, cri-dockerd)" >&2
            exit 2
            ;;
    esac
    record "$rel"
    echo "$name $v: $rel"
done
if [ -f "$out/SHA256SUMS" ]; then # keep entries of artifacts not rebuilt now
    awk 'NR == FNR { new[$2] = 1; next } !($2 in new)' "$work/sums" "$out/SHA256SUMS" > "$work/kept"
    cat "$work/kept" >> "$work/sums"
fi
sort -k2 "$work/sums" > "$out/SHA256SUMS"
