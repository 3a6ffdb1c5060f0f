//! The stored row: the canonical record's fields (PascalCase, as the Reporting Web Service
//! names them), Sumo's metadata fields, and the geolocation of `FromIP` and `ToIP` computed
//! at ingest so that a geo lookup over millions of rows is a column read.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use arrow::array::{
    ArrayRef, Float64Builder, Int64Builder, RecordBatch, StringBuilder, TimestampNanosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use mailscope_record::Record;

use crate::error::Result;
use crate::geo::{GeoDatabase, Location};

pub const ORGANIZATION: &str = "Organization";
pub const MESSAGE_ID: &str = "MessageId";
pub const RECEIVED: &str = "Received";
pub const SENDER_ADDRESS: &str = "SenderAddress";
pub const RECIPIENT_ADDRESS: &str = "RecipientAddress";
pub const SUBJECT: &str = "Subject";
pub const STATUS: &str = "Status";
pub const TO_IP: &str = "ToIP";
pub const FROM_IP: &str = "FromIP";
pub const SIZE: &str = "Size";
pub const MESSAGE_TRACE_ID: &str = "MessageTraceId";
pub const START_DATE: &str = "StartDate";
pub const END_DATE: &str = "EndDate";
pub const INDEX: &str = "Index";
pub const SOURCE_CATEGORY: &str = "_sourceCategory";
pub const SOURCE: &str = "_source";
pub const COLLECTOR: &str = "_collector";
pub const RECEIPT_TIME: &str = "_receipttime";
/// Provenance of the stored geo columns: the database version, or null when the row was
/// ingested without a database (queries then look the IP up at query time).
pub const GEO_VERSION: &str = "_geo";

/// The canonical JSON keys, in the Reporting Web Service's order.
pub const RECORD_FIELDS: [&str; 14] = [
    ORGANIZATION,
    MESSAGE_ID,
    RECEIVED,
    SENDER_ADDRESS,
    RECIPIENT_ADDRESS,
    SUBJECT,
    STATUS,
    TO_IP,
    FROM_IP,
    SIZE,
    MESSAGE_TRACE_ID,
    START_DATE,
    END_DATE,
    INDEX,
];

/// Which IP column a stored geo column belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpSide {
    From,
    To,
}

impl IpSide {
    pub fn of_column(name: &str) -> Option<IpSide> {
        if name.eq_ignore_ascii_case(FROM_IP) {
            Some(IpSide::From)
        } else if name.eq_ignore_ascii_case(TO_IP) {
            Some(IpSide::To)
        } else {
            None
        }
    }
}

/// Stored geo columns per side; `state` is answered from `region`.
pub const STORED_GEO_TEXT: [&str; 6] = [
    "country_code",
    "country_name",
    "continent",
    "region",
    "city",
    "postal_code",
];
pub const STORED_GEO_FLOAT: [&str; 2] = ["latitude", "longitude"];

pub fn geo_column(side: IpSide, column: &str) -> String {
    let column = if column == "state" { "region" } else { column };
    match side {
        IpSide::From => format!("_from_{column}"),
        IpSide::To => format!("_to_{column}"),
    }
}

fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

static STORED_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let text = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    let mut fields = vec![
        text(ORGANIZATION, false),
        text(MESSAGE_ID, true),
        Field::new(RECEIVED, timestamp_type(), false),
        text(SENDER_ADDRESS, false),
        text(RECIPIENT_ADDRESS, false),
        text(SUBJECT, false),
        text(STATUS, false),
        text(TO_IP, true),
        text(FROM_IP, true),
        Field::new(SIZE, DataType::Int64, false),
        text(MESSAGE_TRACE_ID, false),
        text(START_DATE, true),
        text(END_DATE, true),
        Field::new(INDEX, DataType::Int64, true),
        text(SOURCE_CATEGORY, false),
        text(SOURCE, false),
        text(COLLECTOR, false),
        Field::new(RECEIPT_TIME, DataType::Int64, false),
        text(GEO_VERSION, true),
    ];
    for side in [IpSide::From, IpSide::To] {
        for column in STORED_GEO_TEXT {
            fields.push(text(&geo_column(side, column), true));
        }
        for column in STORED_GEO_FLOAT {
            fields.push(Field::new(
                geo_column(side, column),
                DataType::Float64,
                true,
            ));
        }
    }
    Arc::new(Schema::new(fields))
});

