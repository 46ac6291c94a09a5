# shellcheck shell=bash
# image.sh - cached guest rootfs (both flavours) and the qemu boot image built from it.
#
# Cache layout ($GUEST_CACHE):
#   rootfs-SUITE-HASH/   rootfs tree (never booted directly: guests get an overlay on it)
#   image-SUITE-HASH/    disk.raw (ext4 of that tree), kernel, initrd.img (qemu flavour)
#   apt-SUITE/           debian.sources + apt lists for SUITE (see repo.sh)
# HASH covers every file under tests/guest/image/, so changing the recipe rebuilds.
# Builds run under flock and go to a temp dir that is renamed when complete.

GUEST_IMAGE_DIR=$GUEST_LIB_DIR/../image
GUEST_SUITES="trixie bookworm"

guest__check_suite() {
  [[ " $GUEST_SUITES " == *" $1 "* ]] || fail "suite '$1': want one of: $GUEST_SUITES"
}

# guest_recipe_hash: 12 hex digits over the recipe files (names and contents)
guest_recipe_hash() {
  (cd "$GUEST_IMAGE_DIR" && sha256sum -- *) | sha256sum | cut -c1-12
}

# guest_sources SUITE: path of a deb822 sources file for SUITE: the host's
# debian.sources with its suites (X, X-updates, X-security) renamed to SUITE's.
guest_sources() {
  local suite=${1:-trixie} host dir
  guest__check_suite "$suite"
  host=$(. /etc/os-release && echo "$VERSION_CODENAME")
  dir=$GUEST_CACHE/apt-$suite
  mkdir -p "$dir"
  sed -E "/^Suites:/ s/\\b$host\\b/$suite/g" /etc/apt/sources.list.d/debian.sources > "$dir/debian.sources.tmp"
  mv "$dir/debian.sources.tmp" "$dir/debian.sources"
  echo "$dir/debian.sources"
}

# guest_rootfs [SUITE]: path of the cached rootfs tree for SUITE (default trixie),
# building it first if needed (mmdebstrap; ~1 min cold).
guest_rootfs() {
  local suite=${1:-trixie} hash dir
  guest__check_suite "$suite"
  hash=$(guest_recipe_hash)
  dir=$GUEST_CACHE/rootfs-$suite-$hash
  if [ ! -d "$dir" ]; then
    mkdir -p "$GUEST_CACHE"
    (
      flock 9
      if [ ! -d "$dir" ]; then guest__build_rootfs "$suite" "$hash"; fi
    ) 9> "$GUEST_CACHE/.lock-rootfs-$suite"
  fi
  echo "$dir"
}

guest__build_rootfs() {
  local suite=$1 hash=$2 tmp sources t0=$SECONDS
  tmp=$GUEST_CACHE/.tmp-rootfs-$suite-$hash
  sources=$(guest_sources "$suite")
  rm -rf "$tmp"
  log "building $suite rootfs (recipe $hash)"
  "$GUEST_IMAGE_DIR/build-rootfs.sh" "$suite" "$sources" "$tmp" >&2
  mv "$tmp" "$GUEST_CACHE/rootfs-$suite-$hash"
  log "rootfs $suite-$hash built in $((SECONDS - t0))s ($(du -sh "$GUEST_CACHE/rootfs-$suite-$hash" | cut -f1))"
  # drop what older recipes built for this suite (rootfs, images, repos keyed on them)
  local old
  for old in "$GUEST_CACHE"/{rootfs,image,repo}-"$suite"-*; do
    [[ -e $old && $old != *"-$suite-$hash"* ]] && rm -rf "$old"
  done
  return 0
}

# guest_image [SUITE]: directory holding disk.raw, kernel and initrd.img for the qemu
# flavour, made from guest_rootfs SUITE (cached the same way).
guest_image() {
  local suite=${1:-trixie} root hash dir
  root=$(guest_rootfs "$suite")
  hash=${root##*-}
  dir=$GUEST_CACHE/image-$suite-$hash
  if [ ! -f "$dir/disk.raw" ]; then
    (
      flock 9
      if [ ! -f "$dir/disk.raw" ]; then guest__build_image "$root" "$dir"; fi
    ) 9> "$GUEST_CACHE/.lock-image-$suite"
  fi
  echo "$dir"
}

guest__build_image() {
  local root=$1 dir=$2 tmp=$2.tmp mb t0=$SECONDS
  rm -rf "$tmp"; mkdir -p "$tmp"
  cp -L "$root"/boot/initrd.img-* "$tmp/initrd.img"
  # Prefer the uncompressed ELF vmlinux: qemu boots it through the PVH entry point,
  # skipping real-mode setup and in-guest decompression (seconds under TCG). The rootfs'
  # own python3 and zstd unpack it (bookworm's kernel is xz-, trixie's zstd-compressed).
  if ! chroot "$root" python3 -c '
import lzma, subprocess, sys
d = sys.stdin.buffer.read()
out = b""
i = d.find(b"\xfd7zXZ\x00")
if i >= 0:
    out = lzma.LZMADecompressor().decompress(d[i:])
i = d.find(b"\x28\xb5\x2f\xfd")
if not out and i >= 0:   # zstd complains about the trailing bytes; the frame is complete
    out = subprocess.run(["zstd", "-dcq"], input=d[i:], capture_output=True).stdout
if not out.startswith(b"\x7fELF"):
    sys.exit(1)
sys.stdout.buffer.write(out)' < "$(ls "$root"/boot/vmlinuz-*)" > "$tmp/kernel"; then
    log "could not unpack vmlinux: booting the bzImage instead"
    cp -L "$root"/boot/vmlinuz-* "$tmp/kernel"
  fi
  # Sparse ext4 populated straight from the tree (no loop mount), with room for what
  # scenarios install. Guests boot a qcow2 overlay on it, so it is never modified.
  mb=$(($(du -sm "$root" | cut -f1) + 3072))
  truncate -s "${mb}M" "$tmp/disk.raw"
  mkfs.ext4 -q -F -L root -d "$root" "$tmp/disk.raw"
  rm -rf "$dir"; mv "$tmp" "$dir"
  log "qemu image built in $((SECONDS - t0))s (${mb} MiB apparent, $(du -sh "$dir" | cut -f1) used)"
}
