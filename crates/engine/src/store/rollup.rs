//! The partial aggregates of a segment (its rollup): a Parquet file beside it
//! (`<segment>.rollup`) with, for each level, one row per time bucket of `Received` and
//! combination of the level's dimension columns, weighted by the number of rows it stands
//! for.
//!
//! A rollup row has the stored schema, so a query's stages run over it unchanged
//! (`exec/rollup.rs` decides when that gives the same answer as the rows):
//! - a dimension column holds its value;
//! - `Received` holds the bucket's start;
//! - `Size` holds the sum of the sizes;
//! - every other column holds only whether it is null: null, or a placeholder (`""`, `0`),
//!   and the rows of a group agree on it (it is part of the group key) — except the finer
//!   geolocation columns ([`keeps_nullness`]), null throughout;
//! - `__weight` is the number of rows, `__level` the level.
//!
//! Levels ([`LEVELS`]): by quarter hour, the Sumo metadata, organization and status, then
//! also the country of each IP; by UTC day, those and one of sender, recipient, `FromIP`,
//! `ToIP`, the subject's words, `FromIP` with its country; by hour, the sender, and the
//! domain of the sender or of the recipient. A query is answered from the level that reads
//! the fewest rows among those whose dimensions cover it and whose buckets its timeslices are
//! unions of. The rollup is written and synced with the segment, before any catalog names the
//! segment, and rebuilt whenever a merge rewrites the segment.

use std::collections::HashMap;

/// Rollups hash every row once per level: a fast hash, not a DoS-resistant one (the keys are
/// small codes; the strings interned are bounded by the segment).
type Fast = foldhash::fast::FixedState;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use arrow::array::{
    Array, ArrayRef, AsArray, Float64Builder, Int32Builder, Int64Builder, RecordBatch,
    StringBuilder, TimestampNanosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef, TimestampNanosecondType};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::schema::{self, IpSide, stored_schema};

/// Width of the fine time buckets: every whole-hour, half-hour and quarter-hour time zone
/// offset is a multiple, so a timeslice of 15 minutes or more in any zone is a union of them.
pub const QUARTER_HOUR_NS: i64 = 15 * 60 * 1_000_000_000;
/// Width of the coarse buckets of the levels keyed by a column with many values: a UTC day.
pub const DAY_NS: i64 = 24 * 60 * 60 * 1_000_000_000;
/// The buckets of the hourly sender and domain levels (hourly distinct counts).
pub const HOUR_NS: i64 = 60 * 60 * 1_000_000_000;
/// The column counting the rows a rollup row stands for.
pub const WEIGHT: &str = "__weight";
/// The column naming a rollup row's level.
pub const LEVEL: &str = "__level";

/// Every level's dimensions start with these.
const BASE: [&str; 5] = [
    schema::SOURCE_CATEGORY,
    schema::SOURCE,
    schema::COLLECTOR,
    schema::ORGANIZATION,
    schema::STATUS,
];

/// One level of a rollup: its dimension columns (stored names) and its time bucket.
#[derive(Debug, Clone)]
pub struct Level {
    pub dims: Vec<String>,
    pub bucket_ns: i64,
    /// The word level: one row per word of the subject (maximal runs of `[0-9A-Za-z_]`),
    /// the word in `Subject`, weighted by its occurrences (and `Size` summed per occurrence).
    /// It answers only queries that split the subject into exactly those words.
    pub words: bool,
    /// A domain level: also grouped by the domain of this address column
    /// ([`domain_key`]), the column holding the smallest address of each group.
    pub domain: Option<&'static str>,
}

