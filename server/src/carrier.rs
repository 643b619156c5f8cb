//! Carriers (SIP trunks): where calls to the telephone network go and where calls from it may
//! come from. Plain values: parsed field by field at the edge (`parse_*`), kept by `storage`,
//! used by routing and the gateway's wiring.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use ipnet::IpNet;

use crate::{config::Secret, number::E164};

pub use protocol::limits::{CARRIER_GATEWAYS_MAX as GATEWAYS_MAX, CARRIER_NAME_MAX as NAME_MAX};
pub const HOST_MAX: usize = 253;
pub const AFFIX_MAX: usize = 16;
pub const CREDENTIAL_MAX: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "udp" => Some(Transport::Udp),
            "tcp" => Some(Transport::Tcp),
            _ => None,
        }
    }
}

/// One address of a carrier's SIP proxy. A carrier's gateways are tried in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gateway {
    /// An IP address or a DNS name, lower case.
    pub host: String,
    pub port: u16,
    pub transport: Transport,
    /// Lower first (0 to 100).
    pub priority: u16,
    /// Among gateways of one priority, each is tried first in proportion to its weight
    /// (1 to 1000).
    pub weight: u16,
}

/// The order to try `gateways` in: ones that answer before ones that `down` says do not, then
/// by priority; within a priority a weighted random order, `pick(n)` being a random number
/// below `n`.
pub fn gateway_order(
    gateways: &[Gateway],
    down: impl Fn(&Gateway) -> bool,
    mut pick: impl FnMut(u32) -> u32,
) -> Vec<&Gateway> {
    let mut sorted: Vec<&Gateway> = gateways.iter().collect();
    sorted.sort_by_key(|g| (down(g), g.priority));
    let mut out = Vec::with_capacity(sorted.len());
    let mut rest = sorted.as_slice();
    while let Some(first) = rest.first() {
        let rank = (down(first), first.priority);
        let group = rest.iter().take_while(|g| (down(g), g.priority) == rank).count();
        let mut pool: Vec<&Gateway> = rest[..group].to_vec();
        while !pool.is_empty() {
            let total: u32 = pool.iter().map(|g| u32::from(g.weight.max(1))).sum();
            let mut r = pick(total).min(total - 1);
            let mut i = 0;
            while r >= u32::from(pool[i].weight.max(1)) {
                r -= u32::from(pool[i].weight.max(1));
                i += 1;
            }
            out.push(pool.remove(i));
        }
        rest = &rest[group..];
    }
    out
}

/// What outbound INVITEs put in `From`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallerIdPolicy {
    /// The calling user's first DID; without one, `fallback`; without that, anonymous.
    UserDid { fallback: Option<E164> },
    /// Always this number.
    Fixed(E164),
    /// `anonymous`.
    Anonymous,
}

