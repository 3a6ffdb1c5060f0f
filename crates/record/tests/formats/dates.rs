//! Slash dates in CSV exports: one order per file, given or shown by the file's own dates,
//! never guessed row by row.

use chrono::{NaiveDate, TimeZone, Utc};
use mailscope_record::formats::ReadOptions;
use mailscope_record::time::DateOrder;

use super::{read_bytes, read_bytes_with};

const HEADER: &str = "\"Received\",\"SenderAddress\",\"RecipientAddress\",\"Subject\",\"Status\"";

/// An Export-Csv file with one row per `(time text, subject)`.
fn export(rows: &[(&str, &str)]) -> String {
    let mut text = format!("{HEADER}\r\n");
    for (time, subject) in rows {
        text.push_str(&format!(
            "\"{time}\",\"a@contoso.example\",\"b@fabrikam.example\",\"{subject}\",\"Delivered\"\r\n"
        ));
    }
    text
}

fn day(year: i32, month: u32, day: u32, hour: u32) -> chrono::DateTime<Utc> {
    let date = NaiveDate::from_ymd_opt(year, month, day).unwrap();
    Utc.from_utc_datetime(&date.and_hms_opt(hour, 0, 0).unwrap())
}

/// `(subject, received)` of every record, in the order read.
fn read(outcome: &super::Outcome) -> Vec<(String, chrono::DateTime<Utc>)> {
    outcome
        .records
        .iter()
        .map(|r| (r.subject.clone(), r.received))
        .collect()
}

#[test]
fn a_day_above_twelve_late_in_the_file_decides_the_rows_before_it() {
    let file = export(&[
        ("2026-03-01T08:00:00Z", "iso"),
        ("04/04/2026 9:00:00", "same either way"),
        ("03/04/2026 10:00:00", "ambiguous"),
        ("05/06/2026 11:00:00", "ambiguous too"),
        ("24/11/2026 12:00:00", "decides"),
        ("01/02/2026 1:00:00 PM", "after"),
    ]);
    let out = read_bytes("gb.csv", file);
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(
        read(&out),
        vec![
            ("iso".to_owned(), day(2026, 3, 1, 8)),
            ("same either way".to_owned(), day(2026, 4, 4, 9)),
            ("ambiguous".to_owned(), day(2026, 4, 3, 10)),
            ("ambiguous too".to_owned(), day(2026, 6, 5, 11)),
            ("decides".to_owned(), day(2026, 11, 24, 12)),
            ("after".to_owned(), day(2026, 2, 1, 13)),
        ]
    );
}

#[test]
fn a_month_first_file_is_read_month_first() {
    let file = export(&[
        ("03/04/2026 10:00:00 AM", "ambiguous"),
        ("11/24/2026 3:00:00 PM", "decides"),
        ("05/06/2026 11:00:00 AM", "after"),
    ]);
    let out = read_bytes("us.csv", file);
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(
        read(&out),
        vec![
            ("ambiguous".to_owned(), day(2026, 3, 4, 10)),
            ("decides".to_owned(), day(2026, 11, 24, 15)),
            ("after".to_owned(), day(2026, 5, 6, 11)),
        ]
    );
}

#[test]
fn a_file_whose_dates_never_tell_is_refused_with_both_readings() {
    // The admin center's summary export names the column `Date (UTC)`.
    let file = "\"Date (UTC)\",\"Sender\",\"Recipient\",\"Subject\",\"Status\"\n\
                \"02/01/2026 08:00\",\"a@x.example\",\"b@y.example\",\"s\",\"Delivered\"\n\
                \"03/04/2026 10:00\",\"a@x.example\",\"c@y.example\",\"s\",\"Delivered\"\n";
    let out = read_bytes("export.csv", file);
    assert!(out.records.is_empty(), "nothing is read from a guess");
    let [error] = &out.errors[..] else {
        panic!("one error expected: {:?}", out.errors)
    };
    assert!(error.fatal);
    assert_eq!(error.line, Some(2));
    let text = error.to_string();
    for part in [
        "column \"Date (UTC)\"",
        "\"02/01/2026 08:00\"",
        "1 February 2026 as MM/dd/yyyy",
        "2 January 2026 as dd/MM/yyyy",
        "--date-format",
    ] {
        assert!(text.contains(part), "{part:?} missing from {text}");
    }
}

