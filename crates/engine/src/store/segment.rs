//! Segment files: Parquet, rows sorted by `Received`, one UTC day per file, zstd, with
//! statistics and a page index so time filters skip row groups and pages.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::concat_batches;
use arrow::datatypes::TimestampNanosecondType;
use mailscope_record::{Status, identity_key};
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use crate::error::{Error, Result};
use crate::schema::{self, stored_schema};

/// Rows per row group: small enough that a one-hour query inside a busy day skips most of
/// the file, large enough for good compression.
const ROW_GROUP_ROWS: usize = 65_536;

pub struct Written {
    pub rows: u64,
    pub min_received: i64,
    pub max_received: i64,
    pub bytes: u64,
    /// The segment's bytes with its key run's and rollup's.
    pub bytes_with_companions: u64,
    /// `None` for a piece, which has no rollup.
    pub rollup: Option<super::rollup::RollupMeta>,
}

/// Where a merge writes its rows: a segment, or a piece.
pub trait BatchSink {
    /// Appends rows, which must not be received before the rows written so far.
    fn write(&mut self, batch: &RecordBatch) -> Result<()>;
}

impl BatchSink for SegmentWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        SegmentWriter::write(self, batch)
    }
}

impl BatchSink for PieceWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        PieceWriter::write(self, batch)
    }
}

/// A piece: part of a day written by an ingest whose new rows did not fit its buffer, read
/// once by the merge that makes it part of a segment before the ingest publishes. Arrow IPC
/// with LZ4 (encoding and decoding cost little next to Parquet's), rows sorted by
/// `Received`, with a key run beside it (the ingest looks its identities up) and no rollup.
/// Not synced: an ingest that stops loses its pieces with it, and they are collected as
/// garbage.
pub struct PieceWriter {
    rows: WrittenRows,
    writer: arrow::ipc::writer::FileWriter<std::io::BufWriter<File>>,
}

/// The path of a piece written in place of the segment at `segment`.
pub fn piece_path(segment: &Path) -> std::path::PathBuf {
    segment.with_extension("piece")
}

impl PieceWriter {
    pub fn create(path: &Path) -> Result<PieceWriter> {
        let file = create_file(path)?;
        let options = arrow::ipc::writer::IpcWriteOptions::default()
            .try_with_compression(Some(arrow::ipc::CompressionType::LZ4_FRAME))?;
        Ok(PieceWriter {
            rows: WrittenRows::new(path, "piece"),
            writer: arrow::ipc::writer::FileWriter::try_new_with_options(
                std::io::BufWriter::with_capacity(1 << 20, file),
                &stored_schema(),
                options,
            )?,
        })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if self.rows.admit(batch)? {
            self.writer.write(batch)?;
        }
        Ok(())
    }

    /// Closes the piece and writes its key run.
    pub fn finish(mut self) -> Result<Written> {
        self.writer.finish()?;
        let path = &self.rows.path;
        let bytes = std::fs::metadata(path)
            .map_err(|e| Error::io(path, e))?
            .len();
        self.rows.finish(bytes, None)
    }
}

/// What both writers track of the rows written: that they come in `Received` order, their
/// range, count and identities, from which `finish` writes the key run.
struct WrittenRows {
    path: std::path::PathBuf,
    /// "segment" or "piece", for errors.
    what: &'static str,
    keys: super::keys::KeyRunBuilder,
    rows: u64,
    min_received: Option<i64>,
    max_received: i64,
}

impl WrittenRows {
    fn new(path: &Path, what: &'static str) -> WrittenRows {
        WrittenRows {
            path: path.to_path_buf(),
            what,
            keys: super::keys::KeyRunBuilder::default(),
            rows: 0,
            min_received: None,
            max_received: 0,
        }
    }

    /// Accounts for `batch`; false when it is empty (nothing to write).
    fn admit(&mut self, batch: &RecordBatch) -> Result<bool> {
        if batch.num_rows() == 0 {
            return Ok(false);
        }
        let received = received_column(batch)?;
        if let (Some(first), Some(last)) = (received.first(), received.last()) {
            if self.min_received.is_some() && *first < self.max_received {
                return Err(Error::Query(format!(
                    "{} {}: rows out of Received order",
                    self.what,
                    self.path.display()
                )));
            }
            self.min_received.get_or_insert(*first);
            self.max_received = *last;
        }
        self.keys.reserve(batch.num_rows());
        let keys = &mut self.keys;
        keys_of_batch(batch, |key, status| keys.push(key, status.as_str()))?;
        self.rows += batch.num_rows() as u64;
        Ok(true)
    }

