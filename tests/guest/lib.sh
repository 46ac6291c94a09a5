# shellcheck shell=bash
# lib.sh - the guest test harness. A scenario is a standalone bash script that does
#   . "$(dirname "$0")/../lib.sh"
# and then boots guests, drives them, asserts. Run as root on the Debian host.
# Overview, conventions and knobs: README.md beside this file.
# Functions (details at each definition):
#   image.sh   guest_rootfs, guest_image, guest_sources, guest_recipe_hash
#   repo.sh    guest_repo
#   seed.sh    seed_dir, mirror_cert
#   net.sh     guest_net_prepare, guest_netns_exec, guest_netns_bg, guest_wait_port,
#              guest_mirror_ip, guest_mirror_addr, guest_ip
#   nspawn.sh  guest_start_nspawn
#   qemu.sh    guest_start_qemu, guest_ssh
#   guest.sh   guest_exec, guest_wait_cloudinit, guest_reboot, guest_stop, guest_running,
#              guest_wait_stopped, guest_share, guest_discard
#   common.sh  log, step, fail, assert_eq, assert_match, assert_contains, guest_cleanup
set -euo pipefail
shopt -s inherit_errexit   # set -e also inside $(...)

[ "$(id -u)" = 0 ] || { echo "guest tests need root" >&2; exit 1; }
GUEST_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/lib" && pwd)
for f in common image repo seed net nspawn qemu guest; do
  # shellcheck source=/dev/null
  . "$GUEST_LIB_DIR/$f.sh"
done
unset f

mkdir -p "$GUEST_WORK/guests"
guest__reap_stale        # leftovers of an interrupted earlier run of this scenario
# start from an empty work dir (run.sh's log file, written while we run, stays)
find "$GUEST_WORK" -mindepth 1 -maxdepth 1 ! -name log ! -name guests -exec rm -rf {} +
trap guest_cleanup EXIT
trap 'exit 130' INT TERM HUP   # so that the EXIT trap runs on a signal too
