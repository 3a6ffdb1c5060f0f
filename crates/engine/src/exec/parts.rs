//! Aggregations by timeslice, computed a part of the time range at a time.
//!
//! Every group of an aggregation keyed by a `_timeslice` holds rows of one bucket only, so
//! the groups of a range cut at bucket starts are the groups of its parts, each computed
//! alone: `count_distinct(recipient_address) by _timeslice` over 100 M rows then holds one
//! day's (bucket, recipient) pairs at a time instead of a month's (DataFusion's distinct
//! count does not spill). [`plan`] cuts the range when the rows it holds exceed a bound; the
//! pipeline runs the stages up to the aggregation once per part, concatenates the parts'
//! groups and runs the rest of the query over them as usual.
//!
//! It applies when every stage before the aggregation works row by row (parsing, `where`,
//! assignments, lookups, `fields`) and the aggregation groups by a timeslice that no later
//! stage overwrote. Time-dependent values (bucket starts, `N buckets`) come from the whole
//! range in every part; only the rows read are cut.

use mailscope_query::ir::{self, FieldsMode, StageKind};

use super::{QueryOptions, nanos, time};
use crate::store::{Catalog, SegmentMeta};

/// Rows of the range above which an aggregation by timeslice is computed in parts: a day of
/// a 100 M-record month (~3.3 M rows) is one part.
pub const DEFAULT_ROWS_PER_PART: u64 = 4_000_000;

/// Pool bytes a part's row may take: a distinct count's state is about 50 bytes a row and is
/// held several times over (the partial aggregation's output, a repartition's buffer, the
/// final set), and the pool is shared by the queries running beside it.
const POOL_BYTES_PER_PART_ROW: u64 = 512;

/// Fewest rows in a part, whatever the pool: below it a part's fixed cost dominates.
const MIN_ROWS_PER_PART: u64 = 50_000;

/// The rows of a part for a memory pool of `pool` bytes: [`DEFAULT_ROWS_PER_PART`] when the
/// pool is large, fewer when a part's distinct counts would not fit in it (a 128 MiB server,
/// with a 54 MiB pool, computes about 110 000 rows at a time).
pub fn rows_per_part_for_pool(pool: usize) -> u64 {
    (u64::try_from(pool).unwrap_or(u64::MAX) / POOL_BYTES_PER_PART_ROW)
        .clamp(MIN_ROWS_PER_PART, DEFAULT_ROWS_PER_PART)
}

/// Most parts a range is cut into (the bound on rows is raised instead), so that a fine
/// timeslice over a long range does not turn into thousands of plans.
const MAX_PARTS: usize = 128;

/// How to compute a query's first aggregation in parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parts {
    /// Index of the aggregation stage: stages `..=stage` run once per part.
    pub stage: usize,
    /// The parts' time ranges, `[from, to)` in nanoseconds, in order, covering the range.
    pub ranges: Vec<(i64, i64)>,
}

/// The parts to compute `query`'s aggregation in, when it groups by a timeslice and the
/// rows the range reads exceed `rows_per_part`; `None`: one go. `rows_read` is what a
/// segment gives the query: its live rows, or its rollup's rows at the level that answers.
pub fn plan(
    query: &ir::Query,
    options: &QueryOptions,
    catalog: &Catalog,
    rows_read: &dyn Fn(&SegmentMeta) -> u64,
    rows_per_part: u64,
) -> Option<Parts> {
    Slicing::of(query, options)?.parts(options, catalog, rows_read, rows_per_part)
}

/// Where a query's aggregation by timeslice may be cut: its stage and the bucket starts
/// inside the range (nanoseconds).
#[derive(Debug)]
pub struct Slicing {
    stage: usize,
    cuts: Vec<i64>,
}

