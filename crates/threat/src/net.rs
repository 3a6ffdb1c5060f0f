//! Parsing and normalising indicator values: addresses, networks, e-mail addresses, domains.
//! Every reader goes through these so that one value always has one spelling in the index.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`) are the IPv4 address they carry.
pub fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// Parses `192.0.2.1`, `192.0.2.0/24`, `2001:db8::/32` or `::ffff:192.0.2.0/120`. Host bits
/// below the prefix are cleared (`192.0.2.77/24` is `192.0.2.0/24`), as firewalls read them.
/// The message says what is wrong, for the reader's line error.
pub fn parse_ip_or_cidr(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty address".to_owned());
    }
    let (address_text, prefix_text) = match text.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (text, None),
    };
    let address: IpAddr = address_text
        .parse()
        .map_err(|_| format!("{address_text:?} is not an IP address"))?;
    let prefix = match prefix_text {
        None => None,
        Some(prefix) => {
            if prefix.is_empty() || !prefix.bytes().all(|byte| byte.is_ascii_digit()) {
                return Err(format!("{prefix:?} is not a prefix length"));
            }
            Some(
                prefix
                    .parse::<u8>()
                    .map_err(|_| format!("prefix length {prefix} is out of range"))?,
            )
        }
    };
    network(address, prefix)
}

fn network(address: IpAddr, prefix: Option<u8>) -> Result<IpNet, String> {
    match address {
        IpAddr::V4(v4) => v4_network(v4, prefix.unwrap_or(32)),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            // A mapped network's prefix counts the 96 bits of the mapping.
            Some(v4) => match prefix {
                None => v4_network(v4, 32),
                Some(prefix) if prefix >= 96 => v4_network(v4, prefix - 96),
                Some(prefix) => v6_network(v6, prefix),
            },
            None => v6_network(v6, prefix.unwrap_or(128)),
        },
    }
}

fn v4_network(address: Ipv4Addr, prefix: u8) -> Result<IpNet, String> {
    Ipv4Net::new(address, prefix)
        .map(|net| IpNet::V4(net.trunc()))
        .map_err(|_| format!("prefix length {prefix} is longer than 32"))
}

fn v6_network(address: Ipv6Addr, prefix: u8) -> Result<IpNet, String> {
    Ipv6Net::new(address, prefix)
        .map(|net| IpNet::V6(net.trunc()))
        .map_err(|_| format!("prefix length {prefix} is longer than 128"))
}

/// Lower-cases and trims a domain, drops a trailing dot, and checks it is a plausible host
/// name: dot-separated labels of letters, digits, `-` and `_`, each 1–63 characters, no IP
/// address. Internationalised names are expected in their `xn--` form, as feeds ship them.
pub fn normalize_domain(text: &str) -> Result<String, String> {
    let trimmed = text.trim();
    let domain = trimmed
        .strip_suffix('.')
        .unwrap_or(trimmed)
        .to_ascii_lowercase();
    if domain.is_empty() {
        return Err("empty domain".to_owned());
    }
    if domain.len() > 253 {
        return Err(format!("{trimmed:?} is longer than 253 characters"));
    }
    if domain.parse::<IpAddr>().is_ok() {
        return Err(format!("{trimmed:?} is an IP address, not a domain"));
    }
    let valid_labels = domain.split('.').all(|label| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
    });
    if !valid_labels {
        return Err(format!("{trimmed:?} is not a domain name"));
    }
    Ok(domain)
}

/// Lower-cases and trims an e-mail address (and `<…>` around it) and checks it has a
/// non-empty local part and a valid domain. Matching is case-insensitive on the whole
/// address, which is what mail systems do in practice.
pub fn normalize_email(text: &str) -> Result<String, String> {
    let trimmed = text.trim();
    let bare = trimmed
        .strip_prefix('<')
        .and_then(|rest| rest.strip_suffix('>'))
        .unwrap_or(trimmed)
        .trim();
    let Some((local, domain)) = bare.rsplit_once('@') else {
        return Err(format!("{trimmed:?} is not an e-mail address"));
    };
    if local.is_empty() || local.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{trimmed:?} is not an e-mail address"));
    }
    let domain =
        normalize_domain(domain).map_err(|_| format!("{trimmed:?} is not an e-mail address"))?;
    Ok(format!("{}@{domain}", local.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_host_bits_are_cleared() {
        let net = parse_ip_or_cidr("192.0.2.77/24").unwrap();
        assert_eq!(net.to_string(), "192.0.2.0/24");
    }

    #[test]
    fn mapped_addresses_become_ipv4() {
        assert_eq!(
            parse_ip_or_cidr("::ffff:192.0.2.1").unwrap().to_string(),
            "192.0.2.1/32"
        );
        assert_eq!(
            parse_ip_or_cidr("::ffff:192.0.2.0/120")
                .unwrap()
                .to_string(),
            "192.0.2.0/24"
        );
    }

    #[test]
    fn bad_networks_say_why() {
        assert_eq!(
            parse_ip_or_cidr("300.1.1.1/33").unwrap_err(),
            "\"300.1.1.1\" is not an IP address"
        );
        assert_eq!(
            parse_ip_or_cidr("10.1.1.1/33").unwrap_err(),
            "prefix length 33 is longer than 32"
        );
        assert_eq!(
            parse_ip_or_cidr("10.1.1.1/x").unwrap_err(),
            "\"x\" is not a prefix length"
        );
    }

    #[test]
    fn domains_and_emails_normalise() {
        assert_eq!(
            normalize_domain(" Evil.Example.COM. ").unwrap(),
            "evil.example.com"
        );
        assert!(normalize_domain("bad domain.com").is_err());
        assert!(normalize_domain("1.2.3.4").is_err());
        assert_eq!(
            normalize_email("<Bob@Evil.Example>").unwrap(),
            "bob@evil.example"
        );
        assert!(normalize_email("no-at-sign").is_err());
    }
}
