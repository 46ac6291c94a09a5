#!/usr/bin/env bash
# Make a throwaway test CA and a server certificate signed by it.
#
#   make-ca.sh OUTDIR SAN...      e.g.  make-ca.sh /tmp/ca IP:127.0.0.1 DNS:localhost DNS:mirror.test
#
# Writes OUTDIR/ca.pem, ca.key, server.pem (server cert + CA), server.key.
# Keys are ECDSA P-256; certificates are valid for 30 days. Test use only.
set -euo pipefail

if [ $# -lt 2 ]; then
    echo "usage: $0 OUTDIR SAN... (SAN like IP:127.0.0.1 or DNS:localhost)" >&2
    exit 2
fi
out=$1
shift
for san in "$@"; do
    case $san in
        IP:* | DNS:*) ;;
        *) echo "$0: SAN '$san' must start with IP: or DNS:" >&2; exit 2 ;;
    esac
done
sans=$(IFS=,; echo "$*")
mkdir -p "$out"
cd "$out"
umask 077

openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
openssl req -x509 -new -key ca.key -sha256 -days 30 -subj "/CN=minikube-none-bootstrap test CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" \
    -out ca.pem

openssl ecparam -name prime256v1 -genkey -noout -out server.key 2>/dev/null
openssl req -new -key server.key -subj "/CN=test mirror" -out server.csr
cat > server.ext <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=$sans
authorityKeyIdentifier=keyid
subjectKeyIdentifier=hash
EOF
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -sha256 -days 30 \
    -extfile server.ext -out server.crt 2>/dev/null
cat server.crt ca.pem > server.pem
rm -f server.csr server.ext server.crt ca.srl
chmod 644 ca.pem server.pem
echo "CA: $out/ca.pem  server: $out/server.pem $out/server.key  SANs: $sans"
