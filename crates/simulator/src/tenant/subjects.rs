//! Subject lines from templates. Subjects are attacker-controlled in real data, so a few
//! carry markup and SQL fragments; some are non-ASCII, as in any international organisation.
//! Placeholders: `{p}` project, `{m}` month, `{n}` number, `{d}` weekday, `{q}` quarter,
//! `{b}` brand.

use rand::Rng;
use rand::seq::IndexedRandom;

use super::names::{MONTHS, PROJECTS, WEEKDAYS};

#[rustfmt::skip]
const INTERNAL: &[&str] = &[
    "Meeting: {p} weekly sync", "Agenda for {d}", "{p} status update", "Q{q} planning",
    "Budget review {m}", "Minutes: {p} steering committee", "Draft contract v{n}",
    "Holiday schedule {m}", "Lunch on {d}?", "Quick question about {p}", "Updated slides",
    "Travel request {n}", "Expense report {m}", "Onboarding checklist", "Re-org announcement",
    "IT maintenance window {d}", "Your timesheet for {m}", "{p}: risks and mitigations",
    "Team offsite", "Code review for PR #{n}", "Customer escalation #{n}", "Weekly report",
    "Besprechung: Jahresplanung für {m}", "Réunion d'équipe {d}", "Präsentation für den Vorstand",
    "会議のお知らせ", "Встреча по проекту {p}", "Café ☕ et croissants vendredi", "🎉 Team event",
    "Ausschreibung Nr. {n} – Rückfragen", "Año nuevo, objetivos nuevos", "Ärztliche Bescheinigung",
];

#[rustfmt::skip]
const PARTNER: &[&str] = &[
    "Invoice {n}", "Purchase order PO-{n}", "Quotation {n} for {p}", "Delivery note {n}",
    "Contract renewal {m}", "Proposal: {p}", "Shipment {n} dispatched", "Meeting request",
    "Statement of account {m}", "Remittance advice {n}", "Order confirmation {n}",
    "Introduction", "Follow-up on our call", "NDA for signature", "Price list {m}",
    "Ticket #{n} resolved", "Angebot Nr. {n}", "Facture n° {n}", "Pedido {n}", "見積書 {n}",
];

#[rustfmt::skip]
const SERVICE: &[&str] = &[
    "PIM: role activation requested", "Azure AD Identity Protection Weekly Digest",
    "Your Azure subscription usage report for {m}", "Alert: High CPU on vm-{n}",
    "[{p}] Pull request #{n} opened", "[{p}] Build failed on main", "New sign-in to your account",
    "{n} items shared with you", "Scanned document {n}", "Your meeting recording is ready",
    "[JIRA] ({p}-{n}) Assigned to you", "Weekly security summary",
];

#[rustfmt::skip]
const NEWSLETTER: &[&str] = &[
    "{b} weekly: top stories", "Your {m} digest from {b}", "Last chance: 30% off ends {d}",
    "Webinar invitation: the future of {p}", "{b} | New features in {m}",
    "Don't miss out — {n} new offers", "Your account summary", "Trends report Q{q}",
];

#[rustfmt::skip]
const SPAM: &[&str] = &[
    "Your mailbox is full", "Invoice overdue", "Action required: verify your account",
    "Password expires today", "You have {n} undelivered messages", "Payment failed - update billing",
    "DocuSign: please review document {n}", "Urgent wire transfer", "Congratulations! You won",
    "Your parcel could not be delivered", "Voicemail received ({n}s)", "Re: Invoice {n} overdue",
    "<img src=x onerror=alert(1)>", "\"; DROP TABLE messages; --", "Ihr Konto wurde gesperrt",
    "Dear user, your 'quota' is exceeded", "Crypto profits 💰💰💰", "Shared file: Q{q}_salaries.xlsx",
];

#[rustfmt::skip]
const BLAST: &[&str] = &[
    "Introducing our new {p} platform", "{m} newsletter: what's new", "Join us at our Q{q} event",
];

/// What kind of mail a subject is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Topic {
    Internal,
    Partner,
    Service,
    Newsletter,
    Spam,
    Blast,
}

/// Writes a subject for `topic` into `out` (cleared first).
pub(crate) fn write(out: &mut String, topic: Topic, brand: &str, rng: &mut impl Rng) {
    out.clear();
    let templates = match topic {
        Topic::Internal => INTERNAL,
        Topic::Partner => PARTNER,
        Topic::Service => SERVICE,
        Topic::Newsletter => NEWSLETTER,
        Topic::Spam => SPAM,
        Topic::Blast => BLAST,
    };
    if matches!(topic, Topic::Internal | Topic::Partner) {
        // Conversations: replies and forwards, in the clients' languages.
        let prefix = match rng.random_range(0..100) {
            0..30 => "RE: ",
            30..38 => "FW: ",
            38..42 => "AW: ",
            42..44 => "WG: ",
            44..46 => "TR: ",
            _ => "",
        };
        out.push_str(prefix);
    }
    if rng.random_ratio(1, 200) {
        // Empty subjects exist (EAC allows them).
        return;
    }
    let template = templates.choose(rng).copied().unwrap_or("Hello");
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        let key = &rest[open + 1..open + close];
        match key {
            "p" => out.push_str(PROJECTS.choose(rng).copied().unwrap_or("Phoenix")),
            "m" => out.push_str(MONTHS.choose(rng).copied().unwrap_or("May")),
            "d" => out.push_str(WEEKDAYS.choose(rng).copied().unwrap_or("Monday")),
            "q" => push_number(out, rng.random_range(1..5)),
            "n" => push_number(out, rng.random_range(100..99_999)),
            "b" => out.push_str(brand),
            _ => out.push_str(key),
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
}

fn push_number(out: &mut String, n: u32) {
    use std::fmt::Write;
    let _ = write!(out, "{n}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn placeholders_are_filled() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut out = String::new();
        for topic in [
            Topic::Internal,
            Topic::Partner,
            Topic::Service,
            Topic::Newsletter,
            Topic::Spam,
            Topic::Blast,
        ] {
            for _ in 0..200 {
                write(&mut out, topic, "brand", &mut rng);
                assert!(!out.contains("{p}") && !out.contains("{n}"), "{out}");
            }
        }
    }
}
