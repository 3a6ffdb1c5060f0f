//! Sender and destination IP addresses. Geolocation dashboards must show real places, so every
//! public address comes from a block that DB-IP Lite City places in the country claimed here.
//! Private and null addresses model internal relays and system-generated mail.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rand::Rng;

/// A block of addresses: network bits plus prefix length.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Net {
    V4(u32, u8),
    V6(u128, u8),
}

const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Net {
    Net::V4(u32::from_be_bytes([a, b, c, d]), prefix)
}

const fn v6(a: u16, b: u16, c: u16, prefix: u8) -> Net {
    Net::V6(
        ((a as u128) << 112) | ((b as u128) << 96) | ((c as u128) << 80),
        prefix,
    )
}

/// One row of the table: where DB-IP places the block (None: spread over many countries, as
/// anycast and multi-region cloud blocks are) and who runs it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Block {
    pub country: Option<&'static str>,
    pub provider: &'static str,
    pub net: Net,
}

const fn b(country: &'static str, provider: &'static str, net: Net) -> Block {
    Block {
        country: Some(country),
        provider,
        net,
    }
}

/// Public blocks by country. Checked against DB-IP Lite City (dbip-city-ipv4/ipv6.mmdb from
/// @ip-location-db, 2025): 400 random addresses per block, at least 97% of them in the stated
/// country (most 100%). Blocks that failed that check (e.g. Amazon SES, parts of Free, Jio's
/// IPv4 pool, several Latin American /12s) were left out rather than mislabelled.
pub(crate) const COUNTRY_BLOCKS: &[Block] = &[
    b("DE", "Deutsche Telekom", v4(87, 128, 0, 0, 10)),
    b("DE", "Deutsche Telekom", v4(91, 0, 0, 0, 10)),
    b("DE", "Hetzner", v4(88, 198, 0, 0, 16)),
    b("DE", "Deutsche Telekom", v6(0x2003, 0, 0, 19)),
    b("DE", "Vodafone DE", v6(0x2a02, 0x8100, 0, 27)),
    b("FR", "Orange", v4(90, 0, 0, 0, 10)),
    b("FR", "Orange", v4(86, 192, 0, 0, 11)),
    b("FR", "Free", v4(82, 64, 0, 0, 14)),
    b("FR", "Orange", v6(0x2a01, 0xc000, 0, 19)),
    b("GB", "BT", v4(86, 128, 0, 0, 10)),
    b("GB", "BT", v4(81, 128, 0, 0, 12)),
    b("GB", "BT", v6(0x2a00, 0x23c0, 0, 26)),
    b("NL", "KPN", v4(77, 160, 0, 0, 12)),
    b("NL", "Ziggo", v4(84, 24, 0, 0, 13)),
    b("NL", "Ziggo", v6(0x2a02, 0xa400, 0, 26)),
    b("ES", "Telefonica", v4(88, 0, 0, 0, 11)),
    b("IT", "TIM", v4(79, 0, 0, 0, 10)),
    b("PL", "Orange Polska", v4(83, 0, 0, 0, 11)),
    b("SE", "Telia", v4(78, 64, 0, 0, 12)),
    b("CH", "Swisscom", v4(85, 0, 0, 0, 13)),
    b("AT", "A1 Telekom", v4(62, 46, 0, 0, 15)),
    b("BE", "Proximus", v4(91, 176, 0, 0, 13)),
    b("IE", "Eir", v4(86, 40, 0, 0, 13)),
    b("PT", "MEO", v4(85, 240, 0, 0, 13)),
    b("RU", "Beeline", v4(95, 24, 0, 0, 13)),
    b("UA", "Kyivstar", v4(46, 211, 0, 0, 16)),
    b("TR", "Turk Telekom", v4(78, 160, 0, 0, 11)),
    b("US", "Comcast", v4(73, 0, 0, 0, 8)),
    b("US", "Comcast", v6(0x2601, 0, 0, 20)),
    b("US", "Google", v4(209, 85, 128, 0, 17)),
    b("US", "Google", v6(0x2607, 0xf8b0, 0, 32)),
    b("US", "SendGrid", v4(167, 89, 0, 0, 17)),
    b("US", "Mailchimp", v4(198, 2, 128, 0, 18)),
    b("US", "GitHub", v4(192, 30, 252, 0, 22)),
    b("US", "Microsoft", v6(0x2a01, 0x111, 0xf400, 48)),
    b("CA", "Rogers", v4(99, 224, 0, 0, 11)),
    b("CA", "Bell Canada", v4(70, 48, 0, 0, 13)),
    b("MX", "Telmex", v4(189, 128, 0, 0, 10)),
    b("BR", "Vivo", v4(177, 32, 0, 0, 12)),
    b("AR", "Telecom Argentina", v4(181, 0, 0, 0, 12)),
    b("CO", "Colombia Telecomunicaciones", v4(181, 48, 0, 0, 13)),
    b("JP", "NTT OCN", v4(153, 128, 0, 0, 9)),
    b("JP", "NTT", v4(60, 32, 0, 0, 12)),
    b("JP", "SoftBank", v4(126, 0, 0, 0, 9)),
    b("JP", "NTT", v6(0x2400, 0x4000, 0, 22)),
    b("KR", "KT", v4(121, 128, 0, 0, 10)),
    b("KR", "KT", v4(175, 192, 0, 0, 10)),
    b("CN", "China Telecom", v4(116, 224, 0, 0, 12)),
    b("CN", "China Telecom", v4(58, 32, 0, 0, 11)),
    b("CN", "China Unicom", v4(123, 112, 0, 0, 12)),
    b("CN", "China Telecom", v6(0x240e, 0, 0, 20)),
    b("IN", "Vodafone Idea", v4(42, 104, 0, 0, 13)),
    b("IN", "Airtel", v4(122, 160, 0, 0, 12)),
    b("IN", "Jio", v6(0x2405, 0x200, 0, 29)),
    b("PK", "PTCL", v4(39, 32, 0, 0, 11)),
    b("SG", "Singtel", v4(220, 255, 0, 0, 16)),
    b("AU", "Telstra", v4(1, 120, 0, 0, 13)),
    b("AU", "Telstra", v4(101, 160, 0, 0, 11)),
    b("AU", "Telstra", v6(0x2001, 0x8000, 0, 20)),
    b("NZ", "Spark", v4(122, 56, 0, 0, 14)),
    b("ZA", "Telkom SA", v4(41, 0, 0, 0, 11)),
    b("NG", "Airtel Nigeria", v4(105, 112, 0, 0, 12)),
    b("EG", "TE Data", v4(41, 32, 0, 0, 12)),
    b("MA", "Maroc Telecom", v4(105, 128, 0, 0, 12)),
    b("GH", "Ghana ISP", v4(154, 160, 0, 0, 14)),
    b("VN", "VNPT", v4(113, 160, 0, 0, 11)),
    b("VN", "VNPT", v4(14, 160, 0, 0, 11)),
    b("ID", "Telkom Indonesia", v4(36, 64, 0, 0, 11)),
    b("TH", "True Internet", v4(171, 96, 0, 0, 13)),
    b("AE", "Etisalat", v4(94, 200, 0, 0, 13)),
    b("SA", "Saudi ISP", v4(188, 48, 0, 0, 13)),
    b("IL", "Bezeq", v4(79, 176, 0, 0, 13)),
];

