//! One message at a time: who sends to whom, through which IPs, with what subject and size,
//! and which status each recipient row ends with. The stream module gives it a time and an
//! identity; this module only decides content.

use mailscope_record::Status;
use rand::Rng;
use rand::distr::Distribution;
use rand::seq::IndexedRandom;
use rand_distr::StandardNormal;

use super::calendar::HourPlan;
use super::correspondents::{CONSUMER_DOMAINS, Hosting};
use super::ids::{MsgIdStyle, message_id};
use super::ip::{self, COUNTRY_BLOCKS};
use super::names::{FIRST_NAMES, LAST_NAMES};
use super::org::Org;
use super::subjects::{self, Topic};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Internal,
    Outbound,
    PartnerIn,
    Newsletter,
    Service,
    Spam,
    Burst,
    Blast,
    Ndr,
}

/// One recipient row before it gets a time and identity.
pub(crate) struct Row {
    pub recipient: String,
    pub status: Status,
    pub to_ip: Option<String>,
}

pub(crate) struct Message {
    pub kind: Kind,
    pub sender: String,
    pub message_id: Option<String>,
    pub subject: String,
    pub from_ip: Option<String>,
    pub size: i64,
    pub rows: Vec<Row>,
}

/// Picks the message kind for an hour: person-to-person mail follows office hours, machine
/// mail does not, bursts and blasts only happen in their hours.
fn kind(plan: &HourPlan, rng: &mut impl Rng) -> Kind {
    let mut x = rng.random::<f64>() * plan.total_weight();
    if x < plan.human {
        return match rng.random_range(0..100) {
            0..53 => Kind::Internal,
            53..78 => Kind::Outbound,
            _ => Kind::PartnerIn,
        };
    }
    x -= plan.human;
    if x < plan.automated {
        return match rng.random_range(0..100) {
            0..45 => Kind::Newsletter,
            45..75 => Kind::Service,
            _ => Kind::Spam,
        };
    }
    x -= plan.automated;
    if x < plan.burst {
        Kind::Burst
    } else {
        Kind::Blast
    }
}

/// How many recipients: mostly one, some 2–10, rarely 20–50.
fn recipient_count(rng: &mut impl Rng) -> usize {
    match rng.random_range(0..1000) {
        0..700 => 1,
        700..880 => rng.random_range(2..5),
        880..975 => rng.random_range(5..11),
        975..992 => rng.random_range(11..20),
        _ => rng.random_range(20..51),
    }
}

/// Lognormal with the given median, capped at Exchange Online's default 35 MB limit.
fn lognormal(median: f64, sigma: f64, rng: &mut impl Rng) -> i64 {
    let z: f64 = rng.sample(StandardNormal);
    (median * (sigma * z).exp()).clamp(1_200.0, 35.0 * 1024.0 * 1024.0) as i64
}

fn size(kind: Kind, plan: &HourPlan, rng: &mut impl Rng) -> i64 {
    if plan.huge_attachments
        && matches!(kind, Kind::Internal | Kind::Outbound | Kind::PartnerIn)
        && rng.random_bool(0.3)
    {
        return lognormal(9_000_000.0, 0.7, rng);
    }
    let (median, sigma, attach) = match kind {
        Kind::Internal => (34_000.0, 1.0, 0.045),
        Kind::Outbound => (42_000.0, 1.0, 0.05),
        Kind::PartnerIn => (48_000.0, 1.0, 0.06),
        Kind::Newsletter => (62_000.0, 0.5, 0.0),
        Kind::Service => (95_000.0, 0.35, 0.0),
        Kind::Spam | Kind::Burst => (14_000.0, 0.8, 0.01),
        Kind::Blast => (118_000.0, 0.1, 0.0),
        Kind::Ndr => (16_000.0, 0.4, 0.0),
    };
    if rng.random_bool(attach) {
        // Attachments: presentations, scans, CAD files.
        return lognormal(2_200_000.0, 0.9, rng);
    }
    lognormal(median, sigma, rng)
}

fn user(org: &Org, rng: &mut impl Rng) -> String {
    org.users[org.user_pick.sample(rng)].clone()
}

