//! A secret value (client secret, access token) whose `Debug` and `Display` never show it, so
//! it cannot reach a log line, an error message or a panic by accident.

use std::fmt;

/// Text that must not be shown. Read it with [`Secret::expose`] only where it is sent.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is the secret, compared in time independent of where the first
    /// difference is (an access token checked by a server).
    pub fn matches(&self, presented: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), presented.as_bytes());
        let mut difference = a.len() ^ b.len();
        for (i, byte) in a.iter().enumerate() {
            difference |= usize::from(byte ^ b.get(i).copied().unwrap_or(0));
        }
        difference == 0
    }

    /// Replaces every occurrence of the secret in `text` (an error body that echoes the
    /// request, say) with `[redacted]`.
    pub fn scrub(&self, text: &str) -> String {
        if self.0.len() < 4 {
            // Too short to search for without mangling ordinary words; callers never
            // pass response text through unless it was also cut short and filtered.
            return text.to_owned();
        }
        text.replace(self.0.as_str(), "[redacted]")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn matches_only_the_same_text() {
        let secret = super::Secret::new("s3cret-token");
        assert!(secret.matches("s3cret-token"));
        for other in ["s3cret-toke", "s3cret-token!", "S3cret-token", ""] {
            assert!(!secret.matches(other), "{other}");
        }
    }

    use super::*;

    #[test]
    fn debug_and_display_are_redacted() {
        let secret = Secret::new("p4ssw0rd~value");
        assert_eq!(format!("{secret}"), "[redacted]");
        assert_eq!(format!("{secret:?}"), "Secret([redacted])");
        assert!(!format!("{:?}", Some(&secret)).contains("p4ss"));
    }

    #[test]
    fn scrub_removes_echoes() {
        let secret = Secret::new("p4ssw0rd~value");
        assert_eq!(
            secret.scrub("client_secret=p4ssw0rd~value&x"),
            "client_secret=[redacted]&x"
        );
    }
}
