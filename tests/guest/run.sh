#!/bin/bash
# run.sh [SCENARIO...] - run guest scenarios (default: all of tests/guest/scenarios/*.sh),
# one after another. A SCENARIO is a file name with or without .sh, or a path.
# Prints `PASS name (Ns)` / `FAIL name (Ns)` / `SKIP name (why)` per scenario, then as the
# last line exactly `N passed, M failed`; exits non-zero on any failure.
# Each scenario's full log: /var/tmp/minikube-none-bootstrap-e2e/<scenario>/log
# Scenarios containing the line `# guest-flavour: qemu` are skipped with GUEST_QEMU=0.
# Each scenario is bounded by GUEST_SCENARIO_TIMEOUT seconds (default 1800).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
LOGROOT=/var/tmp/minikube-none-bootstrap-e2e

[ "$(id -u)" = 0 ] || { echo "run.sh: guest tests need root" >&2; exit 1; }
"$HERE/deps.sh"

scenarios=()
if [ $# -eq 0 ]; then
  scenarios=("$HERE"/scenarios/*.sh)
else
  for s in "$@"; do
    if [ -f "$s" ]; then scenarios+=("$s"); else scenarios+=("$HERE/scenarios/${s%.sh}.sh"); fi
  done
fi

pass=0 failed=0 skipped=0
for s in "${scenarios[@]}"; do
  name=$(basename "${s%.sh}")
  [ -f "$s" ] || { echo "FAIL $name (no such scenario)"; failed=$((failed + 1)); continue; }
  if [ "${GUEST_QEMU:-1}" = 0 ] && grep -q '^# guest-flavour: qemu' "$s"; then
    echo "SKIP $name (GUEST_QEMU=0)"; skipped=$((skipped + 1)); continue
  fi
  mkdir -p "$LOGROOT/$name"
  t0=$SECONDS
  # bounded: TERM lets the scenario's EXIT trap stop its guests; KILL 60 s later
  if GUEST_SCENARIO=$name timeout --kill-after=60 "${GUEST_SCENARIO_TIMEOUT:-1800}" \
       bash "$s" > "$LOGROOT/$name/log" 2>&1 < /dev/null; then
    echo "PASS $name ($((SECONDS - t0))s)"; pass=$((pass + 1))
  else
    echo "FAIL $name ($((SECONDS - t0))s) - log: $LOGROOT/$name/log"; failed=$((failed + 1))
    tail -n 15 "$LOGROOT/$name/log" | sed 's/^/    /'
  fi
done

[ "$skipped" -eq 0 ] || echo "($skipped skipped)"
echo "$pass passed, $failed failed"
[ "$failed" -eq 0 ]