fn add(rows: &mut Vec<Row>, recipient: &str, to_ip: Option<String>) {
    if !rows.iter().any(|row| row.recipient == recipient) {
        rows.push(Row {
            recipient: recipient.to_string(),
            status: Status::Delivered,
            to_ip,
        });
    }
}

/// Adds a distribution list: its `Expanded` row, then one row per member.
fn add_dl(rows: &mut Vec<Row>, org: &Org, rng: &mut impl Rng) {
    let Some(dl) = org.dls.choose(rng) else {
        return;
    };
    if rows.iter().any(|row| row.recipient == dl.address) {
        return;
    }
    rows.push(Row {
        recipient: dl.address.clone(),
        status: Status::Expanded,
        to_ip: None,
    });
    for &member in &dl.members {
        add(rows, &org.users[member as usize], None);
    }
}

fn random_public_ip(rng: &mut impl Rng) -> String {
    COUNTRY_BLOCKS[rng.random_range(0..COUNTRY_BLOCKS.len())]
        .sample(rng)
        .to_string()
}

fn consumer_address(rng: &mut impl Rng) -> (String, Option<String>) {
    let (domain, provider) = CONSUMER_DOMAINS
        .choose(rng)
        .copied()
        .unwrap_or(("gmail.com", "Google"));
    let first = FIRST_NAMES.choose(rng).copied().unwrap_or("alex");
    let last = LAST_NAMES.choose(rng).copied().unwrap_or("smith");
    let n = rng.random_range(1..999);
    let ip = ip::COUNTRY_BLOCKS
        .iter()
        .chain(ip::EOP_BLOCKS)
        .find(|block| block.provider == provider)
        .map(|block| block.sample(rng).to_string());
    (format!("{first}.{last}{n}@{domain}"), ip)
}

