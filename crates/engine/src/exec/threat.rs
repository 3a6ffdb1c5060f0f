//! Threat-intelligence lookups answered from the configured feeds (`mailscope_threat`):
//! `lookup … from sumo://threat/cs on threat=f`, `threatip f` and `threatlookup`.
//!
//! One function call per row finds the row's indicators once and returns every requested
//! column in a struct (or, for `threatlookup` without `singleIndicator`, a list of structs,
//! one per matching feed entry); the fields are read from it afterwards. A single key column
//! is looked up whole with the index's batched lookup; with several keys, each distinct list
//! of keys within a batch is looked up once.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Builder, ListArray, StringBuilder, StructArray};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::datatypes::{DataType, Field, Fields};
use chrono::{DateTime, Utc};
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use mailscope_query::ir::ThreatInclude;
use mailscope_threat::{Indicator, ThreatIndex};

use super::udf::{arrays, impl_udf_eq};

/// A column a threat lookup can answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ThreatField {
    /// The legacy lookup's `type`: `ip_address`, `email_address`, `domain`.
    LegacyType,
    /// STIX type: `ipv4-addr`, `email-addr`, …
    Type,
    /// The first actor.
    Actor,
    /// All actors, comma-separated.
    Actors,
    /// The indicator as JSON, with `labels[*].name`.
    Raw,
    /// `high`, `medium`, `low`, `unverified`.
    Level,
    Source,
    /// The matched indicator value (an address, network, e-mail address or domain).
    Indicator,
    Id,
    Confidence,
    ThreatType,
    KillChain,
    /// Feed-specific extras as a JSON object.
    Extras,
    Updated,
    ValidFrom,
    ValidUntil,
    /// How many feed entries matched the row.
    NumMatches,
}

impl ThreatField {
    /// The columns of `sumo://threat/cs` (and `threatip`).
    pub fn for_lookup(column: &str) -> Option<ThreatField> {
        Some(match column {
            "type" => ThreatField::LegacyType,
            "actor" => ThreatField::Actor,
            "actors" => ThreatField::Actors,
            "raw" | "raw_threat" => ThreatField::Raw,
            "threatlevel" | "malicious_confidence" => ThreatField::Level,
            "source" | "threat_source" => ThreatField::Source,
            "indicator" => ThreatField::Indicator,
            "id" => ThreatField::Id,
            "confidence" => ThreatField::Confidence,
            "threat_type" => ThreatField::ThreatType,
            "kill_chain" => ThreatField::KillChain,
            "valid_until" => ThreatField::ValidUntil,
            _ => return None,
        })
    }

    /// `threatlookup`'s `_threatlookup.<name>` fields.
    pub const THREATLOOKUP: [(&'static str, ThreatField); 13] = [
        ("indicator", ThreatField::Indicator),
        ("id", ThreatField::Id),
        ("type", ThreatField::Type),
        ("threat_type", ThreatField::ThreatType),
        ("actors", ThreatField::Actors),
        ("kill_chain", ThreatField::KillChain),
        ("source", ThreatField::Source),
        ("confidence", ThreatField::Confidence),
        ("fields", ThreatField::Extras),
        ("updated", ThreatField::Updated),
        ("valid_from", ThreatField::ValidFrom),
        ("valid_until", ThreatField::ValidUntil),
        ("num_matches", ThreatField::NumMatches),
    ];

    fn name(self) -> &'static str {
        match self {
            ThreatField::LegacyType => "legacy_type",
            ThreatField::Type => "type",
            ThreatField::Actor => "actor",
            ThreatField::Actors => "actors",
            ThreatField::Raw => "raw",
            ThreatField::Level => "level",
            ThreatField::Source => "source",
            ThreatField::Indicator => "indicator",
            ThreatField::Id => "id",
            ThreatField::Confidence => "confidence",
            ThreatField::ThreatType => "threat_type",
            ThreatField::KillChain => "kill_chain",
            ThreatField::Extras => "fields",
            ThreatField::Updated => "updated",
            ThreatField::ValidFrom => "valid_from",
            ThreatField::ValidUntil => "valid_until",
            ThreatField::NumMatches => "num_matches",
        }
    }