    /// Writes the key run beside the file (of `bytes`) and describes what was written.
    fn finish(self, bytes: u64, rollup: Option<super::rollup::RollupMeta>) -> Result<Written> {
        self.keys.write(&self.path)?;
        let companions: u64 = [
            Some(super::keys::path_for(&self.path)),
            rollup.as_ref().map(|_| super::rollup::path_for(&self.path)),
        ]
        .iter()
        .flatten()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
        Ok(Written {
            rows: self.rows,
            min_received: self.min_received.unwrap_or(0),
            max_received: self.max_received,
            bytes,
            bytes_with_companions: bytes + companions,
            rollup,
        })
    }
}

/// Creates `path` (and its folder) for writing.
fn create_file(path: &Path) -> Result<File> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    File::create(path).map_err(|e| Error::io(path, e))
}

/// The rows of a piece in its batches, in the stored schema.
pub fn piece_batches(path: &Path) -> Result<impl Iterator<Item = Result<RecordBatch>> + use<>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let reader = arrow::ipc::reader::FileReader::try_new(
        std::io::BufReader::with_capacity(1 << 20, file),
        None,
    )?;
    Ok(reader.map(|batch| adapt_to_stored(&batch?)))
}

fn writer_properties() -> Result<WriterProperties> {
    let received = stored_schema().index_of(schema::RECEIVED)?;
    Ok(WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_sorting_columns(Some(vec![SortingColumn {
            column_idx: i32::try_from(received).unwrap_or(2),
            descending: false,
            nulls_first: false,
        }]))
        .build())
}

/// Writes `batch`, which must already be sorted by `Received`, to `path` durably (fsync),
/// with its key run beside it (`keys.rs`). Not sorting here keeps row numbers equal to the
/// caller's, which the key index relies on.
pub fn write(path: &Path, batch: &RecordBatch) -> Result<Written> {
    let mut writer = SegmentWriter::create(path)?;
    writer.write(batch)?;
    writer.finish()
}

/// A segment written batch by batch, rows in `Received` order: memory is one row group,
/// whatever the segment's size.
pub struct SegmentWriter {
    rows: WrittenRows,
    writer: ArrowWriter<File>,
    rollup: RollupWorker,
}

impl SegmentWriter {
    pub fn create(path: &Path) -> Result<SegmentWriter> {
        let properties = writer_properties()?;
        let rollup = RollupWorker::start()?;
        let file = create_file(path)?;
        Ok(SegmentWriter {
            rows: WrittenRows::new(path, "segment"),
            writer: ArrowWriter::try_new(file, stored_schema(), Some(properties))?,
            rollup,
        })
    }

    /// Appends rows, which must not be received before the rows written so far.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if self.rows.admit(batch)? {
            self.rollup.add(batch)?;
            self.writer.write(batch)?;
        }
        Ok(())
    }

    pub fn rows(&self) -> u64 {
        self.rows.rows
    }

    /// Closes the file, syncs it and writes its key run and its rollup.
    pub fn finish(mut self) -> Result<Written> {
        let file = self.writer.into_inner()?;
        let path = &self.rows.path;
        file.sync_all().map_err(|e| Error::io(path, e))?;
        let bytes = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let rollup = self.rollup.finish()?.write(path)?;
        self.rows.finish(bytes, Some(rollup))
    }
}

/// Builds a segment's rollup on a thread of its own while the segment is encoded: the two
/// take about as long, and an ingest otherwise keeps only one core busy.
struct RollupWorker {
    batches: Option<std::sync::mpsc::SyncSender<RecordBatch>>,
    thread: Option<std::thread::JoinHandle<Result<super::rollup::RollupBuilder>>>,
}

impl RollupWorker {
    fn start() -> Result<RollupWorker> {
        let mut builder = super::rollup::RollupBuilder::new()?;
        // A few batches in flight: memory stays bounded if the rollup falls behind.
        let (sender, receiver) = std::sync::mpsc::sync_channel::<RecordBatch>(4);
        let thread = std::thread::Builder::new()
            .name("rollup".into())
            .spawn(move || {
                for batch in receiver {
                    builder.add(&batch)?;
                }
                Ok(builder)
            })
            .map_err(|e| Error::Query(format!("cannot start the rollup thread: {e}")))?;
        Ok(RollupWorker {
            batches: Some(sender),
            thread: Some(thread),
        })
    }

    fn add(&mut self, batch: &RecordBatch) -> Result<()> {
        let sent = self
            .batches
            .as_ref()
            .is_some_and(|s| s.send(batch.clone()).is_ok());
        if sent {
            return Ok(());
        }
        // The thread stopped on an error: report it.
        self.finish().map(|_| ())
    }