/// Builds the message content for one message of `plan`'s hour.
pub(crate) fn message(org: &Org, plan: &HourPlan, rng: &mut impl Rng) -> Message {
    let kind = kind(plan, rng);
    let mut rows: Vec<Row> = Vec::with_capacity(2);
    let mut subject = String::new();
    let exo_host = org
        .exo_hosts
        .choose(rng)
        .map_or("prod.outlook.com", String::as_str);
    let (sender, message_id, from_ip) = match kind {
        Kind::Internal => {
            let sender = if rng.random_bool(0.03) {
                org.shared
                    .choose(rng)
                    .cloned()
                    .unwrap_or_else(|| user(org, rng))
            } else {
                user(org, rng)
            };
            if rng.random_bool(0.09) {
                add_dl(&mut rows, org, rng);
            }
            let extra = if rows.is_empty() {
                recipient_count(rng)
            } else {
                rng.random_range(0..2)
            };
            for _ in 0..extra {
                if rng.random_bool(0.02) {
                    if let Some(shared) = org.shared.choose(rng) {
                        add(&mut rows, shared, None);
                    }
                } else {
                    add(&mut rows, &org.users[org.user_pick.sample(rng)], None);
                }
            }
            rows.retain(|row| row.recipient != sender);
            subjects::write(&mut subject, Topic::Internal, "", rng);
            let from_ip = match rng.random_range(0..100) {
                0..55 => org.eop_ip(rng),
                55..75 => org.relay_ips.choose(rng).cloned(),
                _ => None,
            };
            (
                sender,
                Some(message_id(MsgIdStyle::Exchange, exo_host, rng)),
                from_ip,
            )
        }
        Kind::Outbound => {
            let partner = &org.partners[org.partner_pick.sample(rng)];
            let count = recipient_count(rng).min(partner.contacts.len());
            for _ in 0..count {
                if let Some(contact) = partner.contacts.choose(rng) {
                    add(&mut rows, contact, partner.ips.choose(rng).cloned());
                }
            }
            if rng.random_bool(0.2) {
                add(&mut rows, &org.users[org.user_pick.sample(rng)], None);
            }
            subjects::write(&mut subject, Topic::Partner, "", rng);
            let from_ip = match rng.random_range(0..100) {
                0..75 => org.eop_ip(rng),
                75..85 => org.relay_ips.choose(rng).cloned(),
                _ => None,
            };
            (
                user(org, rng),
                Some(message_id(MsgIdStyle::Exchange, exo_host, rng)),
                from_ip,
            )
        }
        Kind::PartnerIn => {
            let partner = &org.partners[org.partner_pick.sample(rng)];
            let sender = partner.contacts.choose(rng).cloned().unwrap_or_default();
            if rng.random_bool(0.08)
                && let Some(shared) = org.shared.choose(rng)
            {
                add(&mut rows, shared, None);
            }
            let count = if rows.is_empty() {
                recipient_count(rng).min(12)
            } else {
                0
            };
            for _ in 0..count {
                add(&mut rows, &org.users[org.user_pick.sample(rng)], None);
            }
            subjects::write(&mut subject, Topic::Partner, "", rng);
            let style = match partner.hosting {
                Hosting::Microsoft => MsgIdStyle::Exchange,
                Hosting::Google => MsgIdStyle::Gmail,
                Hosting::Own => MsgIdStyle::Guid,
            };
            let id = message_id(style, &partner.msgid_host, rng);
            (sender, Some(id), partner.ips.choose(rng).cloned())
        }
        Kind::Newsletter | Kind::Service => {
            let robots = if kind == Kind::Newsletter {
                &org.newsletters
            } else {
                &org.services
            };
            let robot = &robots[rng.random_range(0..robots.len())];
            if kind == Kind::Service && rng.random_bool(0.1) {
                add_dl(&mut rows, org, rng);
            } else {
                add(&mut rows, &org.users[org.user_pick.sample(rng)], None);
            }
            let topic = if kind == Kind::Newsletter {
                Topic::Newsletter
            } else {
                Topic::Service
            };
            subjects::write(&mut subject, topic, robot.brand, rng);
            let from_ip = match robot.ips.choose(rng) {
                Some(ip) => Some(ip.clone()),
                None => org.relay_ips.choose(rng).cloned(),
            };
            let style = if kind == Kind::Newsletter {
                MsgIdStyle::Bulk
            } else {
                MsgIdStyle::Guid
            };
            (
                robot.address.clone(),
                Some(message_id(style, &robot.msgid_host, rng)),
                from_ip,
            )
        }
        Kind::Spam | Kind::Burst => {
            let domain = org
                .spam_domains
                .choose(rng)
                .map_or("spam.example", String::as_str);
            let count = if kind == Kind::Burst {
                rng.random_range(1..8)
            } else {
                1
            };
            for _ in 0..count {
                if rng.random_bool(0.04) {
                    // Dictionary attacks hit addresses that do not exist.
                    let (first, last) = (
                        FIRST_NAMES.choose(rng).copied().unwrap_or("a"),
                        LAST_NAMES.choose(rng).copied().unwrap_or("b"),
                    );
                    add(
                        &mut rows,
                        &format!("{first}.{last}.x@{}", org.info.accepted_domains[0]),
                        None,
                    );
                } else {
                    add(&mut rows, &org.users[org.user_pick.sample(rng)], None);
                }
            }
            subjects::write(&mut subject, Topic::Spam, "", rng);
            let from_ip = if kind == Kind::Burst {
                org.bad_ip_groups
                    .get(plan.burst_group)
                    .and_then(|group| group.choose(rng))
                    .cloned()
            } else {
                Some(random_public_ip(rng))
            };
            let local = FIRST_NAMES.choose(rng).copied().unwrap_or("info");
            let id = if rng.random_bool(0.1) {
                None
            } else {
                Some(message_id(MsgIdStyle::Guid, domain, rng))
            };
            (format!("{local}@{domain}"), id, from_ip)
        }
        Kind::Blast | Kind::Ndr => {
            let (address, ip) = consumer_address(rng);
            rows.push(Row {
                recipient: address,
                status: Status::Delivered,
                to_ip: ip,
            });
            subjects::write(&mut subject, Topic::Blast, "", rng);
            (
                org.marketing.clone(),
                Some(message_id(MsgIdStyle::Exchange, exo_host, rng)),
                org.eop_ip(rng),
            )
        }
    };
    if rows.is_empty() {
        add(&mut rows, &org.users[org.user_pick.sample(rng)], None);
    }
    let mut message = Message {
        kind,
        sender,
        message_id,
        subject,
        from_ip,
        size: size(kind, plan, rng),
        rows,
    };
    assign_statuses(&mut message, plan, rng);
    message
}