/// The schema of stored segments (the current version; older segments missing a column read
/// it as null).
pub fn stored_schema() -> SchemaRef {
    Arc::clone(&STORED_SCHEMA)
}

/// The stored column named `name`, as a name that lives as long as the process.
pub fn stored_column(name: &str) -> Option<&'static str> {
    let schema: &'static Schema = &STORED_SCHEMA;
    schema
        .fields()
        .iter()
        .find(|f| f.name() == name)
        .map(|f| f.name().as_str())
}

/// Where a record came from, as Sumo's metadata fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceMeta {
    pub source_category: String,
    pub source: String,
    pub collector: String,
}

/// Builds stored batches from records, enriching IPs on the way. One builder per stored
/// column, in schema order.
pub struct BatchBuilder<'g> {
    geo: Option<&'g GeoDatabase>,
    organization: StringBuilder,
    message_id: StringBuilder,
    received: TimestampNanosecondBuilder,
    sender_address: StringBuilder,
    recipient_address: StringBuilder,
    subject: StringBuilder,
    status: StringBuilder,
    to_ip: StringBuilder,
    from_ip: StringBuilder,
    size: Int64Builder,
    message_trace_id: StringBuilder,
    start_date: StringBuilder,
    end_date: StringBuilder,
    index: Int64Builder,
    source_category: StringBuilder,
    source: StringBuilder,
    collector: StringBuilder,
    receipt_time: Int64Builder,
    geo_version: StringBuilder,
    /// Per side (from, to): the text columns then the coordinates.
    geo_columns: [GeoBuilders; 2],
    /// Locations by IP text: a tenant's traffic comes from relatively few addresses, and a
    /// hash lookup is far cheaper than parsing the address and walking the database.
    locations: HashMap<Box<str>, Option<Arc<Location>>>,
    rows: usize,
}

/// Entries in the location cache before it is cleared: a tenant's busiest servers (the
/// database keeps its own, larger cache by address); small, since an ingest's memory is
/// bounded and every entry holds its address text.
const LOCATION_CACHE_ENTRIES: usize = 4_096;

#[derive(Default)]
struct GeoBuilders {
    text: [StringBuilder; STORED_GEO_TEXT.len()],
    coordinates: [Float64Builder; STORED_GEO_FLOAT.len()],
}

impl GeoBuilders {
    fn push(&mut self, location: Option<&Location>) {
        for (builder, column) in self.text.iter_mut().zip(STORED_GEO_TEXT) {
            builder.append_option(location.and_then(|l| l.text_column(column)));
        }
        let [latitude, longitude] = &mut self.coordinates;
        latitude.append_option(location.and_then(|l| l.latitude));
        longitude.append_option(location.and_then(|l| l.longitude));
    }

    fn finish_into(&mut self, arrays: &mut Vec<ArrayRef>) {
        arrays.extend(
            self.text
                .iter_mut()
                .map(|b| Arc::new(b.finish()) as ArrayRef),
        );
        arrays.extend(
            self.coordinates
                .iter_mut()
                .map(|b| Arc::new(b.finish()) as ArrayRef),
        );
    }
}

