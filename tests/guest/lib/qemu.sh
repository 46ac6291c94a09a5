# shellcheck shell=bash
# qemu.sh - the qemu flavour: a real VM with its own Debian kernel (modprobe, sysctls,
# cgroups, reboot), under TCG (this machine has no usable KVM; ~1-2 min to boot).
#
# Disk: a qcow2 overlay per guest, $GUEST_WORK/guests/NAME/disk.qcow2, on the cached
# ext4 image; it stays across guest_reboot and guest_stop + guest_start_qemu of the same
# NAME (a VM booted again), until guest_discard NAME. Seed: an ISO labelled cidata.
# Share: 9p tag "hostshare", mounted at /mnt/host by the image. Network: user-net with
# restrict=on (no route off the machine; only `make demo UPSTREAM=1` sets GUEST_QEMU_RESTRICT=off); ssh on a free 127.0.0.1 port; mirror.test =
# 10.0.2.100, ports GUEST_MIRROR_PORTS relayed into the gateway namespace (net.sh).

GUEST_QEMU_MEM=${GUEST_QEMU_MEM:-2048}
GUEST_QEMU_SMP=${GUEST_QEMU_SMP:-2}

# guest_start_qemu NAME SUITE SEED_DIR [QEMU_ARG...]
#   Boots guest NAME from guest_image SUITE with the NoCloud seed SEED_DIR; returns once
#   root can ssh in (bounded by GUEST_BOOT_TIMEOUT_QEMU). Repo: $GUEST_REPO as for nspawn.
guest_start_qemu() {
  local name=$1 suite=$2 seed=$3 d img; shift 3
  d=$(guest__dir "$name")
  ! guest_running "$name" || fail "guest $name is already running"
  [ -f "$seed/user-data" ] || fail "seed dir '$seed' has no user-data"
  img=$(guest_image "$suite")
  mkdir -p "$d"
  guest__set "$name" flavour qemu
  guest__set "$name" suite "$suite"
  guest__net_boot "$name" qemu      # keeps a network prepared (servers started) earlier
  guest__share_prepare "$name" "$suite"
  guest__ssh_key > "$d/share/harness/authorized_keys"
  [ -f "$d/disk.qcow2" ] || qemu-img create -q -f qcow2 -F raw -b "$img/disk.raw" "$d/disk.qcow2"
  local files=("$seed/user-data" "$seed/meta-data")
  [ -f "$seed/vendor-data" ] && files+=("$seed/vendor-data")
  xorriso -as mkisofs -quiet -o "$d/seed.iso" -V cidata -J -r "${files[@]}" 2> /dev/null
  guest__save_args "$d/qemu-args" "$@"
  # own links: a rebuilt cache must not change what this VM boots
  cp -fl "$img/kernel" "$img/initrd.img" "$d/" 2> /dev/null || cp -f "$img/kernel" "$img/initrd.img" "$d/"
  guest__qemu_launch "$name"
  guest__wait_ssh "$name" "$GUEST_BOOT_TIMEOUT_QEMU"
}

