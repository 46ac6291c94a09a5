//! Validated value types: a bad value is refused while parsing, so the YAML error carries
//! the key's line, and the same parser serves flags and environment variables.

use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;
use std::str::FromStr;

macro_rules! via_from_str {
    ($t:ty) => {
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_string())
            }
        }
    };
}

/// A release version `vMAJOR.MINOR.PATCH` (the leading `v` is added when missing).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl FromStr for Version {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("'{s}' is not a version like v1.34.0");
        let digits = s.strip_prefix('v').unwrap_or(s);
        let parts: Vec<&str> = digits.split('.').collect();
        if parts.len() != 3 || parts.iter().any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
            return Err(bad());
        }
        let n = |i: usize| parts[i].parse::<u32>().map_err(|_| bad());
        Ok(Version { major: n(0)?, minor: n(1)?, patch: n(2)? })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}.{}", self.major, self.minor, self.patch)
    }
}
via_from_str!(Version);

impl Version {
    /// The version without its `v` (cri-dockerd release names use that form).
    pub fn bare(&self) -> String {
        format!("{}.{}.{}", self.major, self.minor, self.patch)
    }
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }
}

/// A lowercase hex sha256 digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sha256(pub String);

impl FromStr for Sha256 {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Sha256(s.to_ascii_lowercase()))
        } else {
            Err(format!("'{s}' is not a sha256 digest (64 hex characters)"))
        }
    }
}
impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
via_from_str!(Sha256);

/// The CRI runtime minikube is started with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    Containerd,
    Docker,
    CriO,
}

impl FromStr for Runtime {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "containerd" => Ok(Runtime::Containerd),
            "docker" => Ok(Runtime::Docker),
            "cri-o" | "crio" => Ok(Runtime::CriO),
            _ => Err(format!("unknown container runtime '{s}' (use containerd, docker or cri-o)")),
        }
    }
}
impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Runtime::Containerd => "containerd",
            Runtime::Docker => "docker",
            Runtime::CriO => "cri-o",
        })
    }
}
via_from_str!(Runtime);

/// A duration: whole seconds, or a number with a unit `s`, `m`, `h` (`90s`, `10m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duration(pub std::time::Duration);

impl FromStr for Duration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("'{s}' is not a duration like 600, 90s, 10m or 1h");
        let (num, mult) = match s.as_bytes().last() {
            Some(b's') => (&s[..s.len() - 1], 1),
            Some(b'm') => (&s[..s.len() - 1], 60),
            Some(b'h') => (&s[..s.len() - 1], 3600),
            _ => (s, 1),
        };
        let n: u64 = num.parse().map_err(|_| bad())?;
        if n == 0 {
            return Err(bad());
        }
        Ok(Duration(std::time::Duration::from_secs(n * mult)))
    }
}
impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}s", self.0.as_secs())
    }
}
impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Secs(n) => n.to_string().parse(),
            Raw::Text(s) => s.parse(),
        }
        .map_err(serde::de::Error::custom)
    }
}
impl Serialize for Duration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// An https (or explicitly allowed http) base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl(pub String);

impl FromStr for BaseUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let rest = s
            .strip_prefix("https://")
            .or_else(|| s.strip_prefix("http://"))
            .ok_or_else(|| format!("'{s}' is not an http(s) URL"))?;
        if rest.is_empty() || rest.starts_with('/') || s.contains(char::is_whitespace) {
            return Err(format!("'{s}' has no host"));
        }
        Ok(BaseUrl(s.trim_end_matches('/').to_string()))
    }
}
impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
via_from_str!(BaseUrl);

/// A Linux user name (useradd's rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(pub String);

impl FromStr for UserName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let ok = !s.is_empty()
            && s.len() <= 32
            && s.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if ok { Ok(UserName(s.to_string())) } else { Err(format!("'{s}' is not a valid user name")) }
    }
}
impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
via_from_str!(UserName);

/// A DNS name (RFC 1123 labels), as used in `apiserver-names`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsName(pub String);

pub fn is_rfc1123_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

impl FromStr for DnsName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if is_rfc1123_name(s) {
            Ok(DnsName(s.to_string()))
        } else {
            Err(format!("'{s}' is not a lowercase RFC 1123 DNS name"))
        }
    }
}
impl fmt::Display for DnsName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
via_from_str!(DnsName);

/// `component.key=value`, passed to minikube as `--extra-config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraConfig(pub String);

impl FromStr for ExtraConfig {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        const COMPONENTS: [&str; 7] =
            ["kubelet", "kubeadm", "apiserver", "controller-manager", "scheduler", "etcd", "proxy"];
        let (lhs, _) = s.split_once('=').ok_or_else(|| format!("'{s}' is not component.key=value"))?;
        let (component, key) = lhs.split_once('.').ok_or_else(|| format!("'{s}' is not component.key=value"))?;
        if !COMPONENTS.contains(&component) || key.is_empty() {
            return Err(format!("'{s}': component must be one of {}", COMPONENTS.join(", ")));
        }
        Ok(ExtraConfig(s.to_string()))
    }
}
impl fmt::Display for ExtraConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
via_from_str!(ExtraConfig);

/// What to do with swap: leave it (default) or turn it off (kubelet's default refuses swap).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SwapPolicy {
    #[default]
    Leave,
    Off,
}

impl FromStr for SwapPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "leave" => Ok(SwapPolicy::Leave),
            "off" => Ok(SwapPolicy::Off),
            _ => Err(format!("'{s}' is not a swap policy (leave or off)")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!("1.34.0".parse::<Version>().map(|v| v.to_string()), Ok("v1.34.0".into()));
        assert!("v1.34".parse::<Version>().is_err());
        assert!("latest".parse::<Version>().is_err());
        assert!("v1.x.0".parse::<Version>().is_err());
        assert!("v1.34.0".parse::<Version>().expect("v").at_least(1, 24));
    }

    #[test]
    fn durations() {
        assert_eq!("10m".parse::<Duration>().map(|d| d.0.as_secs()), Ok(600));
        assert_eq!("90".parse::<Duration>().map(|d| d.0.as_secs()), Ok(90));
        assert!("0".parse::<Duration>().is_err());
        assert!("ten".parse::<Duration>().is_err());
    }

    #[test]
    fn names_and_urls() {
        assert!(is_rfc1123_name("node-1.example"));
        assert!(!is_rfc1123_name("my_host"));
        assert!("ftp://x".parse::<BaseUrl>().is_err());
        assert_eq!("https://m.test/a/".parse::<BaseUrl>().map(|u| u.0), Ok("https://m.test/a".into()));
        assert!("kubelet.max-pods=50".parse::<ExtraConfig>().is_ok());
        assert!("kublet.max-pods=50".parse::<ExtraConfig>().is_err());
        assert!("Root".parse::<UserName>().is_err());
    }
}