    fn is_number(self) -> bool {
        matches!(
            self,
            ThreatField::Confidence
                | ThreatField::ValidFrom
                | ThreatField::ValidUntil
                | ThreatField::NumMatches
        )
    }

    pub fn data_type(self) -> DataType {
        if self.is_number() {
            DataType::Int64
        } else {
            DataType::Utf8
        }
    }
}

/// Which entries a lookup returns.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Selection {
    /// Only entries of this feed.
    pub source: Option<String>,
    pub include: ThreatInclude,
    /// Every matching entry (a list), or only the best one (a struct).
    pub all: bool,
}

impl Selection {
    pub fn best() -> Selection {
        Selection {
            source: None,
            include: ThreatInclude::Active,
            all: false,
        }
    }
}

/// `threat_match(key, …)`: the requested fields of the indicators matching any key.
#[derive(Debug)]
pub struct ThreatMatch {
    index: Option<Arc<ThreatIndex>>,
    /// Identifies the index snapshot for plan equality.
    index_id: usize,
    now: DateTime<Utc>,
    fields: Vec<ThreatField>,
    selection: Selection,
    signature: Signature,
}

impl_udf_eq!(ThreatMatch, index_id, now, fields, selection);

/// The struct field name of `field` in the function's result.
pub fn struct_field(field: ThreatField) -> &'static str {
    field.name()
}

impl ThreatMatch {
    pub fn udf(
        index: Option<Arc<ThreatIndex>>,
        now: DateTime<Utc>,
        fields: Vec<ThreatField>,
        selection: Selection,
        keys: usize,
    ) -> ScalarUDF {
        let mut unique = Vec::new();
        for field in fields {
            if !unique.contains(&field) {
                unique.push(field);
            }
        }
        ScalarUDF::from(ThreatMatch {
            index_id: index.as_ref().map_or(0, |i| i.generation() as usize),
            index,
            now,
            fields: unique,
            selection,
            signature: Signature::any(keys.max(1), Volatility::Stable),
        })
    }

    fn struct_fields(&self) -> Fields {
        self.fields
            .iter()
            .map(|f| Field::new(f.name(), f.data_type(), true))
            .collect()
    }

    /// The time lookups are made as of: expired entries are found by looking up as of the
    /// distant past, when all were live.
    fn as_of(&self) -> DateTime<Utc> {
        match self.selection.include {
            ThreatInclude::Active => self.now,
            ThreatInclude::Expired | ThreatInclude::All => DateTime::<Utc>::MIN_UTC,
        }
    }

    /// Adds to `found` the indicators the selection wants that it does not hold yet.
    fn wanted<'a>(
        &self,
        indicators: impl Iterator<Item = &'a Indicator>,
        mut found: Vec<&'a Indicator>,
    ) -> Vec<&'a Indicator> {
        for indicator in indicators {
            let wanted = match self.selection.include {
                ThreatInclude::Active | ThreatInclude::All => true,
                ThreatInclude::Expired => !indicator.is_live(self.now),
            };
            let source_ok = self
                .selection
                .source
                .as_deref()
                .is_none_or(|s| indicator.source.eq_ignore_ascii_case(s));
            if wanted && source_ok && !found.iter().any(|f| std::ptr::eq(*f, indicator)) {
                found.push(indicator);
            }
        }
        found
    }

    /// The entries for one row's keys, best first, and how many there are.
    fn entries<'a>(&self, index: &'a ThreatIndex, keys: &[&str]) -> Vec<&'a Indicator> {
        let as_of = self.as_of();
        let mut found: Vec<&Indicator> = Vec::new();
        for key in keys {
            if let Some(matches) = index.lookup_text(key, as_of) {
                found = self.wanted(matches.indicators(), found);
            }
        }
        found
    }
}

/// One value of a field for an entry.
enum Cell {
    Text(String),
    Number(i64),
    Null,
}