/// Exchange Online Protection's published outbound ranges. DB-IP spreads them over the
/// datacentres' countries, so no single country is claimed.
pub(crate) const EOP_BLOCKS: &[Block] = &[
    Block {
        country: None,
        provider: "Microsoft EOP",
        net: v4(40, 92, 0, 0, 15),
    },
    Block {
        country: None,
        provider: "Microsoft EOP",
        net: v4(40, 107, 0, 0, 16),
    },
    Block {
        country: None,
        provider: "Microsoft EOP",
        net: v4(52, 100, 0, 0, 14),
    },
    Block {
        country: None,
        provider: "Microsoft EOP",
        net: v4(104, 47, 0, 0, 17),
    },
    b("US", "Microsoft", v6(0x2a01, 0x111, 0xf400, 48)),
];

/// RFC 1918 space, used by on-premises relays, scanners and line-of-business applications.
pub(crate) const PRIVATE_BLOCKS: &[Block] = &[
    Block {
        country: None,
        provider: "private",
        net: v4(10, 0, 0, 0, 8),
    },
    Block {
        country: None,
        provider: "private",
        net: v4(172, 16, 0, 0, 12),
    },
    Block {
        country: None,
        provider: "private",
        net: v4(192, 168, 0, 0, 16),
    },
];

