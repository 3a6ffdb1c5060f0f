//! Dashboard variables: `{{name}}` in the query text replaced by its value, verbatim (as
//! Sumo does; a value is not escaped, so `*` inside `matches "{{v}}"` stays a wildcard).

use std::collections::BTreeMap;

use crate::diagnostic::{Diagnostic, codes};
use crate::span::Span;

/// Replaces every `{{name}}` (spaces around the name allowed) with `vars[name]`. A name with
/// no value is a diagnostic pointing at the placeholder; all of them are reported.
pub fn substitute_variables(
    source: &str,
    vars: &BTreeMap<String, String>,
) -> Result<String, Vec<Diagnostic>> {
    let mut out = String::with_capacity(source.len());
    let mut diagnostics = Vec::new();
    let mut rest = source;
    let mut offset = 0;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else { break };
        let name = after[..close].trim();
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
        let end = open + 2 + close + 2;
        out.push_str(&rest[..open]);
        match vars.get(name) {
            Some(value) if valid => out.push_str(value),
            _ => {
                out.push_str(&rest[open..end]);
                if valid {
                    let span = Span::new(offset + open, offset + end);
                    diagnostics.push(
                        Diagnostic::error(
                            codes::MISSING_VARIABLE,
                            format!("no value for variable '{name}'"),
                            span,
                        )
                        .with_suggestion(name, vars.keys().map(String::as_str)),
                    );
                }
            }
        }
        rest = &rest[end..];
        offset += end;
    }
    out.push_str(rest);
    if diagnostics.is_empty() {
        Ok(out)
    } else {
        Err(diagnostics)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_and_reports_missing() {
        let vars = BTreeMap::from([("status".to_string(), "*".to_string())]);
        assert_eq!(
            substitute_variables("a matches\"{{status}}\" {{ status }}", &vars),
            Ok("a matches\"*\" *".to_string())
        );
        let errors = substitute_variables("x {{statu}}", &vars).unwrap_err();
        assert_eq!(errors[0].span, Span::new(2, 11));
        assert_eq!(errors[0].hint.as_deref(), Some("did you mean 'status'?"));
    }
}
