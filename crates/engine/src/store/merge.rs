//! The streaming k-way merge behind rewrites and compaction: live rows of several segments
//! (each sorted by `Received`, each with its deleted rows) into one segment writer, in
//! `Received` order, one batch per input in memory whatever the segments' sizes.

use arrow::array::RecordBatch;
use arrow::compute::filter_record_batch;
use roaring::RoaringBitmap;

use super::segment;
use crate::error::{Error, Result};
use crate::schema::stored_schema;

/// Rows per batch read from each input of a merge, and per batch written.
const MERGE_BATCH_ROWS: usize = 8_192;

/// One input of a merge: its live rows, a batch at a time.
struct MergeInput {
    batches: Box<dyn Iterator<Item = Result<RecordBatch>>>,
    /// Deleted rows (file row numbers) and the file row number of `batch`'s next read.
    deleted: RoaringBitmap,
    next_file_row: usize,
    batch: RecordBatch,
    received: Vec<i64>,
    position: usize,
}

impl MergeInput {
    /// Moves to the next batch with live rows; false when the input is exhausted.
    fn advance(&mut self) -> Result<bool> {
        loop {
            let Some(batch) = self.batches.next() else {
                self.batch = RecordBatch::new_empty(stored_schema());
                self.received.clear();
                self.position = 0;
                return Ok(false);
            };
            let batch = batch?;
            let first = self.next_file_row;
            self.next_file_row += batch.num_rows();
            let batch = without_rows(&batch, &self.deleted, first)?;
            if batch.num_rows() == 0 {
                continue;
            }
            self.received = segment::received_values(&batch)?;
            self.batch = batch;
            self.position = 0;
            return Ok(true);
        }
    }

    fn head(&self) -> Option<i64> {
        self.received.get(self.position).copied()
    }
}

/// Streams the live rows of `inputs` into `writer` in `Received` order (rows received at the
/// same instant keep the inputs' order): one batch per input and one output batch in memory,
/// whatever the segments' sizes.
/// An input named `*.piece` is a piece (`segment::PieceWriter`), any other a segment.
pub(super) fn merge(
    inputs: &[(std::path::PathBuf, RoaringBitmap)],
    writer: &mut dyn segment::BatchSink,
) -> Result<()> {
    let mut sources = Vec::with_capacity(inputs.len());
    for (path, deleted) in inputs {
        let batches: Box<dyn Iterator<Item = Result<RecordBatch>>> =
            if path.extension().is_some_and(|e| e == "piece") {
                Box::new(segment::piece_batches(path)?)
            } else {
                Box::new(segment::batches(path, MERGE_BATCH_ROWS)?)
            };
        let mut input = MergeInput {
            batches,
            deleted: deleted.clone(),
            next_file_row: 0,
            batch: RecordBatch::new_empty(stored_schema()),
            received: Vec::new(),
            position: 0,
        };
        input.advance()?;
        sources.push(input);
    }
    let mut picks: Vec<(usize, usize)> = Vec::with_capacity(MERGE_BATCH_ROWS);
    loop {
        let next = sources
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.head().map(|r| (r, i)))
            .min();
        let Some((_, i)) = next else {
            break;
        };
        let source = &mut sources[i];
        picks.push((i, source.position));
        source.position += 1;
        let exhausted = source.position >= source.received.len();
        if exhausted || picks.len() >= MERGE_BATCH_ROWS {
            // Write out before a batch the picks point into is replaced.
            let batches: Vec<&RecordBatch> = sources.iter().map(|s| &s.batch).collect();
            writer.write(&arrow::compute::interleave_record_batch(&batches, &picks)?)?;
            picks.clear();
        }
        if exhausted {
            sources[i].advance()?;
        }
    }
    Ok(())
}

/// `batch` (file rows `first..first + n`) without the rows in `deleted`.
fn without_rows(batch: &RecordBatch, deleted: &RoaringBitmap, first: usize) -> Result<RecordBatch> {
    let (Ok(start), Ok(end)) = (
        u32::try_from(first),
        u32::try_from(first + batch.num_rows()),
    ) else {
        return Err(Error::Query("a segment with more than 2^32 rows".into()));
    };
    if deleted.range(start..end).next().is_none() {
        return Ok(batch.clone());
    }
    let keep = super::deletes::keep_mask_from(deleted, start, batch.num_rows());
    Ok(filter_record_batch(batch, &keep)?)
}
