//! The SSRF guard. Registered URLs are fetched from the hub's own network, so every target is
//! checked: the scheme, literal IP addresses (in the URL and in every redirect), and every address
//! a host name resolves to (in the resolver itself, so what is checked is what is connected to).
//! Only public unicast addresses pass, unless an exact `host:port` is on the allowlist.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The guard's decisions, with the allowlist from the settings.
#[derive(Debug, Default)]
pub struct Guard {
    /// Exact `host:port` pairs allowed although not public (host lower-case, IPv6 without brackets).
    allowed: HashSet<(String, u16)>,
    /// Host names in the allowlist: these may resolve to non-public addresses.
    allowed_names: HashSet<String>,
}

/// Why a target was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Blocked(pub String);

impl Guard {
    /// A guard with an allowlist of `host:port` entries.
    pub fn new(allow: &[String]) -> Result<Guard, String> {
        let mut guard = Guard::default();
        for entry in allow {
            let url = url::Url::parse(&format!("http://{entry}"))
                .map_err(|_| format!("fetch allowlist entry `{entry}` is not host:port"))?;
            let (Some(host), Some(port)) = (url.host_str(), url.port()) else {
                return Err(format!("fetch allowlist entry `{entry}` needs an explicit port"));
            };
            let host = host.trim_matches(['[', ']']).to_ascii_lowercase();
            if host.parse::<IpAddr>().is_err() {
                guard.allowed_names.insert(host.clone());
            }
            guard.allowed.insert((host, port));
        }
        Ok(guard)
    }

    /// Adds an exact socket address to the allowlist (the demo's and the tests' own servers).
    pub fn allow(&mut self, addr: SocketAddr) {
        self.allowed.insert((addr.ip().to_string(), addr.port()));
    }

    fn is_allowed(&self, host: &str, port: u16) -> bool {
        self.allowed.contains(&(host.to_ascii_lowercase(), port))
    }

    /// Checks a URL before it is fetched and at every redirect.
    pub fn check_url(&self, url: &url::Url) -> Result<(), Blocked> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Blocked(format!("refused to fetch {}: only http and https are fetched", url.scheme())));
        }
        let port = url.port_or_known_default().unwrap_or(0);
        match url.host() {
            None => Err(Blocked("refused to fetch a URL without a host".into())),
            Some(url::Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip), port),
            Some(url::Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip), port),
            Some(url::Host::Domain(name)) => {
                let lower = name.to_ascii_lowercase();
                if self.is_allowed(&lower, port) {
                    return Ok(());
                }
                if self.allowed_names.contains(&lower) {
                    // The resolver lets an allowlisted name reach private addresses, so the name
                    // is fetched on its allowlisted ports only.
                    return Err(Blocked(format!(
                        "refused to fetch {name}:{port}: only its allowlisted ports are fetched"
                    )));
                }
                if lower == "localhost" || lower.ends_with(".localhost") {
                    return Err(Blocked(format!("refused to fetch {name}: it is this machine")));
                }
                Ok(())
            }
        }
    }

    /// [`Guard::check_url`], and for a host name, that it resolves to a public address now (or is
    /// allowlisted): what a registration is checked with, before anything is stored. Polls check
    /// the address actually connected to as well ([`GuardedResolver`]).
    pub async fn check_target(&self, url: &url::Url) -> Result<(), Blocked> {
        self.check_url(url)?;
        let Some(url::Host::Domain(name)) = url.host() else { return Ok(()) };
        let port = url.port_or_known_default().unwrap_or(0);
        let lower = name.to_ascii_lowercase();
        if self.is_allowed(&lower, port) || self.allowed_names.contains(&lower) {
            return Ok(());
        }
        let resolved: Vec<SocketAddr> = tokio::net::lookup_host((name, port))
            .await
            .map_err(|_| Blocked(format!("{name} does not resolve; check the address")))?
            .collect();
        if resolved.iter().any(|a| is_public(a.ip())) {
            return Ok(());
        }
        match resolved.first() {
            // Which internal address it is stays on the hub: the reason is shown to whoever
            // registered the URL, and on the feed.
            Some(private) => {
                tracing::info!(name, address = %private.ip(), "refused a name resolving to a non-public address");
                Err(Blocked(format!("refused to fetch {name}: it resolves only to addresses that are not public")))
            }
            None => Err(Blocked(format!("{name} does not resolve; check the address"))),
        }
    }

    fn check_ip(&self, ip: IpAddr, port: u16) -> Result<(), Blocked> {
        if is_public(ip) || self.is_allowed(&ip.to_string(), port) {
            Ok(())
        } else {
            Err(Blocked(format!("refused to fetch {ip}: not a public address")))
        }
    }
}

