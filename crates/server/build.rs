//! The binary embeds the web app's build output. This finds it (`web/dist`, or the folder in
//! `MAILSCOPE_WEB_DIST`), refuses to build without it, and hands its absolute path to the
//! embedding (`MAILSCOPE_WEB_DIST` at compile time).

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=MAILSCOPE_WEB_DIST");
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let dist = match std::env::var_os("MAILSCOPE_WEB_DIST") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => manifest.join("../../web/dist"),
    };
    // A directory is watched recursively: a rebuilt web app rebuilds the binary.
    println!("cargo:rerun-if-changed={}", dist.display());
    let dist = match dist.canonicalize() {
        Ok(dist) if dist.join("index.html").is_file() => dist,
        _ => {
            eprintln!(
                "error: web/dist is missing: run (cd web && npm ci && npm run build) \
                 (looked for index.html in {})",
                dist.display()
            );
            std::process::exit(1);
        }
    };
    println!("cargo:rustc-env=MAILSCOPE_WEB_DIST={}", dist.display());
}