    fn finish(&mut self) -> Result<super::rollup::RollupBuilder> {
        drop(self.batches.take());
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(Error::Query("the rollup thread panicked".into())),
            None => Err(Error::Query("the rollup was already finished".into())),
        }
    }
}

/// The rows of a segment in batches of at most `batch_rows`, in the stored schema, in file
/// order.
pub fn batches(
    path: &Path,
    batch_rows: usize,
) -> Result<impl Iterator<Item = Result<RecordBatch>> + use<>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)?
        .with_batch_size(batch_rows)
        .build()?;
    Ok(reader.map(|batch| adapt_to_stored(&batch?)))
}

/// The `Received` values of a batch in the stored schema.
pub fn received_values(batch: &RecordBatch) -> Result<Vec<i64>> {
    Ok(received_column(batch)?.to_vec())
}

fn received_column(batch: &RecordBatch) -> Result<&[i64]> {
    let index = batch.schema().index_of(schema::RECEIVED)?;
    let array = batch
        .column(index)
        .as_primitive_opt::<TimestampNanosecondType>()
        .ok_or_else(|| Error::Query("stored Received column has an unexpected type".into()))?;
    Ok(array.values())
}

/// Reads a whole segment as one batch in the stored schema.
pub fn read(path: &Path) -> Result<RecordBatch> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)?
        .with_batch_size(65_536)
        .build()?;
    let batches = reader.collect::<Result<Vec<_>, _>>()?;
    let batches = batches
        .into_iter()
        .map(|b| adapt_to_stored(&b))
        .collect::<Result<Vec<_>>>()?;
    Ok(concat_batches(&stored_schema(), &batches)?)
}

/// Fills columns a segment written by an older version lacks with nulls.
fn adapt_to_stored(batch: &RecordBatch) -> Result<RecordBatch> {
    let schema = stored_schema();
    let columns = schema
        .fields()
        .iter()
        .map(|field| match batch.schema().index_of(field.name()) {
            Ok(index) => Arc::clone(batch.column(index)),
            Err(_) => arrow::array::new_null_array(field.data_type(), batch.num_rows()),
        })
        .collect();
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// A reader of the named columns of a segment only.
fn read_columns(
    path: &Path,
    wanted: &[&str],
) -> Result<parquet::arrow::arrow_reader::ParquetRecordBatchReader> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
    let parquet_schema = builder.parquet_schema();
    let roots: Vec<usize> = wanted
        .iter()
        .map(|name| {
            parquet_schema
                .columns()
                .iter()
                .position(|c| c.name() == *name)
                .ok_or_else(|| Error::Query(format!("segment {} lacks {name}", path.display())))
        })
        .collect::<Result<_>>()?;
    let mask = ProjectionMask::leaves(parquet_schema, roots);
    Ok(builder
        .with_projection(mask)
        .with_batch_size(65_536)
        .build()?)
}

/// The identity and status of every row of a segment, in file order: the key index of a
/// segment without a key run is built from these three columns only.
pub fn read_keys(path: &Path) -> Result<Vec<(u128, Status)>> {
    let reader = read_columns(
        path,
        &[
            schema::MESSAGE_TRACE_ID,
            schema::RECIPIENT_ADDRESS,
            schema::STATUS,
        ],
    )?;
    let mut keys = Vec::new();
    for batch in reader {
        let batch = batch?;
        keys.reserve(batch.num_rows());
        keys_of_batch(&batch, |key, status| {
            keys.push((key, status));
            Ok(())
        })?;
    }
    Ok(keys)
}

/// Every row's `Received`, in file order.
pub fn read_received(path: &Path) -> Result<Vec<i64>> {
    let mut received = Vec::new();
    for batch in read_columns(path, &[schema::RECEIVED])? {
        received.extend_from_slice(received_column(&batch?)?);
    }
    Ok(received)
}

/// Hands the identity and status of every row of `batch` to `each`, in row order.
fn keys_of_batch(
    batch: &RecordBatch,
    mut each: impl FnMut(u128, Status) -> Result<()>,
) -> Result<()> {
    let text = |name: &str| -> Result<_> {
        let index = batch.schema().index_of(name)?;
        Ok(batch.column(index).as_string::<i32>().clone())
    };
    let (ids, recipients, statuses) = (
        text(schema::MESSAGE_TRACE_ID)?,
        text(schema::RECIPIENT_ADDRESS)?,
        text(schema::STATUS)?,
    );
    for row in 0..batch.num_rows() {
        let key = identity_key(ids.value(row), recipients.value(row));
        let status = if statuses.is_null(row) {
            Status::None
        } else {
            Status::parse(statuses.value(row))
        };
        each(key, status)?;
    }
    Ok(())
}
