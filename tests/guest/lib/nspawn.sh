# shellcheck shell=bash
# nspawn.sh - the systemd-nspawn flavour: the cached rootfs booted as a container. Real
# systemd PID 1, D-Bus, apt, cloud-init; the HOST's kernel (no modprobe, read-only global
# sysctls): kernel-level checks belong in the qemu flavour.
#
# Root filesystem: an overlayfs per guest, lower = the cached rootfs (stays pristine),
# upper = $GUEST_WORK/guests/NAME/upper on disk (inspectable after a failure). guest_reboot
# keeps it. guest_start_nspawn begins from a clean upper, unless GUEST_PERSIST=1: then
# starting a stopped NAME again keeps what its previous boots wrote (a VM booted again).

# guest_start_nspawn NAME SUITE SEED_DIR [NSPAWN_ARG...]
#   Boots guest NAME from guest_rootfs SUITE with the NoCloud seed SEED_DIR (see seed_dir)
#   bound read-only at /var/lib/cloud/seed/nocloud, the share (guest_share NAME) at
#   /mnt/host, inside network namespace mnb-NAME (eth0 10.231.N.2/24). Offline repo:
#   $GUEST_REPO if set, else an empty one. Returns once the guest's systemd (PID 1) has
#   its API socket up; its host pid is recorded as the leader for guest_exec.
guest_start_nspawn() {
  local name=$1 suite=$2 seed=$3 d root; shift 3
  d=$(guest__dir "$name")
  ! guest_running "$name" || fail "guest $name is already running"
  [ -f "$seed/user-data" ] || fail "seed dir '$seed' has no user-data"
  root=$(guest_rootfs "$suite")
  mkdir -p "$d"
  guest__set "$name" flavour nspawn
  guest__set "$name" suite "$suite"
  guest__set "$name" seed "$(cd "$seed" && pwd)"
  guest__save_args "$d/nspawn-args" "$@"
  guest__net_boot "$name" nspawn      # keeps a network prepared (servers started) earlier
  guest__share_prepare "$name" "$suite"

  # own overlay root (see top); upper survives only with GUEST_PERSIST=1
  [ "${GUEST_PERSIST:-0}" = 1 ] || rm -rf "$d/upper" "$d/ovl-work"
  mkdir -p "$d/upper" "$d/ovl-work" "$d/root"
  mount -t overlay "mnb-$name" -o "lowerdir=$root,upperdir=$d/upper,workdir=$d/ovl-work" "$d/root"
  guest__nspawn_boot "$name"
}