/// The levels, in the order a query tries them (smallest first). Their numbers are part of
/// the format: a level is only ever added at the end.
/// - 0: the base dimensions by quarter hour;
/// - 1: also the country of each IP, by quarter hour;
/// - 2 to 5: level 0's dimensions and one column with many values — sender, recipient,
///   `FromIP`, `ToIP` — by UTC day (by quarter hour they would hold nearly a row per row;
///   with the countries too, three times as many rows). Not the subject: its
///   distinct values are nearly as many as the rows (measured: a subject level took the
///   keyword panel from 1.3 s to 1.0 s at 10 M);
/// - 6: the words of the subject with level 0's dimensions, by UTC day ([`Level::words`]):
///   the keyword panel's counts (with the countries it would be 3.4 times larger);
/// - 7: level 0's dimensions and the sender by hour: the hourly distinct senders of the
///   Message Monitoring sparklines. Not the recipient: by hour it holds nearly a row per row
///   (73 % at 1 M);
/// - 8 and 9 (format 2): level 0's dimensions and the domain of the sender (8) or of the
///   recipient (9) by hour ([`Level::domain`]): the distinct domains of Message Monitoring,
///   by hour and in all;
/// - 10 (format 3): level 4 with the country of `FromIP` (code and name), by UTC day: counts
///   by sender IP and its country (the sender IPs' threat table). An address has one
///   country, so it holds about as many rows as level 4.
pub static LEVELS: LazyLock<Vec<Level>> = LazyLock::new(|| {
    let base: Vec<String> = BASE.iter().map(|s| s.to_string()).collect();
    let with = |extra: &[String]| [base.as_slice(), extra].concat();
    let level = |dims: Vec<String>, bucket_ns: i64, words: bool| Level {
        dims,
        bucket_ns,
        words,
        domain: None,
    };
    let countries: Vec<String> = [IpSide::From, IpSide::To]
        .into_iter()
        .flat_map(|side| {
            ["country_code", "country_name"].map(|column| schema::geo_column(side, column))
        })
        .collect();
    let mut levels = vec![
        level(base.clone(), QUARTER_HOUR_NS, false),
        level(with(&countries), QUARTER_HOUR_NS, false),
    ];
    for wide in [
        schema::SENDER_ADDRESS,
        schema::RECIPIENT_ADDRESS,
        schema::FROM_IP,
        schema::TO_IP,
    ] {
        levels.push(level(with(&[wide.to_string()]), DAY_NS, false));
    }
    levels.push(level(base.clone(), DAY_NS, true));
    levels.push(level(
        with(&[schema::SENDER_ADDRESS.to_string()]),
        HOUR_NS,
        false,
    ));
    for address in [schema::SENDER_ADDRESS, schema::RECIPIENT_ADDRESS] {
        levels.push(Level {
            domain: Some(address),
            ..level(base.clone(), HOUR_NS, false)
        });
    }
    let from_countries: Vec<String> = ["country_code", "country_name"]
        .map(|column| schema::geo_column(IpSide::From, column))
        .into_iter()
        .collect();
    levels.push(level(
        with(&[[schema::FROM_IP.to_string()].as_slice(), &from_countries].concat()),
        DAY_NS,
        false,
    ));
    levels
});

/// What a domain level groups an address by: its domain as the language's
/// `extract field=<address> ".@(?<domain>.*)"` finds it (the text after the first `@` that
/// follows a character, to the end of the line), or, for an address with no such `@`, the
/// address itself — so the domain extracted from the group's address, whether it matches,
/// and whether it is null are those of every address of the group.
pub fn domain_key(address: &str) -> DomainKey<'_> {
    match DOMAIN.captures(address).and_then(|c| c.name("domain")) {
        Some(domain) => DomainKey::Domain(domain.as_str()),
        None => DomainKey::Address(address),
    }
}

/// See [`domain_key`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DomainKey<'a> {
    Domain(&'a str),
    Address(&'a str),
}

/// The regex (as the language translates it) whose capture a domain level keeps, with the
/// capture named `group`: a query's `extract` or `parse regex` with exactly this regex reads
/// only what a domain level keeps.
pub fn domain_regex(group: &str) -> Option<String> {
    mailscope_query::regex::translate(&format!(".@(?<{group}>.*)"))
        .ok()
        .map(|t| t.pattern)
}

static DOMAIN: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(&domain_regex("domain").expect("the domain regex translates"))
        .expect("the domain regex compiles")
});

const MAX_DIMENSIONS: usize = 10;

/// Whether rollup rows keep the null-ness of a (non-dimension) stored column. They do for
/// every column but the finer geolocation (continent, region, city, postal code,
/// coordinates): which of those a location has varies by address and would split the groups
/// of every level (3 times the rows at level 0), while queries test the country.
pub fn keeps_nullness(column: &str) -> bool {
    static FINER_GEO: LazyLock<Vec<String>> = LazyLock::new(|| {
        let finer = schema::STORED_GEO_TEXT
            .iter()
            .chain(&schema::STORED_GEO_FLOAT)
            .filter(|c| !c.starts_with("country_"));
        let finer: Vec<&str> = finer.copied().collect();
        [IpSide::From, IpSide::To]
            .into_iter()
            .flat_map(|side| finer.iter().map(move |c| schema::geo_column(side, c)))
            .collect()
    });
    !FINER_GEO.iter().any(|c| c == column)
}

/// The definition of [`LEVELS`] this build writes: changed whenever levels are added (at
/// the end) or a level's dimensions, bucket or meaning change.
pub const ROLLUP_FORMAT: u32 = 3;

