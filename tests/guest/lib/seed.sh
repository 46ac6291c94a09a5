# shellcheck shell=bash
# seed.sh - NoCloud seeds and the test CA.
#
# The project's user-data goes in unchanged. Everything the harness adds rides in
# vendor-data, as a MIME multipart whose first part is a boothook (runs every boot, before
# write_files/runcmd and before sshd), so it survives any user-data: cloud-config lists
# like write_files in user-data would replace the vendor-data's, scripts are never merged.
# The boothook reads the harness's runtime facts from the share (/mnt/host/harness/,
# written by guest_start_*): the mirror.test address, root's ssh key (qemu).

# seed_dir DIR USERDATA_FILE [VENDORDATA_FILE...]
#   Writes DIR/{user-data,meta-data,vendor-data}. meta-data: a fresh instance-id (so
#   cloud-init treats the boot as a new instance) and local-hostname $GUEST_HOSTNAME
#   (default testvm). VENDORDATA_FILE (optional) becomes a further vendor-data part; its
#   first line picks the type: #cloud-config, #!... (script), #cloud-boothook.
#   GUEST_CA_FILE=PEM (optional): installed in the guest as $GUEST_CA_PATH before
#   runcmd; GUEST_CA_TRUST=1 also adds it to the system trust store.
GUEST_CA_PATH=/usr/local/share/mnb-test/ca.crt
seed_dir() {
  local dir=$1 ud=$2 vd=${3:-} host=${GUEST_HOSTNAME:-testvm}
  [ -f "$ud" ] || fail "seed_dir: no user-data file '$ud'"
  mkdir -p "$dir"
  cp "$ud" "$dir/user-data"
  printf 'instance-id: iid-%s\nlocal-hostname: %s\n' "$(date +%s%N)" "$host" > "$dir/meta-data"
  guest__boothook "$host" > "$dir/.boothook"
  "$GUEST_HOST_PY" - "$dir/.boothook" "${@:3}" > "$dir/vendor-data" <<'EOF'
import sys
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
types = {"#cloud-config": "cloud-config", "#cloud-boothook": "cloud-boothook", "#!": "x-shellscript"}
msg = MIMEMultipart()
for i, path in enumerate(p for p in sys.argv[1:] if p):
    body = open(path).read()
    sub = next((t for k, t in types.items() if body.startswith(k)), None)
    if sub is None:
        sys.exit(f"seed_dir: {path}: first line must be #cloud-config, #cloud-boothook or #!")
    part = MIMEText(body, sub)
    part.add_header("Content-Disposition", "attachment", filename=f"part-{i:02d}")
    msg.attach(part)
print(msg.as_string())
EOF
  rm -f "$dir/.boothook"
}

# guest__boothook HOSTNAME: the harness's vendor-data boothook (shell, idempotent)
guest__boothook() {
  local ca=""
  if [ -n "${GUEST_CA_FILE:-}" ]; then
    openssl x509 -in "$GUEST_CA_FILE" -noout || fail "GUEST_CA_FILE=$GUEST_CA_FILE: not a PEM certificate"
    ca=$(cat "$GUEST_CA_FILE")
  fi
  cat <<EOF
#cloud-boothook
#!/bin/sh
# minikube-none-bootstrap guest harness: runs every boot, before user-data's modules.
set -u
h=/mnt/host/harness
# /etc/hosts: own name on 127.0.1.1, mirror.test -> where the harness serves the mirror
sed -i '/# mnb-harness\$/d' /etc/hosts
echo "127.0.1.1 $1 # mnb-harness" >> /etc/hosts
[ -r \$h/mirror-addr ] && echo "\$(cat \$h/mirror-addr) mirror.test # mnb-harness" >> /etc/hosts
# root's ssh key (qemu guests are driven over ssh)
if [ -r \$h/authorized_keys ]; then
  install -d -m 700 /root/.ssh
  install -m 600 \$h/authorized_keys /root/.ssh/authorized_keys
fi
EOF
  if [ -n "$ca" ]; then
    cat <<EOF
# the test CA that signs mirror.test's certificate
install -d -m 755 ${GUEST_CA_PATH%/*}
cat > $GUEST_CA_PATH <<'PEM'
$ca
PEM
EOF
    if [ "${GUEST_CA_TRUST:-0}" = 1 ]; then
      echo "cp $GUEST_CA_PATH /usr/local/share/ca-certificates/mnb-test-ca.crt && update-ca-certificates >/dev/null"
    fi
  fi
  echo "exit 0"
}

# mirror_cert DIR: a test CA and a server certificate for mirror.test signed by it, in
# DIR/{ca.crt,ca.key,server.crt,server.key} (kept if already there). Pair with
# GUEST_CA_FILE=DIR/ca.crt seed_dir ...
mirror_cert() {
  local d=$1
  if [ -f "$d/server.crt" ] && openssl x509 -checkend 86400 -noout -in "$d/server.crt" > /dev/null; then
    return 0
  fi
  # the project's one CA maker; the harness names its files .crt
  bash "$GUEST_LIB_DIR/../../mirror/make-ca.sh" "$d" DNS:mirror.test > /dev/null
  cp "$d/ca.pem" "$d/ca.crt"
  cp "$d/server.pem" "$d/server.crt"
}