#[test]
fn the_given_order_reads_an_ambiguous_file_and_reports_a_date_it_cannot_be() {
    let file = export(&[
        ("02/01/2026 08:00", "ambiguous"),
        ("11/24/2026 09:00", "not day first"),
        ("24.11.2026 10:00", "dotted"),
    ]);
    let options = ReadOptions {
        date_order: Some(DateOrder::DayFirst),
        ..ReadOptions::default()
    };
    let out = read_bytes_with("given.csv", file.into_bytes(), options);
    assert_eq!(
        read(&out),
        vec![
            ("ambiguous".to_owned(), day(2026, 1, 2, 8)),
            ("dotted".to_owned(), day(2026, 11, 24, 10)),
        ]
    );
    let [error] = &out.errors[..] else {
        panic!("one error expected: {:?}", out.errors)
    };
    assert!(!error.fatal);
    assert_eq!(error.line, Some(3));
    assert!(
        error.to_string().contains("is not a dd/MM/yyyy date"),
        "{error}"
    );
}

#[test]
fn a_row_against_the_order_the_file_showed_is_reported_and_the_others_kept() {
    let file = export(&[
        ("24/11/2026 10:00", "shows day first"),
        ("11/24/2026 10:00", "month first"),
        ("25/11/2026 10:00", "day first again"),
    ]);
    let out = read_bytes("mixed.csv", file);
    assert_eq!(
        read(&out),
        vec![
            ("shows day first".to_owned(), day(2026, 11, 24, 10)),
            ("day first again".to_owned(), day(2026, 11, 25, 10)),
        ]
    );
    let [error] = &out.errors[..] else {
        panic!("one error expected: {:?}", out.errors)
    };
    assert_eq!(error.line, Some(3));
    let text = error.to_string();
    assert!(text.contains("line 2"), "{text}");
    assert!(text.contains("\"24/11/2026 10:00\""), "{text}");
}

#[test]
fn rows_held_for_an_order_are_bounded() {
    let rows: Vec<(String, String)> = (0..=mailscope_record::formats::UNDECIDED_ROWS)
        .map(|i| ("03/04/2026 10:00".to_owned(), format!("row {i}")))
        .collect();
    let borrowed: Vec<(&str, &str)> = rows.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    // A deciding date after the bound comes too late.
    let mut file = export(&borrowed);
    file.push_str(
        "\"24/11/2026 10:00\",\"a@x.example\",\"b@y.example\",\"late\",\"Delivered\"\r\n",
    );
    let out = read_bytes("long.csv", file);
    assert!(out.records.is_empty());
    let [error] = &out.errors[..] else {
        panic!("one error expected, got {}", out.errors.len())
    };
    assert!(error.fatal);
    assert!(
        error
            .to_string()
            .contains("none of the 100000 rows after it"),
        "{error}"
    );
}

#[test]
fn date_formats_are_named_as_users_know_them() {
    for (text, order) in [
        ("MM/dd/yyyy", DateOrder::MonthFirst),
        ("m/d/yyyy", DateOrder::MonthFirst),
        ("month-first", DateOrder::MonthFirst),
        ("dd/MM/yyyy", DateOrder::DayFirst),
        (" D/M/YYYY ", DateOrder::DayFirst),
        ("day-first", DateOrder::DayFirst),
    ] {
        assert_eq!(text.parse::<DateOrder>(), Ok(order), "{text}");
    }
    for text in ["", "yyyy-MM-dd", "dd.MM.yyyy", "auto"] {
        let error = text.parse::<DateOrder>().unwrap_err();
        assert!(error.contains("MM/dd/yyyy"), "{error}");
    }
}

#[test]
fn rows_are_reported_at_their_own_line_with_crlf_endings_and_cells_over_several_lines() {
    // Line 2: a subject over two lines; line 4: a bad date; line 5: a blank line; line 6:
    // a bad date again.
    let file = format!(
        "{HEADER}\r\n\
         \"2026-03-01T08:00:00Z\",\"a@x.example\",\"b@y.example\",\"two\r\nlines\",\"Delivered\"\r\n\
         \"yesterday\",\"a@x.example\",\"b@y.example\",\"s\",\"Delivered\"\r\n\
         \r\n\
         \"soon\",\"a@x.example\",\"b@y.example\",\"s\",\"Delivered\"\r\n"
    );
    let out = read_bytes("windows.csv", file);
    assert_eq!(out.records.len(), 1);
    assert_eq!(out.records[0].subject, "two\r\nlines");
    let lines: Vec<Option<u64>> = out.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![Some(4), Some(6)], "{:?}", out.errors);
}