/// How many of [`LEVELS`] a rollup of `format` holds, as this build defines them: format 1
/// has the first eight, format 2 adds the domain levels, format 3 the sender IP with its
/// country. Another format is not read.
pub fn levels_of_format(format: u32) -> usize {
    match format {
        1 => 8,
        2 => 10,
        3 => 11,
        _ => 0,
    }
}

impl RollupMeta {
    /// Whether queries may read level `level` of this rollup.
    pub fn has_level(&self, level: usize) -> bool {
        level < levels_of_format(self.format) && self.rows.len() > level
    }
}

/// What the catalog records of a segment's rollup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollupMeta {
    /// The definition of the levels the file was built with ([`ROLLUP_FORMAT`]): queries read
    /// the levels this build defines alike ([`levels_of_format`]), the others are answered
    /// from rows until a merge rewrites the rollup.
    #[serde(default)]
    pub format: u32,
    /// Rows of each level, smallest level first.
    pub rows: Vec<u64>,
    /// Whether every row of the segment has its geolocation stored (a row without it is
    /// looked up at query time from its IP, which a rollup does not keep).
    pub geo_complete: bool,
}

/// The rollup's path for a segment's path.
pub fn path_for(segment: &Path) -> PathBuf {
    let mut name = segment.as_os_str().to_owned();
    name.push(".rollup");
    PathBuf::from(name)
}

static ROLLUP_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields: Vec<Field> = stored_schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    fields.push(Field::new(LEVEL, DataType::Int32, false));
    fields.push(Field::new(WEIGHT, DataType::Int64, false));
    Arc::new(Schema::new(fields))
});

