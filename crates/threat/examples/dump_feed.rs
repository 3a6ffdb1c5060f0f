//! Prints what a reader makes of a feed file: `dump_feed <format> <file>`.

use mailscope_threat::read::{FeedFormat, read_bytes};

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(format), Some(path)) = (args.next(), args.next()) else {
        eprintln!("usage: dump_feed <format|auto> <file>");
        std::process::exit(2);
    };
    let format: FeedFormat = match format.parse() {
        Ok(format) => format,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) => {
            eprintln!("{path}: {error}");
            std::process::exit(1);
        }
    };
    match read_bytes("feed", format, &bytes) {
        Ok(parse) => {
            for indicator in &parse.indicators {
                println!("{}", indicator.raw());
            }
            for error in &parse.errors {
                println!("error: {error}");
            }
            for skipped in &parse.skipped {
                println!("skipped: {skipped}");
            }
        }
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(1);
        }
    }
}