fn cell(field: ThreatField, indicator: &Indicator, matches: usize) -> Cell {
    let join = |items: &[String]| {
        if items.is_empty() {
            Cell::Null
        } else {
            Cell::Text(items.join(","))
        }
    };
    match field {
        ThreatField::LegacyType => Cell::Text(indicator.legacy_type().to_owned()),
        ThreatField::Type => Cell::Text(indicator.indicator_type().as_str().to_owned()),
        ThreatField::Actor => indicator
            .actor()
            .map_or(Cell::Null, |a| Cell::Text(a.to_owned())),
        ThreatField::Actors => join(&indicator.actors),
        ThreatField::Raw => Cell::Text(indicator.raw()),
        ThreatField::Level => Cell::Text(indicator.confidence_level().as_str().to_owned()),
        ThreatField::Source => Cell::Text(indicator.source.clone()),
        ThreatField::Indicator => Cell::Text(indicator.value.to_string()),
        ThreatField::Id => Cell::Text(indicator.id.clone()),
        ThreatField::Confidence => indicator
            .confidence
            .map_or(Cell::Null, |c| Cell::Number(i64::from(c))),
        ThreatField::ThreatType => join(&indicator.threat_type),
        ThreatField::KillChain => join(&indicator.kill_chain),
        ThreatField::Extras => {
            if indicator.fields.is_empty() {
                Cell::Null
            } else {
                serde_json::to_string(&indicator.fields).map_or(Cell::Null, Cell::Text)
            }
        }
        ThreatField::Updated => Cell::Text(
            indicator
                .updated()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        ),
        ThreatField::ValidFrom => Cell::Number(indicator.valid_from.timestamp_millis()),
        ThreatField::ValidUntil => indicator
            .valid_until
            .map_or(Cell::Null, |t| Cell::Number(t.timestamp_millis())),
        ThreatField::NumMatches => Cell::Number(i64::try_from(matches).unwrap_or(i64::MAX)),
    }
}

/// Column builders for the struct's fields.
struct Columns {
    fields: Vec<ThreatField>,
    text: Vec<Option<StringBuilder>>,
    numbers: Vec<Option<Int64Builder>>,
    /// Rows without an entry not yet appended: most rows match nothing, and a run of them is
    /// appended to every builder at once.
    nulls: usize,
    /// The cells of each (indicator, matches) seen: many rows match the same entry, and some
    /// cells (`raw`) take far longer to make than to copy.
    cells: HashMap<(usize, usize), Vec<Cell>>,
}

impl Columns {
    fn new(fields: &[ThreatField]) -> Columns {
        Columns {
            fields: fields.to_vec(),
            text: fields
                .iter()
                .map(|f| (!f.is_number()).then(StringBuilder::new))
                .collect(),
            numbers: fields
                .iter()
                .map(|f| f.is_number().then(Int64Builder::new))
                .collect(),
            nulls: 0,
            cells: HashMap::new(),
        }
    }

    fn flush_nulls(&mut self) {
        if self.nulls == 0 {
            return;
        }
        for builder in self.text.iter_mut().flatten() {
            builder.append_nulls(self.nulls);
        }
        for builder in self.numbers.iter_mut().flatten() {
            builder.append_nulls(self.nulls);
        }
        self.nulls = 0;
    }

    fn push(&mut self, entry: Option<(&Indicator, usize)>) {
        let Some((indicator, n)) = entry else {
            self.nulls += 1;
            return;
        };
        self.flush_nulls();
        let fields = &self.fields;
        let cells = self
            .cells
            .entry((std::ptr::from_ref(indicator) as usize, n))
            .or_insert_with(|| fields.iter().map(|f| cell(*f, indicator, n)).collect());
        for (i, value) in cells.iter().enumerate() {
            if let Some(builder) = self.text[i].as_mut() {
                match value {
                    Cell::Text(text) => builder.append_value(text),
                    Cell::Number(n) => builder.append_value(n.to_string()),
                    Cell::Null => builder.append_null(),
                }
            } else if let Some(builder) = self.numbers[i].as_mut() {
                match value {
                    Cell::Number(n) => builder.append_value(*n),
                    _ => builder.append_null(),
                }
            }
        }
    }

    fn finish(mut self, fields: Fields) -> Result<StructArray> {
        self.flush_nulls();
        let arrays: Vec<ArrayRef> = (0..self.fields.len())
            .map(
                |i| match (self.text[i].as_mut(), self.numbers[i].as_mut()) {
                    (Some(builder), _) => Arc::new(builder.finish()) as ArrayRef,
                    (None, Some(builder)) => Arc::new(builder.finish()) as ArrayRef,
                    (None, None) => unreachable!("every field has a builder"),
                },
            )
            .collect();
        StructArray::try_new(fields, arrays, None).map_err(DataFusionError::from)
    }
}