/// The schema of rollup files: the stored columns (all nullable), the level and the weight.
pub fn rollup_schema() -> SchemaRef {
    Arc::clone(&ROLLUP_SCHEMA)
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct GroupKey {
    bucket: i64,
    /// Codes of the dimension values (`NULL_CODE` for null), in the level's order.
    dims: [u32; MAX_DIMENSIONS],
    /// Bit `c` set: stored column `c` (not a dimension) is null.
    nulls: u64,
}

const NULL_CODE: u32 = u32::MAX;

/// A group's place in the file: bucket, value ranks, null bits.
type SortKey = (i64, [u32; MAX_DIMENSIONS], u64);

#[derive(Default, Clone, Copy)]
struct Totals {
    weight: i64,
    size: Option<i64>,
}

impl Totals {
    fn add(&mut self, size: Option<i64>) {
        self.weight += 1;
        if let Some(size) = size {
            self.size = Some(self.size.unwrap_or(0).wrapping_add(size));
        }
    }
}

/// A dimension holding an address column's [`domain_key`].
struct DomainDimension {
    /// Its position among the builder's dimensions, and its address dimension's.
    position: usize,
    address: usize,
    /// Per code of the address dimension, the code of its key here ([`UNSEEN`]: not yet).
    by_address: Vec<u32>,
}

/// An address code whose domain key is not yet computed.
const UNSEEN: u32 = u32::MAX - 1;

struct LevelBuilder {
    /// Positions of the level's dimensions among the builder's dimension columns.
    dims: Vec<usize>,
    /// The word level: a row per word occurrence, the word's code in the slot after the
    /// dimensions.
    words: bool,
    bucket_ns: i64,
    /// Bits of the columns whose null-ness is kept (every column but the dimensions and
    /// `Received`; `Size` is also summed).
    null_bits: u64,
    groups: HashMap<GroupKey, Totals, Fast>,
}

/// Builds a segment's rollup from its rows, batch by batch (stored schema).
pub struct RollupBuilder {
    /// The format it builds ([`levels_of_format`]).
    format: u32,
    /// Stored column indexes of every level's dimensions (each once, and once more for each
    /// domain dimension: its address column).
    columns: Vec<usize>,
    /// Per dimension: value -> code (a domain dimension: key -> code), and the values by
    /// code (a domain dimension: the smallest address of each key).
    codes: Vec<HashMap<Box<str>, u32, Fast>>,
    values: Vec<Vec<Box<str>>>,
    /// The domain dimensions, computed from the codes of their address dimension.
    domains: Vec<DomainDimension>,
    levels: Vec<LevelBuilder>,
    /// The words of subjects (for the word level): word -> code, and the words by code.
    word_codes: HashMap<Box<str>, u32, Fast>,
    words: Vec<Box<str>>,
    subject: usize,
    received: usize,
    size: usize,
    geo_version: usize,
    geo_complete: bool,
}

impl RollupBuilder {
    /// A builder of this build's format ([`ROLLUP_FORMAT`]).
    pub fn new() -> Result<RollupBuilder> {
        RollupBuilder::of_format(ROLLUP_FORMAT)
    }

    /// A builder of the levels of an earlier `format` (to verify a rollup written by an
    /// earlier version).
    pub fn of_format(format: u32) -> Result<RollupBuilder> {
        let count = levels_of_format(format);
        if count == 0 {
            return Err(Error::Query(format!("rollup: no format {format}")));
        }
        let schema = stored_schema();
        let received = schema.index_of(schema::RECEIVED)?;
        let size = schema.index_of(schema::SIZE)?;
        let geo_version = schema.index_of(schema::GEO_VERSION)?;
        let mut columns: Vec<usize> = Vec::new();
        let mut domains: Vec<DomainDimension> = Vec::new();
        let plain = |columns: &mut Vec<usize>, domains: &[DomainDimension], column: usize| {
            let is_domain = |p: usize| domains.iter().any(|d| d.position == p);
            match (0..columns.len()).find(|&p| columns[p] == column && !is_domain(p)) {
                Some(position) => position,
                None => {
                    columns.push(column);
                    columns.len() - 1
                }
            }
        };
        let mut levels = Vec::new();
        for level in &LEVELS[..count] {
            let mut dims = Vec::new();
            let mut stored = Vec::new();
            for name in &level.dims {
                let column = schema.index_of(name)?;
                stored.push(column);
                dims.push(plain(&mut columns, &domains, column));
            }
            if let Some(name) = level.domain {
                let column = schema.index_of(name)?;
                stored.push(column);
                let address = plain(&mut columns, &domains, column);
                let position = match domains.iter().find(|d| d.address == address) {
                    Some(domain) => domain.position,
                    None => {
                        columns.push(column);
                        domains.push(DomainDimension {
                            position: columns.len() - 1,
                            address,
                            by_address: Vec::new(),
                        });
                        columns.len() - 1
                    }
                };
                dims.push(position);
            }
            let subject = schema.index_of(schema::SUBJECT)?;
            let mut null_bits = 0u64;
            for (column, field) in schema.fields().iter().enumerate() {
                let word = level.words && column == subject;
                if !stored.contains(&column)
                    && column != received
                    && !word
                    && keeps_nullness(field.name())
                {
                    null_bits |= 1 << column;
                }
            }
            levels.push(LevelBuilder {
                dims,
                words: level.words,
                bucket_ns: level.bucket_ns,
                null_bits,
                groups: HashMap::default(),
            });
        }
        Ok(RollupBuilder {
            format,
            codes: vec![HashMap::default(); columns.len()],
            values: vec![Vec::new(); columns.len()],
            columns,
            domains,
            levels,
            word_codes: HashMap::default(),
            words: Vec::new(),
            subject: schema.index_of(schema::SUBJECT)?,
            received,
            size,
            geo_version,
            geo_complete: true,
        })
    }

    /// Adds rows in the stored schema.
    pub fn add(&mut self, batch: &RecordBatch) -> Result<()> {
        let columns = batch.columns();
        if columns.len() != stored_schema().fields().len() || columns.len() > 64 {
            return Err(Error::Query(
                "rollup: a batch not in the stored schema".into(),
            ));
        }
        let received = columns[self.received]
            .as_primitive_opt::<TimestampNanosecondType>()
            .ok_or_else(|| Error::Query("rollup: Received is not a timestamp".into()))?;
        let size = columns[self.size]
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| Error::Query("rollup: Size is not an integer".into()))?;
        if columns[self.geo_version].null_count() > 0 {
            self.geo_complete = false;
        }
        // The text of each plain dimension (none for the domain dimensions).
        let mut texts = Vec::with_capacity(self.columns.len());
        for (position, &c) in self.columns.iter().enumerate() {
            if self.domains.iter().any(|d| d.position == position) {
                texts.push(None);
                continue;
            }
            texts.push(Some(columns[c].as_string_opt::<i32>().ok_or_else(
                || {
                    Error::Query(format!(
                        "rollup: dimension {} is not text",
                        stored_schema().field(c).name()
                    ))
                },
            )?));
        }
        // Null bits of every row, column by column (most columns have no nulls at all).
        let rows = batch.num_rows();
        let mut nulls = vec![0u64; rows];
        for (c, column) in columns.iter().enumerate() {
            if let Some(mask) = column.logical_nulls().filter(|n| n.null_count() > 0) {
                for (row, bits) in nulls.iter_mut().enumerate() {
                    if mask.is_null(row) {
                        *bits |= 1 << c;
                    }
                }
            }
        }
        let subjects = columns[self.subject]
            .as_string_opt::<i32>()
            .ok_or_else(|| Error::Query("rollup: Subject is not text".into()))?;
        let mut word_codes: Vec<u32> = Vec::new();
        let mut codes = vec![NULL_CODE; self.columns.len()];
        // The previous row's value per dimension: neighbouring rows mostly repeat values of
        // the columns with few values, which then cost a comparison, not a hash.
        let mut previous: Vec<Option<(usize, u32)>> = vec![None; self.columns.len()];
        for row in 0..rows {
            let nulls = nulls[row];
            for (d, text) in texts.iter().enumerate() {
                let Some(text) = text else { continue };
                codes[d] = if text.is_null(row) {
                    NULL_CODE
                } else {
                    let value = text.value(row);
                    match previous[d] {
                        Some((last, code)) if text.value(last) == value => code,
                        _ => {
                            let code = match self.codes[d].get(value) {
                                Some(code) => *code,
                                None => {
                                    let code = u32::try_from(self.values[d].len())
                                        .ok()
                                        .filter(|c| *c != NULL_CODE)
                                        .ok_or_else(|| {
                                            Error::Query("rollup: too many distinct values".into())
                                        })?;
                                    self.codes[d].insert(value.into(), code);
                                    self.values[d].push(value.into());
                                    code
                                }
                            };
                            previous[d] = Some((row, code));
                            code
                        }
                    }
                };
            }
            for domain in &mut self.domains {
                // Its own values apart from its address dimension's (two entries of `values`).
                let mut smallest = std::mem::take(&mut self.values[domain.position]);
                let code = domain.code_of(
                    codes[domain.address],
                    &self.values[domain.address],
                    &mut self.codes[domain.position],
                    &mut smallest,
                );
                self.values[domain.position] = smallest;
                codes[domain.position] = code?;
            }
            let time = received.value(row);
            let size = (!size.is_null(row)).then(|| size.value(row));
            word_codes.clear();
            if !subjects.is_null(row) {
                let (interned, words) = (&mut self.word_codes, &mut self.words);
                let mut failed = false;
                crate::exec::words::for_each_ascii_word(subjects.value(row), |word| {
                    let code = match interned.get(word) {
                        Some(code) => *code,
                        None => match u32::try_from(words.len()).ok().filter(|c| *c != NULL_CODE) {
                            Some(code) => {
                                interned.insert(word.into(), code);
                                words.push(word.into());
                                code
                            }
                            None => {
                                failed = true;
                                return;
                            }
                        },
                    };
                    word_codes.push(code);
                });
                if failed {
                    return Err(Error::Query("rollup: too many distinct words".into()));
                }
            }
            for level in &mut self.levels {
                let mut key = GroupKey {
                    bucket: time.div_euclid(level.bucket_ns) * level.bucket_ns,
                    dims: [NULL_CODE; MAX_DIMENSIONS],
                    nulls: nulls & level.null_bits,
                };
                for (slot, &d) in level.dims.iter().enumerate() {
                    key.dims[slot] = codes[d];
                }
                if level.words {
                    // One count per occurrence of each word.
                    for &word in &word_codes {
                        key.dims[level.dims.len()] = word;
                        let totals = level.groups.entry(key).or_default();
                        totals.add(size);
                    }
                    continue;
                }
                level.groups.entry(key).or_default().add(size);
            }
        }
        Ok(())
    }

    /// The rollup's rows, level by level in batches of at most [`BATCH_GROUPS`] rows, and
    /// what the catalog records of it.
    pub fn finish(self) -> Result<(Vec<RecordBatch>, RollupMeta)> {
        let mut batches = Vec::new();
        let meta = self.each_batch(&mut |batch, _| {
            batches.push(batch);
            Ok(())
        })?;
        Ok((batches, meta))
    }

    /// Hands the rollup's rows to `emit` level by level, in batches of at most
    /// [`BATCH_GROUPS`] rows (with whether the batch ends its level): a level's groups are
    /// dropped once emitted, so a large segment's rollup is never whole in memory as Arrow
    /// arrays.
    fn each_batch(
        self,
        emit: &mut dyn FnMut(RecordBatch, bool) -> Result<()>,
    ) -> Result<RollupMeta> {
        // Each dimension's values in byte order, as a rank per code.
        let ranks: Vec<Vec<u32>> = self
            .values
            .iter()
            .map(|values| {
                let mut order: Vec<u32> = (0..values.len() as u32).collect();
                order.sort_unstable_by(|a, b| values[*a as usize].cmp(&values[*b as usize]));
                let mut rank = vec![0u32; values.len()];
                for (position, code) in order.into_iter().enumerate() {
                    rank[code as usize] = position as u32;
                }
                rank
            })
            .collect();
        let mut word_order: Vec<u32> = (0..self.words.len() as u32).collect();
        word_order.sort_unstable_by(|a, b| self.words[*a as usize].cmp(&self.words[*b as usize]));
        let mut word_ranks = vec![0u32; self.words.len()];
        for (position, code) in word_order.into_iter().enumerate() {
            word_ranks[code as usize] = position as u32;
        }
        let mut rows = Vec::new();
        for (index, level) in self.levels.into_iter().enumerate() {
            let level_number = i32::try_from(index).unwrap_or(i32::MAX);
            rows.push(level.into_batches(
                level_number,
                &self.columns,
                &self.values,
                &ranks,
                (&self.words, &word_ranks),
                emit,
            )?);
        }
        Ok(RollupMeta {
            format: self.format,
            rows,
            geo_complete: self.geo_complete,
        })
    }

    /// Writes the rollup beside `segment`, durably, one row group per level.
    pub fn write(self, segment: &Path) -> Result<RollupMeta> {
        let path = path_for(segment);
        let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
        let properties = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
            .set_statistics_enabled(EnabledStatistics::Chunk)
            .set_max_row_group_row_count(Some(1 << 20))
            .build();
        let mut writer = ArrowWriter::try_new(file, rollup_schema(), Some(properties))?;
        let meta = self.each_batch(&mut |batch, ends_level| {
            writer.write(&batch)?;
            if ends_level {
                writer.flush()?;
            }
            Ok(())
        })?;
        let file = writer.into_inner()?;
        file.sync_all().map_err(|e| Error::io(&path, e))?;
        Ok(meta)
    }
}

