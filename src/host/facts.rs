//! Host facts for the result document.

use super::Host;
use crate::result::HostFacts;

pub fn collect(host: &Host, today: jiff::civil::Date) -> HostFacts {
    let _ = today;
    HostFacts {
        arch: std::env::consts::ARCH.to_string(),
        hostname: host.read_value("/proc/sys/kernel/hostname").or_else(|| host.read_value("/etc/hostname")),
        machine_id: host.read_value("/etc/machine-id").filter(|s| !s.is_empty()),
        ..HostFacts::default()
    }
}
