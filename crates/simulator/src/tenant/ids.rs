//! Identifier formatting without `format!` on the hot path: MessageTraceId GUIDs (lower case,
//! as Microsoft prints them) and Internet Message-IDs in the shapes real senders use.

use rand::Rng;

const LOWER: &[u8; 16] = b"0123456789abcdef";
const UPPER: &[u8; 16] = b"0123456789ABCDEF";

fn push_hex(out: &mut String, value: u128, digits: usize, alphabet: &[u8; 16]) {
    for i in (0..digits).rev() {
        out.push(char::from(alphabet[((value >> (i * 4)) & 0xf) as usize]));
    }
}

/// `8-4-4-4-12` GUID text of 128 random bits.
pub(crate) fn push_guid(out: &mut String, bits: u128, upper: bool) {
    let alphabet = if upper { UPPER } else { LOWER };
    push_hex(out, bits >> 96, 8, alphabet);
    out.push('-');
    push_hex(out, bits >> 80, 4, alphabet);
    out.push('-');
    push_hex(out, bits >> 64, 4, alphabet);
    out.push('-');
    push_hex(out, bits >> 48, 4, alphabet);
    out.push('-');
    push_hex(out, bits, 12, alphabet);
}

pub(crate) fn trace_id(rng: &mut impl Rng) -> String {
    let mut out = String::with_capacity(36);
    push_guid(&mut out, rng.random(), false);
    out
}

/// Message-ID shapes by origin.
#[derive(Debug, Clone, Copy)]
pub(crate) enum MsgIdStyle {
    /// Exchange Online: `<HOSTNAME + 24 hex@HOST.region.prod.outlook.com>`.
    Exchange,
    /// Gmail: `<CA+base64ish@mail.gmail.com>`.
    Gmail,
    /// Generic MTA or application: `<guid@host>`.
    Guid,
    /// Mailing platforms: `<digits.hex@host>`.
    Bulk,
}

pub(crate) fn message_id(style: MsgIdStyle, host: &str, rng: &mut impl Rng) -> String {
    let mut out = String::with_capacity(host.len() + 48);
    out.push('<');
    match style {
        MsgIdStyle::Exchange => {
            let name = host.split('.').next().unwrap_or(host);
            out.push_str(&name.to_ascii_uppercase());
            push_hex(&mut out, rng.random(), 24, UPPER);
        }
        MsgIdStyle::Gmail => {
            const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+_-";
            out.push_str("CA");
            for _ in 0..40 {
                out.push(char::from(B64[rng.random_range(0..B64.len())]));
            }
        }
        MsgIdStyle::Guid => push_guid(&mut out, rng.random(), false),
        MsgIdStyle::Bulk => {
            push_hex(&mut out, u128::from(rng.random::<u64>()), 12, LOWER);
            out.push('.');
            push_hex(&mut out, rng.random(), 20, LOWER);
        }
    }
    out.push('@');
    out.push_str(host);
    out.push('>');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn guid_shape() {
        let mut out = String::new();
        push_guid(&mut out, 0x3b4fc661_180d_4c2f_60c9_08da6e38dd10, false);
        assert_eq!(out, "3b4fc661-180d-4c2f-60c9-08da6e38dd10");
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let id = message_id(
            MsgIdStyle::Exchange,
            "AM0PR04MB1234.eurprd04.prod.outlook.com",
            &mut rng,
        );
        assert!(
            id.starts_with("<AM0PR04MB1234")
                && id.ends_with("@AM0PR04MB1234.eurprd04.prod.outlook.com>")
        );
    }
}