/// An EOP block for one connection. Most Exchange Online hops use IPv4; about one in seven
/// uses Microsoft's IPv6 range (the last block of the table).
pub(crate) fn eop_block(rng: &mut impl Rng) -> &'static Block {
    if rng.random_bool(0.15) {
        &EOP_BLOCKS[EOP_BLOCKS.len() - 1]
    } else {
        &EOP_BLOCKS[rng.random_range(0..EOP_BLOCKS.len() - 1)]
    }
}

impl Block {
    pub(crate) fn is_v6(&self) -> bool {
        matches!(self.net, Net::V6(..))
    }

    /// A random host address inside the block. IPv4 avoids .0 and .255 so that addresses look
    /// like hosts rather than network or broadcast addresses.
    pub(crate) fn sample(&self, rng: &mut impl Rng) -> IpAddr {
        match self.net {
            Net::V4(base, prefix) => {
                let host_bits = 32 - u32::from(prefix);
                let mask = if host_bits == 32 {
                    u32::MAX
                } else {
                    (1u32 << host_bits) - 1
                };
                let host = (rng.random::<u32>() & mask & !0xff) | rng.random_range(1..255);
                IpAddr::V4(Ipv4Addr::from(base | host))
            }
            Net::V6(base, prefix) => {
                let host_bits = 128 - u32::from(prefix);
                let mask = if host_bits == 128 {
                    u128::MAX
                } else {
                    (1u128 << host_bits) - 1
                };
                // Mail servers mostly use small interface identifiers (::1a, ::25), clients
                // random ones; mix both so both shapes appear.
                let host = if rng.random_bool(0.5) {
                    (rng.random::<u128>() & mask & !0xffff_ffff_ffff_ffff)
                        | u128::from(rng.random_range(1u16..0x400))
                } else {
                    rng.random::<u128>() & mask
                };
                IpAddr::V6(Ipv6Addr::from(base | host))
            }
        }
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip) {
            (Net::V4(base, prefix), IpAddr::V4(addr)) => {
                let shift = 32 - u32::from(prefix);
                u32::from(addr).checked_shr(shift) == base.checked_shr(shift)
            }
            (Net::V6(base, prefix), IpAddr::V6(addr)) => {
                let shift = 128 - u32::from(prefix);
                u128::from(addr).checked_shr(shift) == base.checked_shr(shift)
            }
            _ => false,
        }
    }
}

/// The country this generator's table assigns to an address (not a geolocation lookup: only
/// blocks from the verified table are known). Useful to tests and to annotate demo data.
pub fn table_country(ip: &str) -> Option<&'static str> {
    let ip: IpAddr = ip.parse().ok()?;
    COUNTRY_BLOCKS
        .iter()
        .chain(EOP_BLOCKS)
        .find(|block| block.contains(ip))?
        .country
}

/// Whether the address is in the private ranges the generator uses for internal relays.
pub fn is_private(ip: &str) -> bool {
    ip.parse::<IpAddr>()
        .is_ok_and(|ip| PRIVATE_BLOCKS.iter().any(|block| block.contains(ip)))
}

/// Every country of the table, without repeats, in table order.
pub fn table_countries() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for country in COUNTRY_BLOCKS.iter().filter_map(|block| block.country) {
        if !out.contains(&country) {
            out.push(country);
        }
    }
    out
}

/// Blocks of one country, IPv4 first; empty for an unknown code.
pub(crate) fn blocks_of(country: &str) -> Vec<&'static Block> {
    COUNTRY_BLOCKS
        .iter()
        .filter(|block| block.country == Some(country))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn samples_stay_inside_their_block() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for block in COUNTRY_BLOCKS
            .iter()
            .chain(EOP_BLOCKS)
            .chain(PRIVATE_BLOCKS)
        {
            for _ in 0..50 {
                let ip = block.sample(&mut rng);
                assert!(block.contains(ip), "{ip} outside {:?}", block.net);
            }
        }
    }

    #[test]
    fn table_lookup_knows_countries() {
        assert_eq!(table_country("87.130.1.2"), Some("DE"));
        assert_eq!(table_country("2003:e1::1"), Some("DE"));
        assert_eq!(table_country("40.107.1.1"), None);
        assert_eq!(table_country("not an ip"), None);
        assert!(is_private("192.168.1.10"));
        assert!(table_countries().len() >= 25);
    }
}
