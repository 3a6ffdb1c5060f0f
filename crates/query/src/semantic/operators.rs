//! The operators beyond the app's panels: `topk`, `accum`, `total`, `split`/`csv` and
//! `threatlookup`.

use super::{Analyzer, names};
use crate::ast::{self, SplitColumn, SplitOption, StrLit};
use crate::diagnostic::{Diagnostic, codes};
use crate::ir::{self, ThreatInclude};

const SPLIT_OPTIONS: [&str; 3] = ["delim", "quote", "escape"];
const INCLUDE_VALUES: [&str; 3] = ["active", "expired", "all"];

impl Analyzer {
    pub(super) fn topk(
        &mut self,
        limit: &ast::Expr,
        fields: &[ast::Ident],
        by: &[ast::Ident],
    ) -> ir::StageKind {
        ir::StageKind::TopK {
            limit: self.count(limit, "topk", 1, 10_000),
            fields: names(fields),
            by: names(by),
        }
    }

    /// `accum` (`total == false`) and `total`: the default output name is `_accum`/`_total`.
    pub(super) fn running(
        &mut self,
        total: bool,
        field: &ast::Ident,
        alias: &Option<ast::Ident>,
        by: &[ast::Ident],
    ) -> ir::StageKind {
        let default = if total { "_total" } else { "_accum" };
        let alias = alias
            .as_ref()
            .map_or_else(|| default.to_string(), |a| a.name.clone());
        if let Some(group) = by.iter().find(|b| b.name.eq_ignore_ascii_case(&alias)) {
            self.push(
                Diagnostic::error(
                    codes::DUPLICATE_NAME,
                    format!("the output '{alias}' is also a group field"),
                    group.span,
                )
                .with_hint("name the output with 'as'"),
            );
        }
        let (field, by) = (field.name.clone(), names(by));
        if total {
            ir::StageKind::Total { field, alias, by }
        } else {
            ir::StageKind::Accumulate { field, alias, by }
        }
    }

    pub(super) fn split(
        &mut self,
        field: &ast::Ident,
        options: &[SplitOption],
        columns: &[SplitColumn],
        stage_span: crate::span::Span,
    ) -> ir::StageKind {
        let mut chars = [',', '"', '\\'];
        let mut given: Vec<&SplitOption> = Vec::new();
        for option in options {
            let name = option.name.name.to_ascii_lowercase();
            let Some(slot) = SPLIT_OPTIONS.iter().position(|o| *o == name) else {
                self.push(
                    Diagnostic::error(
                        codes::UNKNOWN_OPTION,
                        format!("unknown split option '{}'", option.name.name),
                        option.name.span,
                    )
                    .with_suggestion(&name, SPLIT_OPTIONS),
                );
                continue;
            };
            if let Some(first) = given
                .iter()
                .find(|g| g.name.name.eq_ignore_ascii_case(&name))
            {
                self.push(
                    Diagnostic::error(
                        codes::DUPLICATE_NAME,
                        format!("split option '{name}' is given twice"),
                        option.span,
                    )
                    .with_label(first.span, "first given here"),
                );
                continue;
            }
            given.push(option);
            let mut value = option.value.chars();
            match (value.next(), value.next()) {
                (Some(c), None) => chars[slot] = c,
                _ => self.push(
                    Diagnostic::error(
                        codes::INVALID_SPLIT,
                        format!("split's {name} must be exactly one character"),
                        option.span,
                    )
                    .with_hint(format!("e.g. {name}='{}'", [',', '"', '\\'][slot])),
                ),
            }
        }
        let [delimiter, quote, escape] = chars;
        if delimiter == quote || delimiter == escape || quote == escape {
            self.push(
                Diagnostic::error(
                    codes::INVALID_SPLIT,
                    "split's delim, quote and escape characters must all differ",
                    stage_span,
                )
                .with_hint("the defaults are delim=',' quote='\"' escape='\\'"),
            );
        }
        let mut out: Vec<ir::SplitColumn> = Vec::new();
        for (position, column) in columns.iter().enumerate() {
            let (index, alias) = match column {
                SplitColumn::Positional(alias) if alias.name == "_" => continue,
                SplitColumn::Positional(alias) => (position + 1, alias),
                SplitColumn::Indexed {
                    index,
                    index_span,
                    alias,
                } => {
                    let Some(index) = usize::try_from(*index)
                        .ok()
                        .filter(|i| (1..=10_000).contains(i))
                    else {
                        self.push(
                            Diagnostic::error(
                                codes::INVALID_SPLIT,
                                format!("column {index} is out of range"),
                                *index_span,
                            )
                            .with_hint("columns are numbered from 1 to 10000"),
                        );
                        continue;
                    };
                    (index, alias)
                }
            };
            if out
                .iter()
                .any(|c| c.alias.eq_ignore_ascii_case(&alias.name))
            {
                self.push(
                    Diagnostic::error(
                        codes::DUPLICATE_NAME,
                        format!("'{}' is extracted twice", alias.name),
                        alias.span,
                    )
                    .with_hint("give each column its own name"),
                );
                continue;
            }
            out.push(ir::SplitColumn {
                index,
                alias: alias.name.clone(),
            });
        }
        ir::StageKind::Split {
            source: field.name.clone(),
            delimiter,
            quote,
            escape,
            columns: out,
        }
    }

    pub(super) fn threatlookup(
        &mut self,
        single_indicator: bool,
        source: &Option<StrLit>,
        include: &Option<StrLit>,
        fields: &[ast::Ident],
    ) -> ir::StageKind {
        let include = match include {
            None => ThreatInclude::Active,
            Some(value) => match value.value.to_ascii_lowercase().as_str() {
                "active" => ThreatInclude::Active,
                "expired" => ThreatInclude::Expired,
                "all" => ThreatInclude::All,
                other => {
                    self.push(
                        Diagnostic::error(
                            codes::UNKNOWN_OPTION,
                            format!("threatlookup include must be active, expired or all, found '{other}'"),
                            value.span,
                        )
                        .with_suggestion(other, INCLUDE_VALUES),
                    );
                    ThreatInclude::Active
                }
            },
        };
        ir::StageKind::ThreatLookup {
            fields: names(fields),
            single_indicator,
            source: source.as_ref().map(|s| s.value.clone()),
            include,
        }
    }
}
