//! /etc/os-release (os-release(5)) and the dated release table behind the support window:
//! the none driver supports Debian, Ubuntu and Fedora releases less than two years old.

use super::Host;
use crate::result::Support;
use jiff::ToSpan;
use jiff::civil::{Date, date};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsRelease {
    pub id: String,
    pub id_like: Vec<String>,
    pub name: String,
    pub pretty_name: String,
    pub version_id: Option<String>,
    pub version_codename: Option<String>,
}

/// Parses os-release text: `KEY=value`, shell-style quotes and backslash escapes, `#` comments.
pub fn parse(text: &str) -> OsRelease {
    let mut os = OsRelease {
        id: "linux".into(),
        id_like: Vec::new(),
        name: "Linux".into(),
        pretty_name: String::new(),
        version_id: None,
        version_codename: None,
    };
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, raw)) = line.split_once('=') else {
            continue;
        };
        let value = unquote(raw);
        let some = |v: String| (!v.is_empty()).then_some(v);
        match key.trim() {
            "ID" if !value.is_empty() => os.id = value,
            "ID_LIKE" => os.id_like = value.split_whitespace().map(str::to_string).collect(),
            "NAME" if !value.is_empty() => os.name = value,
            "PRETTY_NAME" => os.pretty_name = value,
            "VERSION_ID" => os.version_id = some(value),
            "VERSION_CODENAME" => os.version_codename = some(value),
            _ => {}
        }
    }
    if os.pretty_name.is_empty() {
        // os-release(5) defaults PRETTY_NAME to "Linux"; NAME says more.
        os.pretty_name = os.name.clone();
    }
    os
}

/// Undoes shell quoting: "…" (\" \\ \$ \` escapes), '…' (literal), bare (\x escapes).
fn unquote(raw: &str) -> String {
    let mut out = String::new();
    let mut chars = raw.trim().chars();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => out.push(c),
            (Some(_), '\\') => match chars.next() {
                Some(e @ ('"' | '\\' | '$' | '`')) => out.push(e),
                Some(e) => {
                    out.push('\\');
                    out.push(e);
                }
                None => out.push('\\'),
            },
            (None, '\\') => out.extend(chars.next()),
            (None, c) if c.is_whitespace() => break, // an unquoted value ends at whitespace
            (_, c) => out.push(c),
        }
    }
    out
}

/// Reads /etc/os-release, falling back to /usr/lib/os-release as os-release(5) says.
pub fn read(host: &Host) -> Option<OsRelease> {
    host.read("/etc/os-release").or_else(|| host.read("/usr/lib/os-release")).map(|t| parse(&t))
}

impl OsRelease {
    /// Whether the distribution is `family` or says it is like it (ID_LIKE).
    pub fn is_like(&self, family: &str) -> bool {
        self.id == family || self.id_like.iter().any(|l| l == family)
    }
    pub fn is_debian_family(&self) -> bool {
        self.is_like("debian") || self.is_like("ubuntu")
    }
    pub fn is_fedora_family(&self) -> bool {
        self.is_like("fedora") || self.is_like("rhel")
    }
}

/// One release of a supported distribution and the day it was released.
#[derive(Debug, Clone, Copy)]
pub struct Release {
    pub id: &'static str,
    pub version_id: &'static str,
    pub codename: &'static str,
    pub released: Date,
}

const fn rel(id: &'static str, version_id: &'static str, codename: &'static str, released: Date) -> Release {
    Release { id, version_id, codename, released }
}

/// Release dates from distro-info-data (Debian, Ubuntu) and the Fedora release announcements.
pub const RELEASES: &[Release] = &[
    rel("debian", "11", "bullseye", date(2021, 8, 14)),
    rel("debian", "12", "bookworm", date(2023, 6, 10)),
    rel("debian", "13", "trixie", date(2025, 8, 9)),
    rel("ubuntu", "22.04", "jammy", date(2022, 4, 21)),
    rel("ubuntu", "24.04", "noble", date(2024, 4, 25)),
    rel("ubuntu", "24.10", "oracular", date(2024, 10, 10)),
    rel("ubuntu", "25.04", "plucky", date(2025, 4, 17)),
    rel("ubuntu", "25.10", "questing", date(2025, 10, 9)),
    rel("ubuntu", "26.04", "resolute", date(2026, 4, 23)),
    rel("fedora", "40", "", date(2024, 4, 23)),
    rel("fedora", "41", "", date(2024, 10, 29)),
    rel("fedora", "42", "", date(2025, 4, 15)),
    rel("fedora", "43", "", date(2025, 10, 28)),
    rel("fedora", "44", "", date(2026, 4, 28)),
];

pub const SUPPORTED_IDS: [&str; 3] = ["debian", "ubuntu", "fedora"];

/// Where a release stands against the support window on `today`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// In the table and less than two years old; `until` is the last day of its window.
    Supported { release: Release, until: Date },
    /// In the table, older than two years; its window ended on `ended`.
    OutsideWindow { release: Release, ended: Date },
    /// A supported id, newer than every release the table knows (or testing/unstable).
    NewerThanTable,
    /// A supported id, a version the table does not know; `older`: older than all it knows.
    UnknownVersion { older: bool },
    /// Another distribution.
    OtherDistribution,
}

