# shellcheck shell=bash
# repo.sh - offline apt repositories for guests.
#
# A guest's apt sees exactly one source, `deb [trusted=yes] file:/mnt/host/repo ./`. Its
# content is resolved on the host: the .debs that installing PKGS on top of the cached
# rootfs needs, against apt lists of the guest's SUITE (kept apart from the host's own
# apt state in $GUEST_CACHE/apt-SUITE/), with the guest rootfs' dpkg status. Recommends
# are included, because a real Debian VM's apt installs them by default.

GUEST_APT_MAX_AGE=${GUEST_APT_MAX_AGE:-86400}   # refresh SUITE's lists when older (s)

# guest__apt SUITE ARGS...: apt-get with SUITE's private lists/cache, host config otherwise
guest__apt() {
  local suite=$1 a=$GUEST_CACHE/apt-$1; shift
  mkdir -p "$a/lists/partial" "$a/cache/archives/partial" "$a/parts" "$a/prefs.d"
  cp "$(guest_sources "$suite")" "$a/parts/debian.sources"
  apt-get -q -o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$a/parts" \
    -o Dir::State::Lists="$a/lists" -o Dir::Cache="$a/cache" \
    -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts="$a/prefs.d" \
    -o Debug::NoLocking=1 "$@"
}

guest__apt_update() {   # guest__apt_update SUITE [force]
  local stamp=$GUEST_CACHE/apt-$1/updated
  if [ "${2:-}" = force ] || [ ! -f "$stamp" ] ||
     [ $(($(date +%s) - $(stat -c %Y "$stamp"))) -gt "$GUEST_APT_MAX_AGE" ]; then
    guest__apt "$1" update >&2
    touch "$stamp"
  fi
}

# guest_repo SUITE [PKG...]: path of an indexed offline repo holding what installing PKGS
# into guest_rootfs SUITE needs (no PKG: an empty but valid repo). Cached by suite, rootfs
# recipe hash and package list. Hand it to a guest with GUEST_REPO=PATH guest_start_*.
guest_repo() {
  local suite=$1 root key dir; shift
  root=$(guest_rootfs "$suite")
  key=$(printf '%s\n' "$@" | sort -u | sha256sum | cut -c1-12)
  dir=$GUEST_CACHE/repo-$suite-${root##*-}-$key
  if [ ! -f "$dir/Release" ]; then
    (
      flock 9
      if [ ! -f "$dir/Release" ]; then guest__build_repo "$suite" "$root" "$dir" "$@"; fi
    ) 9> "$GUEST_CACHE/.lock-apt-$suite"
  fi
  echo "$dir"
}

guest__build_repo() {
  local suite=$1 root=$2 dir=$3 tmp=$3.tmp t0=$SECONDS; shift 3
  rm -rf "$tmp"; mkdir -p "$tmp/partial"
  if [ $# -gt 0 ]; then
    guest__apt_update "$suite"
    local dl=(install -y -qq --download-only -o Dir::State::status="$root/var/lib/dpkg/status"
              -o Dir::Cache::Archives="$tmp" -o APT::Install-Recommends=true "$@")
    # stale lists name .debs the archive has dropped: refresh once and retry
    if ! guest__apt "$suite" "${dl[@]}" >&2; then
      guest__apt_update "$suite" force
      # explicit: callers inside `if`/`||` run without set -e, and a failed resolve must not
      # be cached as an empty repo
      guest__apt "$suite" "${dl[@]}" >&2 || { rm -rf "$tmp"; return 1; }
    fi
  fi
  rm -rf "$tmp/partial" "$tmp/lock"
  (cd "$tmp" && apt-ftparchive packages . > Packages && apt-ftparchive release . > Release.new &&
   mv Release.new Release)
  rm -rf "$dir"; mv "$tmp" "$dir"
  log "repo $suite [$*]: $(find "$dir" -name '*.deb' | wc -l) debs, $(du -sh "$dir" | cut -f1), $((SECONDS - t0))s"
}