guest__qemu_launch() {
  local name=$1 d port fwd="" p n args=() accel
  d=$(guest__dir "$name")
  mapfile -t args < "$d/qemu-args"
  n=$(guest__net_n "$name")
  port=$("$GUEST_HOST_PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  guest__set "$name" ssh_port "$port"
  for p in $GUEST_MIRROR_PORTS; do
    fwd+=",guestfwd=tcp:$GUEST_QEMU_MIRROR_IP:$p-cmd:nsenter --net=/run/netns/mnb-$name-gw socat STDIO TCP:10.231.$n.1:$p"
  done
  # KVM only where it is real hardware virt (here /dev/kvm is a software nested one)
  accel=(-accel "tcg,thread=multi,tb-size=512" -cpu max)
  if [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo && [ ! -d /sys/module/kvm_pvm ]; then
    accel=(-accel kvm -cpu host)
  fi
  # No -no-reboot: a guest reboot resets the VM and boots the same kernel again.
  # -kernel/-initrd: no bootloader; an ELF vmlinux boots through PVH.
  qemu-system-x86_64 -nodefaults -machine q35 "${accel[@]}" \
    -smp "$GUEST_QEMU_SMP" -m "$GUEST_QEMU_MEM" -display none -monitor none \
    -chardev "file,id=ser0,path=$d/console.log,append=on" -serial chardev:ser0 \
    -pidfile "$d/qemu.pid" \
    -kernel "$d/kernel" -initrd "$d/initrd.img" \
    -append "root=/dev/vda rw console=ttyS0 fsck.mode=skip quiet systemd.show_status=1" \
    -drive "file=$d/disk.qcow2,if=virtio,format=qcow2,discard=unmap,cache=unsafe" \
    -drive "file=$d/seed.iso,if=virtio,format=raw,readonly=on" \
    -netdev "user,id=n0,restrict=${GUEST_QEMU_RESTRICT:-on},hostfwd=tcp:127.0.0.1:$port-:22$fwd" \
    -device virtio-net-pci,netdev=n0 \
    -virtfs "local,path=$d/share,mount_tag=hostshare,security_model=none,id=hs" \
    -device virtio-rng-pci "${args[@]}" \
    < /dev/null > "$d/qemu.log" 2>&1 &
  guest__set "$name" pid $!
  log "qemu guest $name: pid $!, ssh 127.0.0.1:$port, console $d/console.log"
}

# guest__ssh_key: root's public key for qemu guests (key pair made once, in the cache)
guest__ssh_key() {
  local k=$GUEST_CACHE/ssh/id_ed25519
  if [ ! -f "$k" ]; then
    mkdir -p "${k%/*}"
    ( flock 9; [ -f "$k" ] || ssh-keygen -q -t ed25519 -N '' -C mnb-guest-tests -f "$k" ) 9> "$k.lock"
  fi
  cat "$k.pub"
}

# guest_ssh NAME CMD...: run CMD (argv, quoted for the remote shell) as root in the
# guest; stdin is passed on; bounded by GUEST_CMD_TIMEOUT seconds
guest_ssh() {
  local name=$1 port q; shift
  port=$(guest__get "$name" ssh_port) || fail "guest $name has no ssh port (not a qemu guest?)"
  printf -v q '%q ' "$@"
  # one multiplexed connection per guest: a login costs ~1.5 s under TCG, a mux'ed command ~0.1 s
  timeout "$GUEST_CMD_TIMEOUT" ssh -q -i "$GUEST_CACHE/ssh/id_ed25519" -p "$port" -o BatchMode=yes -o ConnectTimeout=10 \
    -o ControlMaster=auto -o ControlPersist=120 -o ControlPath="$(guest__ssh_mux "$name")" \
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
    -o ServerAliveInterval=15 -o ServerAliveCountMax=8 root@127.0.0.1 \
    "export PATH=$GUEST_PATH LANG=C.UTF-8 SYSTEMD_PAGER= SYSTEMD_COLORS=0; $q"
}

guest__ssh_mux() {   # control socket path (short: sun_path has 108 bytes)
  mkdir -p /run/minikube-none-bootstrap-tests
  echo "/run/minikube-none-bootstrap-tests/ssh-$1-$(guest__get "$1" ssh_port)"
}

# guest__wait_ssh NAME TIMEOUT [NOT_BOOT_ID]: until ssh works (and, if given, the guest's
# boot id differs from NOT_BOOT_ID); fails early if qemu dies or the kernel panics
guest__wait_ssh() {
  local name=$1 t=$2 not=${3:-} d pid end id
  d=$(guest__dir "$name"); pid=$(guest__get "$name" pid)
  end=$((SECONDS + t))
  while [ $SECONDS -lt $end ]; do
    kill -0 "$pid" 2> /dev/null || { tail -5 "$d/qemu.log" >&2 || true; fail "qemu for $name exited"; }
    grep -aq 'Kernel panic' "$d/console.log" 2>/dev/null && fail "guest $name: kernel panic (see $d/console.log)"
    if id=$(GUEST_CMD_TIMEOUT=20 guest_ssh "$name" cat /proc/sys/kernel/random/boot_id 2> /dev/null) &&
       [ -n "$id" ] && [ "$id" != "$not" ]; then
      log "qemu guest $name: ssh up (boot $id)"
      return 0
    fi
    # drop a master connection that may outlive the boot it was made to
    ssh -q -O exit -o ControlPath="$(guest__ssh_mux "$name")" root@127.0.0.1 2> /dev/null || true
    sleep 2
  done
  fail "qemu guest $name: no ssh after ${t}s (see $d/console.log)"
}

# guest__qemu_down NAME [force]: poweroff over ssh (unless force), bounded wait, kill
guest__qemu_down() {
  local name=$1 force=${2:-} pid i
  pid=$(guest__get "$name" pid) || pid=""
  if guest__alive "$pid" qemu-system; then
    if [ "$force" != force ]; then
      GUEST_CMD_TIMEOUT=20 guest_ssh "$name" systemctl poweroff --no-block > /dev/null 2>&1 || true
      for ((i = 0; i < GUEST_STOP_TIMEOUT * 10; i++)); do
        guest__alive "$pid" qemu-system || break; sleep 0.1
      done
    fi
    guest__kill "$pid" qemu-system 10
  fi
  if [ -n "$(guest__get "$name" ssh_port)" ]; then
    ssh -q -O exit -o ControlPath="$(guest__ssh_mux "$name")" root@127.0.0.1 2> /dev/null || true
    rm -f "$(guest__ssh_mux "$name")"
  fi
  rm -f "$(guest__dir "$name")/pid"
}
