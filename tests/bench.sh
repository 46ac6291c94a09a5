#!/bin/bash
# bench.sh BIN - wall time and peak memory of the read-only commands, against the committed
# fixture VM (tests/fixtures/hosts/debian-13-kvm) copied to a temp root. Prints a Markdown
# table for the README. Not a test: numbers vary with the machine.
set -euo pipefail
BIN=${1:?usage: bench.sh BIN}
N=${BENCH_RUNS:-20}
root=$(mktemp -d); trap 'rm -rf "$root"' EXIT
cp -a "$(dirname "$0")/fixtures/hosts/debian-13-kvm/." "$root/"

measure() {   # measure LABEL ARGS...: median wall ms and max RSS KiB over N runs
  local label=$1 i out t0 ms=() rss=0 r; shift
  for ((i = 0; i < N; i++)); do
    t0=$(date +%s%N)
    /usr/bin/time -o "$root/.time" -f '%e %M' "$BIN" "$@" --root "$root" --today 2026-12-03 --output json > /dev/null 2>&1 || true
    ms+=("$(( ($(date +%s%N) - t0) / 100000 ))")   # tenths of a millisecond
    out=$(tail -1 "$root/.time")
    r=$(awk '{print $2}' <<< "$out"); [ "$r" -gt "$rss" ] && rss=$r
  done
  printf '| `%s` | %s ms | %s MiB |\n' "$label" "$(printf '%s\n' "${ms[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)] / 10}')" "$((rss / 1024))"
}

echo "| command (fixture VM, $N runs) | median wall time | peak RSS |"
echo "|---|---|---|"
measure "preflight" preflight
measure "plan" plan
measure "--help" --help