# guest__nspawn_boot NAME: launch nspawn on the prepared root, wait for PID 1's API
guest__nspawn_boot() {
  local name=$1 d pid leader="" i args=()
  d=$(guest__dir "$name")
  mapfile -t args < "$d/nspawn-args"
  # --register=no --keep-unit: the host has no systemd/machined to register with.
  # --capability=CAP_NET_ADMIN: the netns is the guest's own (a VM's root has it; the
  #   tool's firewall phase needs it). Never CAP_SYS_MODULE: the kernel is the host's.
  # --resolv-conf/--timezone=off: keep the image's files (no resolver; nothing copied
  #   from the host). systemd.mask=...wait-online: eth0 is configured outside networkd,
  #   nothing to wait for (else boot stalls 20 s).
  # SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1: cgroup v2 inside, like the qemu guest and trixie's
  #   default (the host is hybrid v1: the container's v2 tree has no controllers).
  # SYSTEMD_NSPAWN_API_VFS_WRITABLE=network: /proc/sys/net writable, as in a VM (the netns
  #   is the guest's own); kernel-global sysctls stay read-only.
  SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=${GUEST_NSPAWN_CGROUP_V2:-1} SYSTEMD_NSPAWN_API_VFS_WRITABLE=network \
  systemd-nspawn -q -D "$d/root" -b -M "$name" --register=no --keep-unit \
    --network-namespace-path="/run/netns/mnb-$name" --capability=CAP_NET_ADMIN \
    --resolv-conf=off --timezone=off --link-journal=no --console=read-only \
    --bind="$d/share:/mnt/host" --bind-ro="$(guest__get "$name" seed):/var/lib/cloud/seed/nocloud" \
    "${args[@]}" \
    systemd.mask=systemd-networkd-wait-online.service \
    < /dev/null >> "$d/console.log" 2>&1 &
  pid=$!
  guest__set "$name" pid "$pid"
  log "nspawn guest $name: nspawn pid $pid, ip $(guest_ip "$name"), log $d/console.log"
  for ((i = 0; i < GUEST_BOOT_TIMEOUT_NSPAWN * 10; i++)); do
    # kill -0, not guest__alive: the child may not have exec'd nspawn yet
    kill -0 "$pid" 2> /dev/null || { tail -20 "$d/console.log" >&2 || true; fail "nspawn for $name exited during boot"; }
    [ -n "$leader" ] || leader=$(guest__nspawn_leader "$pid")
    if [ -n "$leader" ] && [ -S "/proc/$leader/root/run/systemd/private" ]; then
      guest__set "$name" leader "$leader"
      log "nspawn guest $name: PID 1 up (host pid $leader) after $((i / 10)).$((i % 10))s"
      return 0
    fi
    sleep 0.1
  done
  fail "nspawn guest $name: PID 1 not up after ${GUEST_BOOT_TIMEOUT_NSPAWN}s"
}

# guest__nspawn_leader NSPAWN_PID: host pid of the container's PID 1 (a descendant of
# nspawn that is pid 1 in its own pid namespace), or nothing yet
guest__nspawn_leader() {
  local p c
  # shellcheck disable=SC2013  # the children files hold space-separated pids
  for c in $(cat /proc/"$1"/task/*/children 2> /dev/null); do
    # shellcheck disable=SC2013
    for p in "$c" $(cat /proc/"$c"/task/*/children 2> /dev/null); do
      if awk '/^NSpid:/ { exit !($NF == 1 && NF > 2) }' "/proc/$p/status" 2>/dev/null; then
        echo "$p"; return 0
      fi
    done
  done
}

# guest__nspawn_exec NAME CMD...: CMD inside the guest's namespaces, with a clean env,
# bounded by GUEST_CMD_TIMEOUT seconds
guest__nspawn_exec() {
  local name=$1 leader; shift
  leader=$(guest__get "$name" leader) || fail "guest $name has no leader pid (not started?)"
  timeout "$GUEST_CMD_TIMEOUT" nsenter -t "$leader" -m -u -i -n -p -C -r -w -- /usr/bin/env -i PATH="$GUEST_PATH" HOME=/root \
    LANG=C.UTF-8 TERM=dumb SYSTEMD_PAGER= SYSTEMD_COLORS=0 "$@"
}

# guest__nspawn_down NAME [force]: poweroff (unless force), bounded wait, then kill
guest__nspawn_down() {
  local name=$1 force=${2:-} pid d i
  d=$(guest__dir "$name")
  pid=$(guest__get "$name" pid) || pid=""
  if guest__alive "$pid" systemd-nspawn; then
    if [ "$force" != force ]; then
      guest__nspawn_exec "$name" systemctl poweroff --no-block > /dev/null 2>&1 || true
      for ((i = 0; i < GUEST_STOP_TIMEOUT * 10; i++)); do
        guest__alive "$pid" systemd-nspawn || break; sleep 0.1
      done
    fi
    # SIGTERM makes nspawn ask the container's systemd to halt (SIGRTMIN+3)
    guest__kill "$pid" systemd-nspawn 10
  fi
  rm -f "$d/pid" "$d/leader"
  if mountpoint -q "$d/root"; then umount "$d/root" || umount -l "$d/root"; fi
}
