#!/bin/bash
# A typo in the config: the shipped user-data rendered with `container-runtme:`. cloud-init
# reports the runcmd failure, result.json says config-error (exit 2) naming the key, the
# file and the line, and the host is exactly as the tool found it.
#
# "Nothing changed" is measured, not guessed: a vendor-data script (mnb_snapshot_vendor_data)
# records path, type, mtime, size, mode, owner and link target of everything under /etc,
# /usr, /opt and /var/lib. cloud-init runs vendor scripts right before the user-data's
# runcmd, in the same final stage, so that snapshot is the host the tool met; nothing else
# runs in between. Taken again after cloud-init is done, it must be identical, except for
# cloud-init's own /var/lib/cloud and the tool's state dir (where the result is recorded).
# A `find -newer` against a cloud-init file would race with cloud-init's other modules
# (ssh keys, hostname, /etc/hosts are written after write_files): this does not.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=../project.sh
. "$(dirname "$0")/../project.sh"

G=badconfig
W=$GUEST_WORK
CONFIG=/etc/minikube-none-bootstrap/config.yaml

step "render the shipped user-data with a config whose container-runtime key is misspelt"
mnb_mirror_config "$W/config.yaml"
sed -i 's/^container-runtime:/container-runtme:/' "$W/config.yaml"
line=$(grep -n '^container-runtme:' "$W/config.yaml" | cut -d: -f1)
[ -n "$line" ] || fail "the typo is not in the config"
mnb_user_data "$W/config.yaml" "$W/user-data"
mnb_snapshot_vendor_data "$W/snapshot.sh"
guest_net_prepare "$G" nspawn
mnb_mirror "$G"
mnb_boot_with "$G" trixie "$W/user-data" "$W/snapshot.sh"

step "cloud-init reports the failed runcmd"
json=$(guest_wait_cloudinit "$G" 300) && fail "cloud-init reported success: $json"
assert_eq error "$(jq -r .status <<< "$json")" "cloud-init status"
assert_contains "scripts-user" "$(jq -r '.errors | join("\n")' <<< "$json")" "cloud-init errors"
assert_contains "(runcmd)" "$(jq -r '.errors | join("\n")' <<< "$json")" "cloud-init errors"
assert_contains "Failed to run module scripts-user" "$(jq -r '.recoverable_errors.WARNING // [] | join("\n")' <<< "$json")" \
  "cloud-init recoverable_errors"
assert_eq "$CONFIG" "$(guest_exec "$G" sh -c "ls $CONFIG")" "config written by write_files"

step "result.json: config-error, exit 2, the key, the file and the line"
assert_eq apply "$(mnb_result "$G" .command)" "command"
assert_eq config-error "$(mnb_result "$G" .outcome)" "outcome"
assert_eq 2 "$(mnb_result "$G" .exit_code)" "exit_code"
assert_eq config-unknown-key "$(mnb_result "$G" .error.code)" "error.code"
msg=$(mnb_result "$G" .error.message)
# shellcheck disable=SC2016  # backquotes, as serde prints the key
assert_contains '`container-runtme`' "$msg" "error.message names the key"
assert_match "^$CONFIG:$line:1: " "$msg" "error.message names the file and the line"
assert_contains "container-runtime" "$msg" "error.message lists the known keys"
assert_match '.+' "$(mnb_result "$G" .error.remedy)" "error.remedy"
assert_eq 0 "$(mnb_result "$G" '.phases | length')" "no phase ran"
assert_eq "600" "$(guest_exec "$G" stat -c %a "$MNB_STATE/result.json")" "result.json mode"

step "nothing on the host changed"
mnb_untouched "$G"
guest_stop "$G"