impl PartialEq for Release {
    fn eq(&self, other: &Self) -> bool {
        (self.id, self.version_id) == (other.id, other.version_id)
    }
}
impl Eq for Release {}

/// `24.04` → [24, 4]; a version with anything but dotted numbers is not comparable.
fn numeric(v: &str) -> Option<Vec<u64>> {
    v.split('.').map(|p| p.parse().ok()).collect()
}

fn window_end(released: Date) -> Date {
    released.checked_add(2.years()).unwrap_or(Date::MAX)
}

pub fn standing(os: &OsRelease, today: Date) -> Standing {
    if !SUPPORTED_IDS.contains(&os.id.as_str()) {
        return Standing::OtherDistribution;
    }
    let known: Vec<&Release> = RELEASES.iter().filter(|r| r.id == os.id).collect();
    let found = match (&os.version_id, &os.version_codename) {
        (Some(v), _) => known.iter().find(|r| r.version_id == v),
        // Debian testing/sid has a codename and no VERSION_ID.
        (None, Some(c)) => known.iter().find(|r| r.codename == c),
        (None, None) => None,
    };
    if let Some(r) = found {
        let end = window_end(r.released);
        return if today < end {
            Standing::Supported { release: **r, until: end.yesterday().unwrap_or(end) }
        } else {
            Standing::OutsideWindow { release: **r, ended: end }
        };
    }
    let Some(v) = os.version_id.as_deref().and_then(numeric) else {
        return if os.version_id.is_none() {
            Standing::NewerThanTable
        } else {
            Standing::UnknownVersion { older: false }
        };
    };
    let versions: Vec<Vec<u64>> = known.iter().filter_map(|r| numeric(r.version_id)).collect();
    match (versions.iter().min(), versions.iter().max()) {
        (_, Some(max)) if v > *max => Standing::NewerThanTable,
        (Some(min), _) if v < *min => Standing::UnknownVersion { older: true },
        _ => Standing::UnknownVersion { older: false },
    }
}

/// The newest release of `id` in the table (for "upgrade to …" remedies).
pub fn newest(id: &str) -> Option<&'static Release> {
    RELEASES.iter().filter(|r| r.id == id).max_by_key(|r| r.released)
}

/// The support window verdict for the result's host facts.
pub fn support(os: &OsRelease, today: Date) -> Support {
    let name = &os.pretty_name;
    match standing(os, today) {
        Standing::Supported { release, until } => Support {
            status: "supported",
            released: Some(release.released.to_string()),
            note: format!("{name} is inside the two-year support window until {until}"),
        },
        Standing::OutsideWindow { release, ended } => Support {
            status: "outside-window",
            released: Some(release.released.to_string()),
            note: format!("{name} is older than the supported window (it ended {ended}); likely to work"),
        },
        Standing::NewerThanTable => Support {
            status: "newer-than-table",
            released: None,
            note: format!("{name} is newer than the releases this tool knows; treated as supported"),
        },
        Standing::UnknownVersion { older: true } => Support {
            status: "outside-window",
            released: None,
            note: format!("{name} is older than every release this tool knows: outside the supported window"),
        },
        Standing::UnknownVersion { older: false } => Support {
            status: "unknown",
            released: None,
            note: format!("{name}: version {} is not in the release table", os.version_id.as_deref().unwrap_or("?")),
        },
        Standing::OtherDistribution => Support {
            status: "other-distribution",
            released: None,
            note: format!("{name} is not Debian, Ubuntu or Fedora; any systemd distribution is likely to work"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_escapes_and_comments() {
        let os = parse(
            "# c\nID=\"debian\"\nNAME='Deb \"x\"'\nPRETTY_NAME=\"a \\\"b\\\" \\$c\"\n\
             VERSION_ID=\nID_LIKE=\"rhel centos fedora\"\n",
        );
        assert_eq!(os.id, "debian");
        assert_eq!(os.name, "Deb \"x\"");
        assert_eq!(os.pretty_name, "a \"b\" $c");
        assert_eq!(os.version_id, None);
        assert_eq!(os.id_like, ["rhel", "centos", "fedora"]);
        assert_eq!(parse("").id, "linux");
    }

    #[test]
    fn windows_by_date() {
        let os = |id: &str, v: &str| parse(&format!("ID={id}\nVERSION_ID={v}\n"));
        let day = date(2026, 12, 3);
        assert_eq!(support(&os("ubuntu", "25.10"), day).status, "supported");
        assert_eq!(support(&os("ubuntu", "24.04"), day).status, "outside-window");
        assert_eq!(support(&os("fedora", "45"), day).status, "newer-than-table");
        assert_eq!(support(&os("debian", "10"), day).status, "outside-window");
        assert_eq!(support(&os("ubuntu", "23.10"), day).status, "unknown");
        assert_eq!(support(&os("arch", "1"), day).status, "other-distribution");
        // The last day inside the window, and the first day outside it.
        assert_eq!(support(&os("fedora", "41"), date(2026, 10, 28)).status, "supported");
        assert_eq!(support(&os("fedora", "41"), date(2026, 10, 29)).status, "outside-window");
        let sid = parse("ID=debian\nVERSION_CODENAME=forky\n");
        assert_eq!(standing(&sid, day), Standing::NewerThanTable);
    }
}
