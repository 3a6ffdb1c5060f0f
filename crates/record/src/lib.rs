//! The canonical message trace record (PRODUCT.md §2) and the wire formats it travels in:
//! readers that auto-detect every shape Microsoft and users produce, and writers for the
//! formats the generator and simulator emit. Pure data handling over `Read`/`Write`; no
//! network, no Arrow, so the collectors, the simulator and the engine can all share it.

pub mod formats;
mod record;
pub mod time;

pub use formats::{
    Format, ReadError, ReadOptions, RecordReader, RecordWriter, WriteOptions, open_reader,
    open_reader_as, write_records,
};
pub use record::{Finality, Record, Status, identity_key};