impl<'g> BatchBuilder<'g> {
    pub fn new(geo: Option<&'g GeoDatabase>) -> BatchBuilder<'g> {
        BatchBuilder {
            geo,
            organization: StringBuilder::new(),
            message_id: StringBuilder::new(),
            received: TimestampNanosecondBuilder::new().with_timezone("UTC"),
            sender_address: StringBuilder::new(),
            recipient_address: StringBuilder::new(),
            subject: StringBuilder::new(),
            status: StringBuilder::new(),
            to_ip: StringBuilder::new(),
            from_ip: StringBuilder::new(),
            size: Int64Builder::new(),
            message_trace_id: StringBuilder::new(),
            start_date: StringBuilder::new(),
            end_date: StringBuilder::new(),
            index: Int64Builder::new(),
            source_category: StringBuilder::new(),
            source: StringBuilder::new(),
            collector: StringBuilder::new(),
            receipt_time: Int64Builder::new(),
            geo_version: StringBuilder::new(),
            geo_columns: Default::default(),
            locations: HashMap::new(),
            rows: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    pub fn push(&mut self, record: &Record, meta: &SourceMeta, receipt_time_ms: i64) {
        self.organization.append_value(&record.organization);
        self.message_id.append_option(record.message_id.as_deref());
        self.received.append_value(timestamp_nanos(record));
        self.sender_address.append_value(&record.sender_address);
        self.recipient_address
            .append_value(&record.recipient_address);
        self.subject.append_value(&record.subject);
        self.status.append_value(record.status.as_str());
        self.to_ip.append_option(record.to_ip.as_deref());
        self.from_ip.append_option(record.from_ip.as_deref());
        self.size.append_value(record.size);
        self.message_trace_id.append_value(&record.message_trace_id);
        self.start_date.append_option(record.start_date.as_deref());
        self.end_date.append_option(record.end_date.as_deref());
        self.index.append_option(record.index);
        self.source_category.append_value(&meta.source_category);
        self.source.append_value(&meta.source);
        self.collector.append_value(&meta.collector);
        self.receipt_time.append_value(receipt_time_ms);
        self.geo_version
            .append_option(self.geo.map(GeoDatabase::version));
        let from = self.locate(record.from_ip.as_deref());
        let to = self.locate(record.to_ip.as_deref());
        let [from_columns, to_columns] = &mut self.geo_columns;
        from_columns.push(from.as_deref());
        to_columns.push(to.as_deref());
        self.rows += 1;
    }

    fn locate(&mut self, ip: Option<&str>) -> Option<Arc<Location>> {
        let (geo, ip) = self.geo.zip(ip)?;
        if let Some(hit) = self.locations.get(ip) {
            return hit.clone();
        }
        if self.locations.len() >= LOCATION_CACHE_ENTRIES {
            self.locations.clear();
        }
        let location = geo.lookup_text(ip);
        self.locations.insert(ip.into(), location.clone());
        location
    }

    /// Finishes the batch in stored-schema order and resets the builder.
    pub fn finish(&mut self) -> Result<RecordBatch> {
        let text = |b: &mut StringBuilder| Arc::new(b.finish()) as ArrayRef;
        let int = |b: &mut Int64Builder| Arc::new(b.finish()) as ArrayRef;
        let mut arrays = vec![
            text(&mut self.organization),
            text(&mut self.message_id),
            Arc::new(self.received.finish()) as ArrayRef,
            text(&mut self.sender_address),
            text(&mut self.recipient_address),
            text(&mut self.subject),
            text(&mut self.status),
            text(&mut self.to_ip),
            text(&mut self.from_ip),
            int(&mut self.size),
            text(&mut self.message_trace_id),
            text(&mut self.start_date),
            text(&mut self.end_date),
            int(&mut self.index),
            text(&mut self.source_category),
            text(&mut self.source),
            text(&mut self.collector),
            int(&mut self.receipt_time),
            text(&mut self.geo_version),
        ];
        for side in &mut self.geo_columns {
            side.finish_into(&mut arrays);
        }
        self.rows = 0;
        Ok(RecordBatch::try_new(stored_schema(), arrays)?)
    }
}

/// Nanoseconds since the epoch; chrono only fails outside 1677..2262, which no trace reaches,
/// so such a date is clamped rather than rejected.
pub fn timestamp_nanos(record: &Record) -> i64 {
    record
        .received
        .timestamp_nanos_opt()
        .unwrap_or(if record.received.timestamp() < 0 {
            i64::MIN
        } else {
            i64::MAX
        })
}
