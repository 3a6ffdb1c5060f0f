//! The `recipient_status` cell of the EAC enhanced summary report:
//! `alice@contoso.com##Receive, Deliver;bob@fabrikam.com##Receive, Fail`, every recipient of
//! the message with the events of its delivery. Each recipient becomes one record whose status
//! is derived from its last event.

use crate::record::Status;

/// Splits the cell into `(address, status)` pairs, skipping empty entries.
pub(crate) fn recipient_statuses(cell: &str) -> Vec<(&str, Status)> {
    cell.split(';')
        .filter_map(|entry| {
            let (address, events) = entry.split_once("##").unwrap_or((entry, ""));
            let address = address.trim();
            (!address.is_empty()).then(|| (address, status_from_events(events)))
        })
        .collect()
}

/// The status a message trace row would show after these events (the last one decides).
///
/// Decisions, where the EAC event names do not map one to one:
/// * `Send` (handed to an outside server) counts as delivered, as the Reporting Web Service
///   reports outbound mail.
/// * `Drop`, `BadMail` and `Poison message` end delivery without success: `Failed`.
/// * `Spam`/`Spam Diversion`/`Filtered as spam` are `FilteredAsSpam`; `Quarantine` and
///   `Malware` are `Quarantined`.
/// * Intermediate events (`Receive`, `Submit`, `Resolve`, `Transfer`, `Redirect`, `Defer`)
///   mean delivery is underway: `Pending`.
/// * No events at all: `GettingStatus`, so a later observation can settle it.
/// * Anything else is kept verbatim (`Status::Other`) rather than guessed.
pub(crate) fn status_from_events(events: &str) -> Status {
    let Some(last) = events
        .split(',')
        .map(str::trim)
        .rfind(|event| !event.is_empty())
    else {
        return Status::GettingStatus;
    };
    let folded: String = last
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    match folded.as_str() {
        "deliver" | "delivered" | "send" => Status::Delivered,
        "fail" | "failed" | "drop" | "badmail" | "poisonmessage" => Status::Failed,
        "expand" | "expanded" => Status::Expanded,
        "quarantine" | "quarantined" | "malware" => Status::Quarantined,
        "spam" | "spamdiversion" | "filteredasspam" => Status::FilteredAsSpam,
        "recall" | "recalled" => Status::Recalled,
        "receive" | "submit" | "resolve" | "transfer" | "redirect" | "defer" | "pending" => {
            Status::Pending
        }
        _ => Status::Other(last.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_recipient_gets_the_status_of_its_last_event() {
        let cell = "alice@contoso.com##Receive, Deliver;bob@fabrikam.com##Receive, Fail; \
                    ;list@contoso.com##Receive, Expand;carol@x.com##Receive, Submit, Defer;\
                    dave@x.com;erin@x.com##Receive, Quarantine;frank@x.com##Receive, Recall";
        let got = recipient_statuses(cell);
        assert_eq!(
            got,
            vec![
                ("alice@contoso.com", Status::Delivered),
                ("bob@fabrikam.com", Status::Failed),
                ("list@contoso.com", Status::Expanded),
                ("carol@x.com", Status::Pending),
                ("dave@x.com", Status::GettingStatus),
                ("erin@x.com", Status::Quarantined),
                ("frank@x.com", Status::Recalled),
            ]
        );
        assert_eq!(
            status_from_events("Receive, Spam Diversion"),
            Status::FilteredAsSpam
        );
        assert_eq!(status_from_events("Receive, Send"), Status::Delivered);
    }
}