impl DomainDimension {
    /// The code of the domain key of the address with code `address` (null for null),
    /// interning the key and keeping the smallest address of each.
    fn code_of(
        &mut self,
        address: u32,
        addresses: &[Box<str>],
        keys: &mut HashMap<Box<str>, u32, Fast>,
        smallest: &mut Vec<Box<str>>,
    ) -> Result<u32> {
        if address == NULL_CODE {
            return Ok(NULL_CODE);
        }
        let index = address as usize;
        if self.by_address.len() <= index {
            self.by_address.resize(index + 1, UNSEEN);
        }
        if self.by_address[index] != UNSEEN {
            return Ok(self.by_address[index]);
        }
        let text = addresses[index].as_ref();
        // Domains and whole addresses apart: `d` or `a` before the text.
        let key: Box<str> = match domain_key(text) {
            DomainKey::Domain(domain) => format!("d{domain}").into(),
            DomainKey::Address(address) => format!("a{address}").into(),
        };
        let code = match keys.get(&key) {
            Some(&code) => {
                if text < smallest[code as usize].as_ref() {
                    smallest[code as usize] = text.into();
                }
                code
            }
            None => {
                let code = u32::try_from(smallest.len())
                    .ok()
                    .filter(|c| *c < UNSEEN)
                    .ok_or_else(|| Error::Query("rollup: too many distinct domains".into()))?;
                keys.insert(key, code);
                smallest.push(text.into());
                code
            }
        };
        self.by_address[index] = code;
        Ok(code)
    }
}