/// Whether `ip` is a public unicast address: not loopback, private, link-local, shared (CGNAT),
/// documentation, benchmarking, multicast, reserved, or an IPv6 form embedding one of those.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) embed IPv4 addresses.
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                return is_public_v4(Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8));
            }
            if s[0] == 0x2002 {
                return is_public_v4(Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8));
            }
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]) // discard-only
                || v6 == Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 1)
                || (s[0..6] == [0, 0, 0, 0, 0, 0])) // IPv4-compatible (deprecated)
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || o[0] == 0 // "this network"
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // shared address space (CGNAT)
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking
        || o[0] >= 240) // reserved
}

/// A DNS resolver that drops non-public addresses (unless the name is allowlisted) and fails when
/// none is left, so a name cannot smuggle a fetch to a private address, however it resolves.
pub struct GuardedResolver {
    /// The guard whose allowlist applies.
    pub guard: Arc<Guard>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = Arc::clone(&self.guard);
        Box::pin(async move {
            let host = name.as_str().to_string();
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let open = guard.allowed_names.contains(&host.to_ascii_lowercase());
            let public: Vec<SocketAddr> = resolved.iter().copied().filter(|a| open || is_public(a.ip())).collect();
            if public.is_empty() {
                let err: Box<dyn std::error::Error + Send + Sync> = match resolved.first() {
                    Some(addr) => {
                        tracing::info!(host, address = %addr.ip(), "refused a name resolving to a non-public address");
                        Box::new(Blocked(format!(
                            "refused to fetch {host}: it resolves only to addresses that are not public"
                        )))
                    }
                    None => Box::new(Blocked(format!("{host} does not resolve"))),
                };
                return Err(err);
            }
            let addrs: Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for s in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "198.18.0.1",
            "192.0.2.1",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:a00:1::",
            "2001:db8::1",
        ] {
            assert!(!is_public(ip(s)), "{s} should not be public");
        }
        for s in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "::ffff:1.1.1.1"] {
            assert!(is_public(ip(s)), "{s} should be public");
        }
    }

    #[test]
    fn literal_private_urls_are_refused_unless_exactly_allowlisted() {
        let guard = Guard::new(&["127.0.0.1:9000".to_string()]).unwrap();
        let url = |s: &str| url::Url::parse(s).unwrap();
        assert!(guard.check_url(&url("http://127.0.0.1:9000/feed")).is_ok());
        assert!(guard.check_url(&url("http://127.0.0.1:9001/feed")).is_err());
        assert!(guard.check_url(&url("http://[::1]:9000/")).is_err());
        assert!(guard.check_url(&url("http://169.254.169.254/latest/meta-data")).is_err());
        assert!(guard.check_url(&url("http://localhost:9000/")).is_err());
        assert!(guard.check_url(&url("ftp://example.org/")).is_err());
        assert!(guard.check_url(&url("https://example.org/feed")).is_ok());
    }

    #[test]
    fn allowlisted_names_are_fetched_on_their_ports_only() {
        let guard = Guard::new(&["feeds.internal:9000".to_string()]).unwrap();
        let url = |s: &str| url::Url::parse(s).unwrap();
        assert!(guard.check_url(&url("http://feeds.internal:9000/a.xml")).is_ok());
        assert!(guard.check_url(&url("http://feeds.internal:22/")).is_err());
        assert!(guard.check_url(&url("http://feeds.internal/")).is_err());
    }

    #[tokio::test]
    async fn names_resolving_to_private_addresses_are_refused() {
        let resolver = GuardedResolver { guard: Arc::new(Guard::default()) };
        let err = resolver.resolve("localhost".parse::<Name>().unwrap()).await.err().expect("refused");
        assert!(err.to_string().contains("resolves only to addresses that are not public"), "{err}");
        assert!(!err.to_string().contains("127.0.0.1"), "the address itself stays in the hub's log: {err}");
    }
}