/// Final statuses. Spam verdicts apply to the whole message; delivery problems to each row.
fn assign_statuses(message: &mut Message, plan: &HourPlan, rng: &mut impl Rng) {
    // (filtered as spam, quarantined) per message; (failed, pending, none) per row.
    let (spam, quarantine, fail, pending, none) = match message.kind {
        Kind::Internal => (0.0, 0.001, 0.025, 0.003, 0.0015),
        Kind::Outbound => (0.0, 0.0, 0.07, 0.03, 0.002),
        Kind::PartnerIn => (0.03, 0.012, 0.02, 0.004, 0.003),
        Kind::Newsletter => (0.09, 0.01, 0.005, 0.002, 0.002),
        Kind::Service => (0.004, 0.004, 0.004, 0.002, 0.001),
        Kind::Spam => (0.55, 0.28, 0.04, 0.0, 0.01),
        Kind::Burst => (0.6, 0.28, 0.02, 0.0, 0.005),
        Kind::Blast => (0.0, 0.0, 0.07, 0.03, 0.002),
        Kind::Ndr => (0.0, 0.0, 0.0, 0.0, 0.0),
    };
    let (fail, pending) = if plan.outage {
        (fail + 0.15, pending + 0.1)
    } else {
        (fail, pending)
    };
    let verdict = rng.random::<f64>();
    let message_status = if verdict < spam {
        Some(Status::FilteredAsSpam)
    } else if verdict < spam + quarantine {
        Some(Status::Quarantined)
    } else {
        None
    };
    // The newest mail has no verdict yet when the range ends.
    let unknown = plan.tail && rng.random_bool(0.5);
    for row in &mut message.rows {
        if row.status == Status::Expanded {
            continue;
        }
        row.status = if unknown {
            Status::GettingStatus
        } else if let Some(status) = &message_status {
            status.clone()
        } else {
            let x = rng.random::<f64>();
            if x < fail {
                Status::Failed
            } else if x < fail + pending + if plan.tail { 0.1 } else { 0.0 } {
                Status::Pending
            } else if x < fail + pending + none {
                Status::None
            } else {
                Status::Delivered
            }
        };
    }
}

/// The non-delivery report for a message with failed rows, if one is sent: from the tenant's
/// postmaster back to the sender, with no FromIP (research notes §5).
pub(crate) fn ndr(
    org: &Org,
    failed: &Message,
    plan: &HourPlan,
    rng: &mut impl Rng,
) -> Option<Message> {
    if !failed.rows.iter().any(|row| row.status == Status::Failed) {
        return None;
    }
    let sender_internal = org.is_ours(&failed.sender);
    // Inbound failures are mostly rejected during the SMTP session: only some get an NDR.
    if !sender_internal && !rng.random_bool(0.5) {
        return None;
    }
    let (status, to_ip) = if sender_internal {
        (Status::Delivered, None)
    } else {
        // Backscatter to forged spam senders bounces.
        let bounce = if matches!(failed.kind, Kind::Spam | Kind::Burst) {
            0.8
        } else {
            0.3
        };
        let status = if rng.random_bool(bounce) {
            Status::Failed
        } else {
            Status::Delivered
        };
        (status, failed.from_ip.clone())
    };
    let status = if plan.tail && rng.random_bool(0.5) {
        Status::GettingStatus
    } else {
        status
    };
    let mut subject = String::with_capacity(failed.subject.len() + 15);
    subject.push_str("Undeliverable: ");
    subject.push_str(&failed.subject);
    let host = org
        .exo_hosts
        .choose(rng)
        .map_or("prod.outlook.com", String::as_str);
    Some(Message {
        kind: Kind::Ndr,
        sender: org.postmaster.clone(),
        message_id: Some(message_id(MsgIdStyle::Exchange, host, rng)),
        subject,
        from_ip: None,
        size: size(Kind::Ndr, plan, rng),
        rows: vec![Row {
            recipient: failed.sender.clone(),
            status,
            to_ip,
        }],
    })
}