/// Most rows of a rollup batch: a level's groups become Arrow arrays this many at a time.
pub const BATCH_GROUPS: usize = 1 << 16;

impl LevelBuilder {
    /// Emits the level's groups in order, [`BATCH_GROUPS`] at a time; returns their number.
    fn into_batches(
        mut self,
        level: i32,
        columns_of: &[usize],
        values: &[Vec<Box<str>>],
        ranks: &[Vec<u32>],
        (words, word_ranks): (&[Box<str>], &[u32]),
        emit: &mut dyn FnMut(RecordBatch, bool) -> Result<()>,
    ) -> Result<u64> {
        let groups: Vec<(GroupKey, Totals)> =
            std::mem::take(&mut self.groups).into_iter().collect();
        // Sorted by bucket, then the values themselves (not their first-seen codes): the
        // file's content depends only on the rows.
        // Ranks of the values (null first), compared as integers; the word level's word is
        // the slot after the dimensions.
        let word_slot = self.dims.len();
        let rank = |slot: usize, code: u32| -> u32 {
            if code == NULL_CODE {
                0
            } else if slot == word_slot {
                word_ranks[code as usize] + 1
            } else {
                ranks[self.dims[slot]][code as usize] + 1
            }
        };
        let slots = self.dims.len() + usize::from(self.words);
        let mut order: Vec<(SortKey, usize)> = groups
            .iter()
            .enumerate()
            .map(|(index, (key, _))| {
                let mut ranked = [0u32; MAX_DIMENSIONS];
                for (slot, item) in ranked.iter_mut().enumerate().take(slots) {
                    *item = rank(slot, key.dims[slot]);
                }
                ((key.bucket, ranked, key.nulls), index)
            })
            .collect();
        order.sort_unstable();
        let groups: Vec<(GroupKey, Totals)> =
            order.into_iter().map(|(_, index)| groups[index]).collect();
        let chunks = groups.len().div_ceil(BATCH_GROUPS).max(1);
        for (n, chunk) in groups.chunks(BATCH_GROUPS).enumerate() {
            emit(
                self.batch(level, chunk, columns_of, values, words)?,
                n + 1 == chunks,
            )?;
        }
        if groups.is_empty() {
            emit(self.batch(level, &[], columns_of, values, words)?, true)?;
        }
        Ok(groups.len() as u64)
    }