impl Slicing {
    /// The slicing of `query`'s first aggregation, when it groups by a timeslice after
    /// row-by-row stages only; `None` otherwise.
    pub fn of(query: &ir::Query, options: &QueryOptions) -> Option<Slicing> {
        let (from_ms, to_ms) = (
            options.from.timestamp_millis(),
            options.to.timestamp_millis(),
        );
        // The timeslice field in effect: its name and span.
        let mut slice: Option<(&str, i64)> = None;
        for (index, stage) in query.stages.iter().enumerate() {
            match &stage.kind {
                StageKind::Timeslice { span, alias } => {
                    let span = match span {
                        ir::TimesliceSpan::Millis(ms) => *ms,
                        ir::TimesliceSpan::Buckets(n) => time::span_for_buckets(from_ms, to_ms, *n),
                    };
                    slice = Some((alias.as_str(), span));
                }
                StageKind::Aggregate { by, .. } => {
                    let (alias, span) = slice?;
                    if !by.iter().any(|field| field.eq_ignore_ascii_case(alias)) {
                        return None;
                    }
                    let starts = time::bucket_starts(from_ms, to_ms, span, options.time_zone)?;
                    let (from, to) = (nanos(options.from), nanos(options.to));
                    let cuts: Vec<i64> = starts
                        .into_iter()
                        .filter_map(|ms| ms.checked_mul(1_000_000))
                        .filter(|&ns| ns > from && ns < to)
                        .collect();
                    return Some(Slicing { stage: index, cuts });
                }
                kind => {
                    let written = writes(kind)?;
                    if let Some((alias, _)) = slice {
                        let overwritten = written.iter().any(|w| w.eq_ignore_ascii_case(alias));
                        let dropped = match kind {
                            StageKind::Fields { mode, names } => {
                                let named = names.iter().any(|n| n.eq_ignore_ascii_case(alias));
                                named == (*mode == FieldsMode::Drop)
                            }
                            _ => false,
                        };
                        if overwritten || dropped || alias.starts_with("_threatlookup") {
                            slice = None;
                        }
                    }
                }
            }
        }
        None
    }

    /// The parts of the range, when the rows it reads (`rows_read` of each segment)
    /// exceed `rows_per_part`; `None`: one go.
    pub fn parts(
        &self,
        options: &QueryOptions,
        catalog: &Catalog,
        rows_read: &dyn Fn(&SegmentMeta) -> u64,
        rows_per_part: u64,
    ) -> Option<Parts> {
        let (from, to) = (nanos(options.from), nanos(options.to));
        let segments: Vec<&SegmentMeta> = catalog.segments_overlapping(from, to).collect();
        let ranges = cut(&segments, rows_read, from, to, &self.cuts, rows_per_part);
        (ranges.len() > 1).then_some(Parts {
            stage: self.stage,
            ranges,
        })
    }
}

/// Rows of the range above which a query for messages (no aggregation) reads the range a
/// part at a time, newest part first, until it has its messages: the newest 10 000 of a
/// 100 M-record month are then read from the last hours, not sorted out of all of it, and a
/// search over a demo-sized store reads about its newest day.
pub const MESSAGE_ROWS_PER_PART: u64 = 250_000;

/// The parts to read a query for messages in, newest first, when every stage works row by
/// row and the rows of the range exceed `rows_per_part`; `None`: one go. Parts end at hour
/// starts (UTC); segments hold rows in `Received` order, so a part reads its row groups only.
pub fn newest_first(
    query: &ir::Query,
    options: &QueryOptions,
    catalog: &Catalog,
    rows_per_part: u64,
) -> Option<Vec<(i64, i64)>> {
    if options.max_raw_rows == 0 || !query.stages.iter().all(|s| writes(&s.kind).is_some()) {
        return None;
    }
    const HOUR: i64 = 3_600 * 1_000_000_000;
    let (from, to) = (nanos(options.from), nanos(options.to));
    let segments: Vec<&SegmentMeta> = catalog.segments_overlapping(from, to).collect();
    let first = from.div_euclid(HOUR).checked_add(1)?.checked_mul(HOUR)?;
    let cuts: Vec<i64> = (0..)
        .map_while(|i: i64| first.checked_add(i.checked_mul(HOUR)?).filter(|&c| c < to))
        .collect();
    let mut ranges = cut(
        &segments,
        &|s| s.live_rows(),
        from,
        to,
        &cuts,
        rows_per_part,
    );
    ranges.reverse();
    (ranges.len() > 1).then_some(ranges)
}