/// Text of row `row` of a key column (any string type), or None.
fn key_at(array: &ArrayRef, row: usize) -> Option<&str> {
    if array.is_null(row) {
        return None;
    }
    match array.data_type() {
        DataType::Utf8View => Some(array.as_string_view().value(row)),
        DataType::Utf8 => Some(array.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => Some(array.as_string::<i64>().value(row)),
        _ => None,
    }
}

impl ScalarUDFImpl for ThreatMatch {
    fn name(&self) -> &str {
        "threat_match"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        let item = DataType::Struct(self.struct_fields());
        Ok(if self.selection.all {
            DataType::List(Arc::new(Field::new("item", item, true)))
        } else {
            item
        })
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let keys: Vec<ArrayRef> = arrays(&args)?
            .into_iter()
            .map(|a| match a.data_type() {
                DataType::Utf8View | DataType::Utf8 | DataType::LargeUtf8 => Ok(a),
                _ => arrow::compute::cast(&a, &DataType::Utf8View).map_err(DataFusionError::from),
            })
            .collect::<Result<_>>()?;
        let mut columns = Columns::new(&self.fields);
        let mut offsets: Vec<i32> = Vec::with_capacity(rows + 1);
        offsets.push(0);
        let mut valid: Vec<bool> = Vec::with_capacity(rows);
        // Several keys are memoised by the list of texts.
        let mut memo_many: HashMap<Vec<&str>, Vec<&Indicator>> = HashMap::new();
        // One key: the whole column is looked up at once (`lookup_texts` overlaps the memory
        // reads of many addresses, where one lookup after another waits on each); only the
        // rows that match build their entries.
        let mut matched: Vec<Option<Vec<&Indicator>>> = Vec::new();
        if let (Some(index), [key]) = (&self.index, keys.as_slice()) {
            let mut texts: Vec<&str> = Vec::with_capacity(rows);
            let mut positions: Vec<usize> = Vec::with_capacity(rows);
            for row in 0..rows {
                if let Some(text) = key_at(key, row) {
                    texts.push(text);
                    positions.push(row);
                }
            }
            let mut found = Vec::with_capacity(texts.len());
            index.lookup_texts(&texts, self.as_of(), &mut found);
            matched.resize_with(rows, || None);
            for (position, matches) in positions.into_iter().zip(found) {
                if let Some(matches) = matches {
                    matched[position] = Some(self.wanted(matches.indicators(), Vec::new()));
                }
            }
        }
        let mut total = 0i32;
        for row in 0..rows {
            let entries: &[&Indicator] = match (&self.index, keys.as_slice()) {
                (None, _) => &[],
                (Some(_), [_]) => matched.get(row).and_then(Option::as_deref).unwrap_or(&[]),
                (Some(index), _) => {
                    let row_keys: Vec<&str> = keys.iter().filter_map(|k| key_at(k, row)).collect();
                    if row_keys.is_empty() {
                        &[]
                    } else {
                        memo_many
                            .entry(row_keys)
                            .or_insert_with_key(|k| self.entries(index, k))
                    }
                }
            };
            if self.selection.all {
                for entry in entries {
                    columns.push(Some((entry, entries.len())));
                }
                total += i32::try_from(entries.len()).unwrap_or(i32::MAX);
                offsets.push(total);
                valid.push(!entries.is_empty());
            } else {
                columns.push(entries.first().map(|e| (*e, entries.len())));
            }
        }
        let values = columns.finish(self.struct_fields())?;
        if !self.selection.all {
            return Ok(ColumnarValue::Array(Arc::new(values)));
        }
        let item = Arc::new(Field::new(
            "item",
            DataType::Struct(self.struct_fields()),
            true,
        ));
        let list = ListArray::try_new(
            item,
            OffsetBuffer::new(offsets.into()),
            Arc::new(values),
            Some(NullBuffer::from(valid)),
        )?;
        Ok(ColumnarValue::Array(Arc::new(list)))
    }
}