    /// One batch of the level's rows: `groups` in order.
    fn batch(
        &self,
        level: i32,
        groups: &[(GroupKey, Totals)],
        columns_of: &[usize],
        values: &[Vec<Box<str>>],
        words: &[Box<str>],
    ) -> Result<RecordBatch> {
        let value = |slot: usize, code: u32| -> Option<&str> {
            let d = self.dims[slot];
            (code != NULL_CODE).then(|| values[d][code as usize].as_ref())
        };
        let word_slot = self.dims.len();
        let schema = stored_schema();
        let received = schema.index_of(schema::RECEIVED)?;
        let size = schema.index_of(schema::SIZE)?;
        let subject = schema.index_of(schema::SUBJECT)?;
        let mut columns: Vec<ArrayRef> = Vec::new();
        for (c, field) in schema.fields().iter().enumerate() {
            let dim = self.dims.iter().position(|&d| columns_of[d] == c);
            // A column whose null-ness is not kept is null throughout.
            let kept = keeps_nullness(field.name());
            let present = |key: &GroupKey| kept && key.nulls & (1 << c) == 0;
            let column: ArrayRef = if c == received {
                let mut b = TimestampNanosecondBuilder::with_capacity(groups.len());
                for (key, _) in groups {
                    b.append_value(key.bucket);
                }
                Arc::new(b.finish().with_timezone("UTC"))
            } else if self.words && c == subject {
                let mut b = StringBuilder::new();
                for (key, _) in groups {
                    let code = key.dims[word_slot];
                    b.append_option((code != NULL_CODE).then(|| words[code as usize].as_ref()));
                }
                Arc::new(b.finish())
            } else if c == size {
                let mut b = Int64Builder::with_capacity(groups.len());
                for (_, totals) in groups {
                    b.append_option(totals.size);
                }
                Arc::new(b.finish())
            } else {
                match (field.data_type(), dim) {
                    (DataType::Utf8, Some(d)) => {
                        let mut b = StringBuilder::new();
                        for (key, _) in groups {
                            b.append_option(value(d, key.dims[d]));
                        }
                        Arc::new(b.finish())
                    }
                    (DataType::Utf8, None) => {
                        let mut b = StringBuilder::new();
                        for (key, _) in groups {
                            b.append_option(present(key).then_some(""));
                        }
                        Arc::new(b.finish())
                    }
                    (DataType::Int64, None) => {
                        let mut b = Int64Builder::with_capacity(groups.len());
                        for (key, _) in groups {
                            b.append_option(present(key).then_some(0));
                        }
                        Arc::new(b.finish())
                    }
                    (DataType::Float64, None) => {
                        let mut b = Float64Builder::with_capacity(groups.len());
                        for (key, _) in groups {
                            b.append_option(present(key).then_some(0.0));
                        }
                        Arc::new(b.finish())
                    }
                    (other, _) => {
                        return Err(Error::Query(format!(
                            "rollup: no placeholder for {} ({other})",
                            field.name()
                        )));
                    }
                }
            };
            columns.push(column);
        }
        let mut levels = Int32Builder::with_capacity(groups.len());
        let mut weights = Int64Builder::with_capacity(groups.len());
        for (_, totals) in groups {
            levels.append_value(level);
            weights.append_value(totals.weight);
        }
        columns.push(Arc::new(levels.finish()));
        columns.push(Arc::new(weights.finish()));
        Ok(RecordBatch::try_new(rollup_schema(), columns)?)
    }
}