/// The fields a row-by-row stage writes; `None` for a stage that looks at more than one row
/// (sorts, limits, windows, aggregations, shaping) or whose fields depend on the data
/// (`json auto`).
fn writes(kind: &StageKind) -> Option<Vec<&str>> {
    Some(match kind {
        StageKind::Json { extractions, .. } => {
            extractions.iter().map(|e| e.alias.as_str()).collect()
        }
        StageKind::Parse { aliases, .. } => aliases.iter().map(String::as_str).collect(),
        StageKind::ParseRegex { groups, .. } => groups.iter().map(String::as_str).collect(),
        StageKind::Assign { alias, .. } => vec![alias.as_str()],
        StageKind::Lookup { columns, .. } => columns.iter().map(|c| c.alias.as_str()).collect(),
        StageKind::Split { columns, .. } => columns.iter().map(|c| c.alias.as_str()).collect(),
        // Its `_threatlookup.*` fields: see the prefix test of the caller.
        StageKind::ThreatLookup { .. } => Vec::new(),
        StageKind::Where(_) | StageKind::Fields { .. } => Vec::new(),
        _ => return None,
    })
}

/// Cuts `[from, to)` at some of `cuts` (sorted bucket starts inside it) so that each part
/// holds about `rows_per_part` rows or fewer (a single bucket may hold more), at most
/// [`MAX_PARTS`] parts. Rows are estimated from each segment's `rows_read`, spread evenly
/// over its span of `Received`.
fn cut(
    segments: &[&SegmentMeta],
    rows_read: &dyn Fn(&SegmentMeta) -> u64,
    from: i64,
    to: i64,
    cuts: &[i64],
    rows_per_part: u64,
) -> Vec<(i64, i64)> {
    let rows: Vec<f64> = segments.iter().map(|s| rows_read(s) as f64).collect();
    // Rows received before `t` (estimated).
    let before = |t: i64| -> f64 {
        segments
            .iter()
            .zip(&rows)
            .map(|(s, rows)| {
                let span = (s.max_received - s.min_received) as f64 + 1.0;
                let share = ((t - s.min_received) as f64 / span).clamp(0.0, 1.0);
                rows * share
            })
            .sum()
    };
    let total = before(to) - before(from);
    let mut bound = (rows_per_part.max(1) as f64).max(total / MAX_PARTS as f64);
    loop {
        let ranges = cut_within(&before, from, to, cuts, bound);
        // Parts end at bucket starts, so they may hold less than the bound: retry wider.
        if ranges.len() <= MAX_PARTS {
            return ranges;
        }
        bound *= 2.0;
    }
}

