# shellcheck shell=bash
# guest.sh - flavour-agnostic guest operations: scenarios use these, whichever of
# guest_start_nspawn / guest_start_qemu booted the guest.

# guest_exec NAME CMD...: run CMD as root inside the guest (nspawn: nsenter into its
# namespaces; qemu: ssh), stdin passed on; prints its output, returns its exit status.
guest_exec() {
  case $(guest__get "$1" flavour) in
    nspawn) guest__nspawn_exec "$@" ;;
    qemu) guest_ssh "$@" ;;
    *) fail "guest_exec: unknown guest '$1'" ;;
  esac
}

# guest_running NAME: true while the guest's nspawn/qemu process runs
guest_running() {
  local pid
  pid=$(guest__get "$1" pid) || return 1
  guest__alive "$pid" systemd-nspawn || guest__alive "$pid" qemu-system
}

# guest_wait_stopped NAME TIMEOUT: wait until the guest has powered itself off (e.g. a
# user-data power_state); fails on timeout. Does not clean up: call guest_stop after.
guest_wait_stopped() {
  local end=$((SECONDS + $2))
  while guest_running "$1"; do
    [ $SECONDS -lt $end ] || fail "guest $1 still running after $2s"
    sleep 0.5
  done
}

# guest_share NAME: the host directory the guest sees as /mnt/host (made if missing).
# Put files for the guest there before starting it; results/ is for what it writes back.
# repo/ (the offline apt repo) and harness/ are managed by guest_start_*.
guest_share() {
  local s
  s=$(guest__dir "$1")/share
  mkdir -p "$s/results" "$s/harness"
  echo "$s"
}

guest__share_prepare() {   # guest__share_prepare NAME SUITE
  local s repo
  s=$(guest_share "$1")
  repo=${GUEST_REPO:-$(guest_repo "$2")}
  [ -f "$repo/Packages" ] || fail "GUEST_REPO=$repo is not an indexed repo (see guest_repo)"
  rm -rf "$s/repo"
  cp -al "$repo" "$s/repo"   # hard links: instant, and the cache stays out of the share
  guest_mirror_addr "$1" > "$s/harness/mirror-addr"
}

# guest_wait_cloudinit NAME TIMEOUT: poll `cloud-init status --format json` until the
# status is done, error or disabled (bounded by TIMEOUT s). Prints the last JSON; returns
# 0 for done without errors, 1 otherwise (error, degraded, or timeout).
guest_wait_cloudinit() {
  local name=$1 end=$((SECONDS + $2)) json st
  while :; do
    json=$(GUEST_CMD_TIMEOUT=30 guest_exec "$name" cloud-init status --format json 2> /dev/null) || true
    st=$(printf '%s' "$json" | "$GUEST_HOST_PY" -c '
import json, sys
try: d = json.load(sys.stdin)
except ValueError: sys.exit(0)
s = d.get("status", "")
if s in ("done", "error", "disabled"):
    print("ok" if s == "done" and not d.get("errors") and not d.get("recoverable_errors") else "bad")
' 2> /dev/null) || true
    [ -n "$st" ] && break
    if [ $SECONDS -ge $end ]; then
      printf '%s\n' "$json"; log "cloud-init in $name not finished after $2s"; return 1
    fi
    guest_running "$name" || { printf '%s\n' "$json"; log "guest $name stopped before cloud-init finished"; return 1; }
    sleep 1
  done
  printf '%s\n' "$json"
  [ "$st" = ok ]
}

# guest_reboot NAME: reboot the guest and wait until it is back.
#   qemu: `systemctl reboot` inside; the VM resets and boots its disk again (new boot id).
#   nspawn: nspawn exits on a container reboot; the harness boots the same overlay root
#   again, so what the guest wrote survives (the boot id is the host kernel's: unchanged).
guest_reboot() {
  local name=$1 boot pid i
  case $(guest__get "$name" flavour) in
    qemu)
      boot=$(guest_exec "$name" cat /proc/sys/kernel/random/boot_id)
      GUEST_CMD_TIMEOUT=20 guest_ssh "$name" systemctl reboot --no-block > /dev/null 2>&1 || true
      guest__wait_ssh "$name" "$GUEST_BOOT_TIMEOUT_QEMU" "$boot" ;;
    nspawn)
      pid=$(guest__get "$name" pid)
      guest_exec "$name" systemctl reboot --no-block > /dev/null 2>&1 || true
      for ((i = 0; i < GUEST_STOP_TIMEOUT * 10; i++)); do
        guest__alive "$pid" systemd-nspawn || break; sleep 0.1
      done
      guest__kill "$pid" systemd-nspawn 10
      rm -f "$(guest__dir "$name")/leader"
      guest__nspawn_boot "$name" ;;
  esac
}

# guest_stop NAME: clean poweroff (bounded by GUEST_STOP_TIMEOUT), then kill whatever is
# left; removes the guest's namespaces and servers. Disk/upper and share stay for
# inspection and for a later start of the same NAME.
guest_stop() { guest__teardown "$1" ""; }

# guest_discard NAME: stop (forcefully) and delete everything kept for NAME
guest_discard() {
  local d
  d=$(guest__dir "$1")
  guest__teardown "$1" force
  rm -rf "$d"
}

guest__teardown() {   # guest__teardown NAME [force]
  case $(guest__get "$1" flavour) in
    nspawn) guest__nspawn_down "$1" "$2" ;;
    qemu) guest__qemu_down "$1" "$2" ;;
  esac
  guest__net_down "$1"
}

# guest__reap_stale: a scenario's earlier run was interrupted: kill what it left (by the
# recorded pids, checked against their command lines), unmount, drop namespaces.
guest__reap_stale() {
  local d
  for d in "$GUEST_WORK"/guests/*/; do
    [ -f "$d/flavour" ] || continue
    guest__teardown "$(basename "$d")" force || true
  done
  for d in "$GUEST_WORK"/guests/*/; do
    [ -d "$d" ] || continue
    if mountpoint -q "$d/root" 2> /dev/null; then umount -l "$d/root"; fi
    rm -rf "$d"
  done
}