/// Reads a rollup file whole (for `verify`): its rows, in file order.
pub fn read(path: &Path) -> Result<Vec<RecordBatch>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)?
        .with_batch_size(65_536)
        .build()?;
    Ok(reader.collect::<std::result::Result<Vec<_>, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key is what the language's `extract ".@(?<d>.*)"` finds (its regex compiled as the
    /// engine compiles it), or the whole address when it finds nothing.
    #[test]
    fn the_domain_key_is_what_extract_finds() {
        let extract = regex::Regex::new(&domain_regex("d").unwrap()).unwrap();
        for (address, expected) in [
            ("user@contoso.com", DomainKey::Domain("contoso.com")),
            ("@lead@contoso.com", DomainKey::Domain("contoso.com")),
            ("x@@y.org", DomainKey::Domain("@y.org")),
            ("two@at@signs.net", DomainKey::Domain("at@signs.net")),
            ("a@", DomainKey::Domain("")),
            ("a@b\nc.com", DomainKey::Domain("b")),
            ("line\n@break.com", DomainKey::Address("line\n@break.com")),
            ("\u{2028}@sep.com", DomainKey::Address("\u{2028}@sep.com")),
            ("no-at-sign", DomainKey::Address("no-at-sign")),
            ("", DomainKey::Address("")),
        ] {
            assert_eq!(domain_key(address), expected, "{address:?}");
            let found = extract.captures(address).and_then(|c| c.name("d"));
            match expected {
                DomainKey::Domain(domain) => assert_eq!(found.map(|m| m.as_str()), Some(domain)),
                DomainKey::Address(_) => assert!(found.is_none(), "{address:?}"),
            }
        }
    }

    /// A domain level has a row per bucket and domain, holding the domain's smallest
    /// address, whatever order the rows come in.
    #[test]
    fn a_domain_level_groups_addresses_by_domain() {
        use arrow::array::{StringArray, TimestampNanosecondArray};
        let schema = stored_schema();
        let senders = ["b@x.org", "a@x.org", "c@y.org", "nodomain", "a@x.org"];
        let build = |order: &[usize]| {
            let columns: Vec<ArrayRef> = schema
                .fields()
                .iter()
                .map(|field| -> ArrayRef {
                    match field.name().as_str() {
                        schema::RECEIVED => Arc::new(
                            TimestampNanosecondArray::from(vec![HOUR_NS / 2; order.len()])
                                .with_timezone("UTC"),
                        ),
                        schema::SENDER_ADDRESS => Arc::new(StringArray::from(
                            order.iter().map(|&i| senders[i]).collect::<Vec<_>>(),
                        )),
                        _ if field.is_nullable() => {
                            arrow::array::new_null_array(field.data_type(), order.len())
                        }
                        _ => match field.data_type() {
                            DataType::Utf8 => Arc::new(StringArray::from(vec![""; order.len()])),
                            DataType::Int64 => {
                                Arc::new(arrow::array::Int64Array::from(vec![0; order.len()]))
                            }
                            other => panic!("{}: {other}", field.name()),
                        },
                    }
                })
                .collect();
            let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
            let mut builder = RollupBuilder::new().unwrap();
            builder.add(&batch).unwrap();
            let (batches, meta) = builder.finish().unwrap();
            let all = arrow::compute::concat_batches(&rollup_schema(), &batches).unwrap();
            let level = LEVELS
                .iter()
                .position(|l| l.domain == Some(schema::SENDER_ADDRESS));
            let level = i32::try_from(level.unwrap()).unwrap();
            let levels = all
                .column_by_name(LEVEL)
                .unwrap()
                .as_primitive::<arrow::datatypes::Int32Type>();
            let sender = all
                .column_by_name(schema::SENDER_ADDRESS)
                .unwrap()
                .as_string::<i32>();
            let weight = all
                .column_by_name(WEIGHT)
                .unwrap()
                .as_primitive::<Int64Type>();
            let rows: Vec<(String, i64)> = (0..all.num_rows())
                .filter(|&r| levels.value(r) == level)
                .map(|r| (sender.value(r).to_string(), weight.value(r)))
                .collect();
            (rows, meta)
        };
        let (rows, meta) = build(&[0, 1, 2, 3, 4]);
        assert_eq!(
            rows,
            [
                ("a@x.org".into(), 3),
                ("c@y.org".into(), 1),
                ("nodomain".into(), 1)
            ]
        );
        assert_eq!(
            (meta.format, meta.rows.len()),
            (ROLLUP_FORMAT, LEVELS.len())
        );
        assert_eq!(build(&[3, 2, 4, 1, 0]).0, rows);
    }
}