impl CallerIdPolicy {
    /// `user_did`, `fixed` or `anonymous` (as stored).
    pub fn as_str(&self) -> &'static str {
        match self {
            CallerIdPolicy::UserDid { .. } => "user_did",
            CallerIdPolicy::Fixed(_) => "fixed",
            CallerIdPolicy::Anonymous => "anonymous",
        }
    }

    /// The fixed number (`Fixed`), or the fallback (`UserDid`).
    pub fn number(&self) -> Option<&E164> {
        match self {
            CallerIdPolicy::UserDid { fallback } => fallback.as_ref(),
            CallerIdPolicy::Fixed(n) => Some(n),
            CallerIdPolicy::Anonymous => None,
        }
    }

    /// The number to present for a caller who owns `dids` (oldest first); `None` is anonymous.
    pub fn caller_id<'a>(&'a self, dids: &'a [String]) -> Option<&'a str> {
        match self {
            CallerIdPolicy::UserDid { fallback } => {
                dids.first().map(String::as_str).or(fallback.as_ref().map(E164::as_str))
            }
            CallerIdPolicy::Fixed(n) => Some(n.as_str()),
            CallerIdPolicy::Anonymous => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Carrier {
    pub id: i64,
    pub name: String,
    pub enabled: bool,
    /// Digest credentials for 401/407 challenges.
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// The host in the `From` URI of outbound INVITEs.
    pub from_domain: Option<String>,
    pub caller_id: CallerIdPolicy,
    /// Removed from the front of the E.164 number before dialing (e.g. `+` or `+44`).
    pub strip_prefix: String,
    /// Put in front after stripping (e.g. `0` or `00`).
    pub prepend: String,
    /// INVITEs are accepted only from these networks.
    pub inbound: Vec<IpNet>,
    /// In order; at least one.
    pub gateways: Vec<Gateway>,
    /// Concurrent calls at most, and new calls per second at most (`None`: no limit).
    pub max_calls: Option<u32>,
    pub max_cps: Option<u32>,
    /// REGISTER with the carrier (its gateways in priority order), asking for `register_expires`
    /// seconds.
    pub register: bool,
    pub register_expires: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Carrier {
    /// The user part to dial for `number`: `strip_prefix` removed when the number starts with it,
    /// then `prepend` put in front. `+442079460123` with strip `+44`, prepend `0` → `02079460123`.
    pub fn dial_string(&self, number: &E164) -> String {
        let n = number.as_str();
        let rest = n.strip_prefix(self.strip_prefix.as_str()).unwrap_or(n);
        format!("{}{rest}", self.prepend)
    }

    /// Whether `ip` is in one of the carrier's inbound networks (IPv4-mapped IPv6 counts as IPv4).
    pub fn accepts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.inbound.iter().any(|net| net.contains(&ip))
    }
}

/// What happens to the stored password on an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordChange {
    Keep,
    Clear,
    Set(Secret),
}

/// A carrier as an administrator writes it: every field checked.
#[derive(Debug, Clone)]
pub struct CarrierSpec {
    pub name: String,
    pub enabled: bool,
    pub username: Option<String>,
    /// On create, `Keep` means none.
    pub password: PasswordChange,
    pub from_domain: Option<String>,
    pub caller_id: CallerIdPolicy,
    pub strip_prefix: String,
    pub prepend: String,
    pub inbound: Vec<IpNet>,
    pub gateways: Vec<Gateway>,
    pub max_calls: Option<u32>,
    pub max_cps: Option<u32>,
    pub register: bool,
    pub register_expires: u32,
}

/// Trimmed, 1 to 64 characters, no control characters.
pub fn parse_name(raw: &str) -> Result<String, &'static str> {
    let s = raw.trim();
    if s.is_empty() {
        return Err("is required");
    }
    if s.chars().count() > NAME_MAX {
        return Err("is too long (64 characters at most)");
    }
    if s.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    Ok(s.to_string())
}

/// An IP address (canonical text) or a DNS name (lower case).
pub fn parse_host(raw: &str) -> Result<String, &'static str> {
    let s = raw.trim();
    if s.is_empty() {
        return Err("is required");
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces");
    }
    if s.len() > HOST_MAX {
        return Err("is too long (253 characters at most)");
    }
    let bare = s.strip_prefix('[').and_then(|v| v.strip_suffix(']')).unwrap_or(s);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(ip.to_string());
    }
    let s = s.trim_end_matches('.').to_ascii_lowercase();
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if s.is_empty() || !s.split('.').all(label_ok) {
        return Err("is not an IP address or a host name");
    }
    Ok(s)
}

pub fn parse_port(port: u32) -> Result<u16, &'static str> {
    u16::try_from(port).ok().filter(|p| *p != 0).ok_or("must be between 1 and 65535")
}

/// A network (`192.0.2.0/24`) or one address (`192.0.2.7` is `/32`, `2001:db8::1` is `/128`);
/// host bits are cleared, so `192.0.2.7/24` is `192.0.2.0/24`.
pub fn parse_cidr(raw: &str) -> Result<IpNet, String> {
    let s = raw.trim();
    let net = match s.parse::<IpNet>() {
        Ok(net) => net,
        Err(_) => s
            .parse::<IpAddr>()
            .map(IpNet::from)
            .map_err(|_| format!("has {s:?}, which is not an IP address or a network"))?,
    };
    Ok(net.trunc())
}

/// `+` and digits only, at most 16 (for `strip_prefix` and `prepend`).
pub fn parse_affix(raw: &str) -> Result<String, &'static str> {
    let s = raw.trim();
    if s.len() > AFFIX_MAX {
        return Err("is too long (16 characters at most)");
    }
    if !s.bytes().all(|b| b.is_ascii_digit() || b == b'+') {
        return Err("may contain only + and digits");
    }
    Ok(s.to_string())
}