/// The parts of [`cut`] for one bound on the rows `before` counts.
fn cut_within(
    before: &dyn Fn(i64) -> f64,
    from: i64,
    to: i64,
    cuts: &[i64],
    bound: f64,
) -> Vec<(i64, i64)> {
    if before(to) - before(from) <= bound || cuts.is_empty() {
        return vec![(from, to)];
    }
    let mut ranges = Vec::new();
    let (mut start, mut start_rows) = (from, before(from));
    let mut next = 0;
    while next < cuts.len() {
        // The last cut whose part stays within the bound; at least the next one.
        let within = cuts[next..].partition_point(|&c| before(c) - start_rows <= bound);
        let at = next + within.max(1) - 1;
        let end = cuts[at];
        ranges.push((start, end));
        start = end;
        start_rows = before(end);
        next = at + 1;
        if before(to) - start_rows <= bound {
            break;
        }
    }
    ranges.push((start, to));
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000_000_000;

    fn segment(min: i64, max: i64, rows: u64) -> SegmentMeta {
        let mut s = SegmentMeta::to_write("2026-09-01", 1, 0);
        (s.min_received, s.max_received, s.rows) = (min, max, rows);
        s
    }

    fn hours(n: i64) -> Vec<i64> {
        (1..n).map(|h| h * HOUR).collect()
    }

    #[test]
    fn a_range_within_the_bound_is_one_part() {
        let s = segment(0, 24 * HOUR - 1, 1000);
        assert_eq!(
            cut(
                &[&s],
                &SegmentMeta::live_rows,
                0,
                24 * HOUR,
                &hours(24),
                1000
            ),
            vec![(0, 24 * HOUR)]
        );
    }

    #[test]
    fn parts_cover_the_range_at_bucket_starts_within_the_bound() {
        // 100 rows an hour over two days.
        let a = segment(0, 24 * HOUR - 1, 2400);
        let b = segment(24 * HOUR, 48 * HOUR - 1, 2400);
        let ranges = cut(
            &[&a, &b],
            &SegmentMeta::live_rows,
            0,
            48 * HOUR,
            &hours(48),
            1000,
        );
        assert_eq!(ranges.first().map(|r| r.0), Some(0));
        assert_eq!(ranges.last().map(|r| r.1), Some(48 * HOUR));
        for pair in ranges.windows(2) {
            assert_eq!(pair[0].1, pair[1].0, "parts are contiguous");
        }
        for (from, to) in &ranges {
            assert_eq!(from % HOUR, 0, "parts start at bucket starts");
            assert!(to - from <= 10 * HOUR, "≤ 1000 rows: {from}..{to}");
        }
        assert_eq!(ranges.len(), 5, "{ranges:?}");
    }

    #[test]
    fn a_bucket_larger_than_the_bound_is_a_part_of_its_own() {
        let s = segment(0, 4 * HOUR - 1, 4000);
        let ranges = cut(&[&s], &SegmentMeta::live_rows, 0, 4 * HOUR, &hours(4), 10);
        assert_eq!(
            ranges,
            vec![
                (0, HOUR),
                (HOUR, 2 * HOUR),
                (2 * HOUR, 3 * HOUR),
                (3 * HOUR, 4 * HOUR)
            ]
        );
    }

    #[test]
    fn the_number_of_parts_is_bounded() {
        let s = segment(0, 1000 * HOUR - 1, 1_000_000);
        let ranges = cut(
            &[&s],
            &SegmentMeta::live_rows,
            0,
            1000 * HOUR,
            &hours(1000),
            1,
        );
        assert!(ranges.len() <= MAX_PARTS, "{}", ranges.len());
        assert!(ranges.len() > MAX_PARTS / 2, "{}", ranges.len());
    }

    fn query(text: &str) -> ir::Query {
        mailscope_query::compile(text).expect("compiles")
    }

    fn options() -> QueryOptions {
        QueryOptions {
            from: "2026-09-01T00:00:00Z".parse().expect("time"),
            to: "2026-09-03T00:00:00Z".parse().expect("time"),
            time_zone: chrono_tz::UTC,
            geo: None,
            asn: None,
            threat: None,
            max_raw_rows: 100,
        }
    }

    fn catalog() -> Catalog {
        let start = nanos(options().from);
        Catalog {
            segments: vec![
                segment(start, start + 24 * HOUR - 1, 2400),
                segment(start + 24 * HOUR, start + 48 * HOUR - 1, 2400),
            ],
            ..Catalog::default()
        }
    }

    fn parts(text: &str) -> Option<Parts> {
        plan(
            &query(text),
            &options(),
            &catalog(),
            &SegmentMeta::live_rows,
            1000,
        )
    }

    #[test]
    fn an_aggregation_by_timeslice_after_row_by_row_stages_is_computed_in_parts() {
        let parts = parts(
            "* | json \"RecipientAddress\" as r | where r matches \"*a*\" | timeslice 1h \
             | count_distinct(r) by _timeslice | sort by _timeslice",
        )
        .expect("in parts");
        assert_eq!(parts.stage, 3);
        assert_eq!(parts.ranges.len(), 5);
    }

    #[test]
    fn what_cannot_be_cut_by_time_is_computed_in_one_go() {
        for text in [
            // No timeslice among the groups.
            "* | json \"RecipientAddress\" as r | timeslice 1h | count by r",
            "* | json \"RecipientAddress\" as r | count_distinct(r)",
            // A stage over several rows before the aggregation.
            "* | timeslice 1h | limit 10 | count by _timeslice",
            "* | timeslice 1h | sort by _messagetime | count by _timeslice",
            // The timeslice overwritten or dropped before the aggregation.
            "* | timeslice 1h | \"x\" as _timeslice | count by _timeslice",
            "* | timeslice 1h | fields - _timeslice | count by _timeslice",
            "* | timeslice 1h | fields _raw | count by _timeslice",
            // Too few rows.
        ] {
            assert_eq!(parts(text), None, "{text}");
        }
        assert_eq!(
            plan(
                &query("* | timeslice 1h | count by _timeslice"),
                &options(),
                &catalog(),
                &SegmentMeta::live_rows,
                10_000
            ),
            None
        );
        assert!(parts("* | timeslice 1h | fields _timeslice | count by _timeslice").is_some());
    }
}
