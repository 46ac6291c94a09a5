# shellcheck shell=bash
# common.sh - settings, logging, assertions, per-guest state, timing and cleanup.
# Sourced by lib.sh; not meant to be used alone.

GUEST_CACHE=${GUEST_CACHE:-/var/cache/minikube-none-bootstrap-tests}
GUEST_SCENARIO=${GUEST_SCENARIO:-$(basename "${0%.sh}")}
GUEST_WORK=${GUEST_WORK:-/var/tmp/minikube-none-bootstrap-e2e/$GUEST_SCENARIO}
[[ $GUEST_WORK == /?*/?* ]] || { echo "GUEST_WORK=$GUEST_WORK: want an absolute path two levels deep" >&2; exit 2; }
GUEST_BOOT_TIMEOUT_NSPAWN=${GUEST_BOOT_TIMEOUT_NSPAWN:-60}   # start -> PID 1 up (s)
GUEST_BOOT_TIMEOUT_QEMU=${GUEST_BOOT_TIMEOUT_QEMU:-600}      # start/reboot -> ssh up (s), TCG
GUEST_STOP_TIMEOUT=${GUEST_STOP_TIMEOUT:-60}                 # poweroff -> gone (s)
GUEST_CMD_TIMEOUT=${GUEST_CMD_TIMEOUT:-900}                  # one guest_exec (s)
GUEST_HOST_PY=${GUEST_HOST_PY:-/usr/bin/python3}                 # host-side helper scripts
# shellcheck disable=SC2034  # used by the other lib files
GUEST_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
GUEST_T0=$(date +%s.%N)                                      # scenario start

log() { printf '[%(%H:%M:%S)T +%ss] %s\n' -1 "$(guest__elapsed)" "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }
# step MSG: a visible milestone in the scenario log
step() { log "== $*"; }

guest__elapsed() { awk -v a="$GUEST_T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }

# --- assertions (each prints what it compared, so the log shows the evidence) ------
assert_eq() {   # assert_eq EXPECTED ACTUAL [WHAT]
  [ "$1" = "$2" ] || fail "${3:-value}: expected '$1', got '$2'"
  log "ok: ${3:-value} = '$2'"
}
assert_match() {   # assert_match ERE ACTUAL [WHAT]
  [[ $2 =~ $1 ]] || fail "${3:-value}: '$2' does not match /$1/"
  if [[ ${#2} -le 100 && $2 != *$'\n'* ]]; then log "ok: ${3:-value} = '$2' (=~ /$1/)"; else log "ok: ${3:-value} =~ /$1/"; fi
}
assert_contains() {   # assert_contains NEEDLE HAYSTACK [WHAT]
  [[ $2 == *"$1"* ]] || fail "${3:-output}: does not contain '$1': $2"
  log "ok: ${3:-output} contains '$1'"
}

# --- per-guest state: $GUEST_WORK/guests/NAME/ holds flavour, pids, share, disks -----
guest__dir() {
  [[ $1 =~ ^[a-z][a-z0-9-]{0,20}$ ]] || fail "guest name '$1': want [a-z][a-z0-9-], at most 21 chars"
  echo "$GUEST_WORK/guests/$1"
}
guest__get() { cat "$(guest__dir "$1")/$2" 2>/dev/null; }          # guest__get NAME KEY
guest__set() { echo "$3" > "$(guest__dir "$1")/$2"; }               # guest__set NAME KEY VALUE

# guest__alive PID CMD_SUBSTRING: PID runs and its command line contains CMD_SUBSTRING
# (so a recycled pid is never mistaken for ours).
guest__alive() {
  local c
  [ -n "$1" ] && c=$(tr '\0' ' ' 2> /dev/null < "/proc/$1/cmdline") && [[ $c == *"$2"* ]]
}

# guest__kill PID CMD_SUBSTRING GRACE: TERM, wait up to GRACE s, then KILL (only our pid).
guest__kill() {
  local pid=$1 what=$2 grace=${3:-10} i
  guest__alive "$pid" "$what" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do guest__alive "$pid" "$what" || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

# guest_cleanup: stop every guest this scenario started (forcefully) and remove its
# network namespaces (not with GUEST_KEEP=1). Installed as the EXIT trap by lib.sh; a
# scenario that sets its own EXIT trap must call it.
guest_cleanup() {
  local rc=$? d
  if [ "${GUEST_KEEP:-0}" = 1 ]; then   # debugging: leave them up; the next run reaps them
    log "GUEST_KEEP=1: guests left running under $GUEST_WORK/guests"
  else
    for d in "$GUEST_WORK"/guests/*/; do
      [ -f "$d/flavour" ] || continue
      guest__teardown "$(basename "$d")" force || true
    done
  fi
  log "scenario $GUEST_SCENARIO: wall time $(guest__elapsed)s (exit $rc)"
  return "$rc"
}

# guest__save_args FILE ARG...: one arg per line (read back with mapfile); no arg: empty
guest__save_args() {
  local f=$1; shift
  : > "$f"
  [ $# -eq 0 ] || printf '%s\n' "$@" > "$f"
}