/// A SIP digest username or password: at most 128 characters, no control characters.
pub fn parse_credential(raw: &str, spaces_allowed: bool) -> Result<String, &'static str> {
    if raw.chars().count() > CREDENTIAL_MAX {
        return Err("is too long (128 characters at most)");
    }
    if raw.chars().any(char::is_control) || (!spaces_allowed && raw.chars().any(char::is_whitespace)) {
        return Err(if spaces_allowed { "must not contain control characters" } else { "must not contain spaces" });
    }
    Ok(raw.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn carrier(strip: &str, prepend: &str, inbound: &[&str]) -> Carrier {
        Carrier {
            id: 1,
            name: "t".into(),
            enabled: true,
            username: None,
            password: None,
            from_domain: None,
            caller_id: CallerIdPolicy::Anonymous,
            strip_prefix: strip.into(),
            prepend: prepend.into(),
            inbound: inbound.iter().map(|c| parse_cidr(c).unwrap()).collect(),
            gateways: vec![],
            max_calls: None,
            max_cps: None,
            register: false,
            register_expires: 3600,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn dial_string_strips_then_prepends() {
        let n = E164::from_trusted("+442079460123".into());
        assert_eq!(carrier("", "", &[]).dial_string(&n), "+442079460123");
        assert_eq!(carrier("+", "", &[]).dial_string(&n), "442079460123");
        assert_eq!(carrier("+", "00", &[]).dial_string(&n), "00442079460123");
        assert_eq!(carrier("+44", "0", &[]).dial_string(&n), "02079460123");
        // A prefix the number does not start with is left alone.
        assert_eq!(carrier("+33", "", &[]).dial_string(&n), "+442079460123");
    }

    #[test]
    fn cidrs_are_canonical_and_match() {
        assert_eq!(parse_cidr("192.0.2.7").unwrap().to_string(), "192.0.2.7/32");
        assert_eq!(parse_cidr(" 192.0.2.7/24 ").unwrap().to_string(), "192.0.2.0/24");
        assert_eq!(parse_cidr("2001:DB8::1").unwrap().to_string(), "2001:db8::1/128");
        for bad in ["", "192.0.2.300", "192.0.2.0/33", "example.com", "10.0.0.0/x"] {
            assert!(parse_cidr(bad).is_err(), "{bad:?}");
        }
        let c = carrier("", "", &["192.0.2.0/24", "2001:db8::/32"]);
        assert!(c.accepts("192.0.2.200".parse().unwrap()));
        assert!(c.accepts("::ffff:192.0.2.1".parse().unwrap()));
        assert!(c.accepts("2001:db8:1::5".parse().unwrap()));
        assert!(!c.accepts("192.0.3.1".parse().unwrap()));
    }

    #[test]
    fn hosts() {
        assert_eq!(parse_host(" SIP.Example.COM ").unwrap(), "sip.example.com");
        assert_eq!(parse_host("192.0.2.1").unwrap(), "192.0.2.1");
        assert_eq!(parse_host("[2001:db8::1]").unwrap(), "2001:db8::1");
        for bad in ["", "a b", "-x.com", "x..com", "x/y", &"a".repeat(254)] {
            assert!(parse_host(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn caller_id_policy() {
        let n = E164::from_trusted("+15550100".into());
        let dids = vec!["+442079460123".to_string()];
        let with_fallback = CallerIdPolicy::UserDid { fallback: Some(n.clone()) };
        assert_eq!(with_fallback.caller_id(&dids), Some("+442079460123"));
        assert_eq!(with_fallback.caller_id(&[]), Some("+15550100"));
        assert_eq!(CallerIdPolicy::UserDid { fallback: None }.caller_id(&[]), None);
        assert_eq!(CallerIdPolicy::Fixed(n).caller_id(&dids), Some("+15550100"));
        assert_eq!(CallerIdPolicy::Anonymous.caller_id(&dids), None);
    }

    #[test]
    fn affixes_and_ports() {
        assert_eq!(parse_affix("+44").unwrap(), "+44");
        assert!(parse_affix("0a").is_err());
        assert!(parse_affix(&"1".repeat(17)).is_err());
        assert_eq!(parse_port(5060), Ok(5060));
        assert!(parse_port(0).is_err());
        assert!(parse_port(65536).is_err());
    }

    #[test]
    fn gateways_go_by_health_then_priority_then_weight() {
        let gw = |host: &str, priority, weight| Gateway {
            host: host.into(),
            port: 5060,
            transport: Transport::Udp,
            priority,
            weight,
        };
        let list = [gw("a", 1, 1), gw("b", 0, 1), gw("c", 0, 3), gw("d", 0, 1), gw("down", 0, 9)];
        let order = |picks: &[u32]| {
            let mut picks = picks.iter().copied();
            gateway_order(&list, |g| g.host == "down", |_| picks.next().unwrap_or(0))
                .iter()
                .map(|g| g.host.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        };
        // Priority 0 first (b, c, d by weight 1:3:1), then a, then the gateway that is down.
        assert_eq!(order(&[0, 0, 0]), "b c d a down");
        assert_eq!(order(&[1, 0, 0]), "c b d a down");
        assert_eq!(order(&[3, 0, 0]), "c b d a down");
        assert_eq!(order(&[4, 0, 0]), "d b c a down");
        // How often each is first over every pick of the total weight (5): 1, 3, 1.
        let firsts: Vec<String> = (0..5).map(|r| order(&[r])[..1].to_string()).collect();
        assert_eq!(firsts, ["b", "c", "c", "c", "d"]);
    }
}
