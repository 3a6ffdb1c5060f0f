//! Every record reader on arbitrary bytes: auto-detection, then each format forced. Reading
//! may fail with an error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailscope_record::formats::{Format, ReadOptions, open_reader, open_reader_as};

fn drain(
    reader: Result<mailscope_record::formats::RecordReader, mailscope_record::formats::ReadError>,
) {
    if let Ok(reader) = reader {
        for item in reader.take(10_000) {
            let _ = item;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let input = || Box::new(std::io::Cursor::new(data.to_vec())) as Box<dyn std::io::Read + Send>;
    drain(open_reader("fuzz", input(), ReadOptions::default()));
    for format in Format::ALL {
        drain(open_reader_as(
            format,
            "fuzz",
            input(),
            ReadOptions::default(),
        ));
    }
});
