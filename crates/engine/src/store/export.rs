//! The live rows of a time range, segment by segment in time order and batch by batch, so
//! an export of any size is held a batch at a time: what `mailscope export` writes out.

use arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use arrow::datatypes::{Int64Type, TimestampNanosecondType};
use chrono::DateTime;
use mailscope_record::{Record, Status};

use super::{deletes, segment};
use crate::error::{Error, Result};
use crate::exec::Snapshot;
use crate::schema;

/// Rows read from a segment at a time.
const BATCH_ROWS: usize = 64 * 1024;

/// Calls `each` with every live row whose `Received` is in `[from, to)` (nanoseconds), in
/// batches of the stored schema, segments in the order of their first row. Returns the rows.
pub fn rows_in_range(
    snapshot: &Snapshot,
    from: i64,
    to: i64,
    mut each: impl FnMut(RecordBatch) -> Result<()>,
) -> Result<u64> {
    let catalog = &snapshot.catalog;
    let dir = &snapshot.data_dir;
    let mut segments: Vec<_> = catalog.segments_overlapping(from, to).collect();
    segments.sort_by(|a, b| (a.min_received, &a.file).cmp(&(b.min_received, &b.file)));
    let mut rows = 0u64;
    for meta in segments {
        let deleted = catalog.read_deletes(dir, meta)?;
        let mut first = 0u32;
        for batch in segment::batches(&catalog.segment_path(dir, meta), BATCH_ROWS)? {
            let batch = batch?;
            let count = batch.num_rows();
            let received = segment::received_values(&batch)?;
            let keep = match &deleted {
                Some(deleted) => deletes::keep_mask_from(deleted, first, count),
                None => BooleanArray::from(vec![true; count]),
            };
            let mask: BooleanArray = received
                .iter()
                .zip(keep.iter())
                .map(|(t, live)| Some(live == Some(true) && (from..to).contains(t)))
                .collect();
            first = first.saturating_add(u32::try_from(count).unwrap_or(u32::MAX));
            let kept = arrow::compute::filter_record_batch(&batch, &mask)?;
            if kept.num_rows() > 0 {
                rows += kept.num_rows() as u64;
                each(kept)?;
            }
        }
    }
    Ok(rows)
}

/// The records of a batch in the stored schema: the fields a reader gave them.
pub fn records_of(batch: &RecordBatch) -> Result<Vec<Record>> {
    let text = |name: &str| -> Result<_> {
        batch
            .column_by_name(name)
            .map(|c| c.as_string::<i32>())
            .ok_or_else(|| Error::Query(format!("the stored rows have no {name} column")))
    };
    let int = |name: &str| -> Result<_> {
        batch
            .column_by_name(name)
            .and_then(|c| c.as_primitive_opt::<Int64Type>())
            .ok_or_else(|| Error::Query(format!("the stored rows have no {name} column")))
    };
    let organization = text(schema::ORGANIZATION)?;
    let message_id = text(schema::MESSAGE_ID)?;
    let received = batch
        .column_by_name(schema::RECEIVED)
        .and_then(|c| c.as_primitive_opt::<TimestampNanosecondType>())
        .ok_or_else(|| Error::Query("the stored rows have no Received column".into()))?;
    let sender = text(schema::SENDER_ADDRESS)?;
    let recipient = text(schema::RECIPIENT_ADDRESS)?;
    let subject = text(schema::SUBJECT)?;
    let status = text(schema::STATUS)?;
    let to_ip = text(schema::TO_IP)?;
    let from_ip = text(schema::FROM_IP)?;
    let size = int(schema::SIZE)?;
    let trace_id = text(schema::MESSAGE_TRACE_ID)?;
    let start_date = text(schema::START_DATE)?;
    let end_date = text(schema::END_DATE)?;
    let index = int(schema::INDEX)?;
    let optional = |column: &arrow::array::StringArray, row: usize| {
        column.is_valid(row).then(|| column.value(row).to_owned())
    };
    (0..batch.num_rows())
        .map(|row| {
            Ok(Record {
                organization: organization.value(row).to_owned(),
                message_id: optional(message_id, row),
                received: DateTime::from_timestamp_nanos(received.value(row)),
                sender_address: sender.value(row).to_owned(),
                recipient_address: recipient.value(row).to_owned(),
                subject: subject.value(row).to_owned(),
                status: Status::parse(status.value(row)),
                to_ip: optional(to_ip, row),
                from_ip: optional(from_ip, row),
                size: size.value(row),
                message_trace_id: trace_id.value(row).to_owned(),
                start_date: optional(start_date, row),
                end_date: optional(end_date, row),
                index: index.is_valid(row).then(|| index.value(row)),
            })
        })
        .collect()
}

/// The columns a Parquet export keeps: the record's fields and where each row came from.
pub const EXPORTED_COLUMNS: [&str; 17] = [
    schema::ORGANIZATION,
    schema::MESSAGE_ID,
    schema::RECEIVED,
    schema::SENDER_ADDRESS,
    schema::RECIPIENT_ADDRESS,
    schema::SUBJECT,
    schema::STATUS,
    schema::TO_IP,
    schema::FROM_IP,
    schema::SIZE,
    schema::MESSAGE_TRACE_ID,
    schema::START_DATE,
    schema::END_DATE,
    schema::INDEX,
    schema::SOURCE_CATEGORY,
    schema::SOURCE,
    schema::COLLECTOR,
];

/// A Parquet file of exported rows ([`EXPORTED_COLUMNS`], zstd), written batch by batch.
pub struct ParquetExport<W: std::io::Write + Send> {
    writer: parquet::arrow::ArrowWriter<W>,
}

impl<W: std::io::Write + Send> ParquetExport<W> {
    pub fn new(out: W) -> Result<Self> {
        let schema = schema::stored_schema();
        let fields: Vec<arrow::datatypes::Field> = EXPORTED_COLUMNS
            .iter()
            .filter_map(|name| schema.field_with_name(name).ok().cloned())
            .collect();
        let properties = parquet::file::properties::WriterProperties::builder()
            .set_compression(parquet::basic::Compression::ZSTD(
                parquet::basic::ZstdLevel::default(),
            ))
            .build();
        let writer = parquet::arrow::ArrowWriter::try_new(
            out,
            std::sync::Arc::new(arrow::datatypes::Schema::new(fields)),
            Some(properties),
        )?;
        Ok(ParquetExport { writer })
    }

    /// Writes the exported columns of a batch in the stored schema.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let indices: Vec<usize> = EXPORTED_COLUMNS
            .iter()
            .map(|name| {
                batch
                    .schema()
                    .index_of(name)
                    .map_err(|_| Error::Query(format!("the stored rows have no {name} column")))
            })
            .collect::<Result<_>>()?;
        self.writer.write(&batch.project(&indices)?)?;
        Ok(())
    }

    pub fn finish(self) -> Result<W> {
        Ok(self.writer.into_inner()?)
    }
}
