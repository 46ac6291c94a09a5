//! What `reset` needs from the machine beyond files: bounded commands, leftover mounts under
//! /var/lib/kubelet, the network interfaces and netfilter rules a cluster makes, and package
//! removal. Parsers are pure functions (tested inline); the commands only run on a live host.

mod links;
mod mounts;
mod netfilter;
mod packages;
mod runtime_state;

pub use links::{LINKS_FILE, Link, cluster_links, delete_link, links, record_links, recorded_links};
pub use mounts::{current_mounts_below, mounts_below, unmount_below};
pub use netfilter::{
    NETFILTER_FILE, NftChain, NftNames, TableCleanup, clean_dump, cluster_chain, iptables_apply, iptables_cleanup,
    iptables_tools, neutral_leftovers, nft_delete, nft_delete_object, nft_neutral_leftovers, nft_tables,
    parse_nft_tables, parse_ruleset, record_netfilter,
};
pub use packages::{apt_simulated, installed, purge, would_install};
pub use runtime_state::{RUNTIME_STATE, RUNTIME_STATE_FILE, record_runtime_state, runtime_state_made};

pub use super::cmd::{run_bounded, run_ok};
use std::time::Duration;

const SHORT: Duration = Duration::from_secs(30);
