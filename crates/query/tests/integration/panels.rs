//! Every panel query of the Exchange Trace Logs app (and the seed query) compiles, with the
//! dashboard variables set to `*` and to real values; IR snapshots with `*`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use mailscope_query::ir::{self, StageKind, TransposeOutputs};
use mailscope_query::{compile, substitute_variables};

fn queries() -> Vec<(String, String)> {
    let directory = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/queries");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&directory)
        .expect("tests/queries exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "sumo"))
        .map(|path| {
            let name = path
                .file_stem()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            (
                name,
                std::fs::read_to_string(&path).expect("readable query"),
            )
        })
        .collect();
    files.sort();
    files
}

fn variables(value: impl Fn(&str) -> String) -> BTreeMap<String, String> {
    ["status", "sender_address", "organization", "country"]
        .into_iter()
        .map(|name| (name.to_string(), value(name)))
        .collect()
}

fn compile_with(source: &str, vars: &BTreeMap<String, String>) -> ir::Query {
    let text = substitute_variables(source, vars).expect("every variable has a value");
    match compile(&text) {
        Ok(query) => query,
        Err(diagnostics) => {
            let rendered: Vec<String> = diagnostics.iter().map(|d| d.render(&text)).collect();
            panic!("query did not compile:\n{}", rendered.join("\n"));
        }
    }
}

#[test]
fn all_nineteen_queries_are_present() {
    assert_eq!(queries().len(), 19);
}

#[test]
fn panels_compile_with_wildcard_variables() {
    let vars = variables(|_| "*".to_string());
    for (name, source) in queries() {
        let query = compile_with(&source, &vars);
        insta::assert_yaml_snapshot!(name, query);
    }
}

#[test]
fn panels_compile_with_real_variable_values() {
    let vars = variables(|name| {
        match name {
            "status" => "Delivered",
            "sender_address" => "*@contoso.com",
            "organization" => "contoso.onmicrosoft.com",
            _ => "Germany",
        }
        .to_string()
    });
    for (_, source) in queries() {
        let query = compile_with(&source, &vars);
        let patterns: Vec<&ir::Pattern> = query
            .stages
            .iter()
            .filter_map(|stage| match &stage.kind {
                StageKind::Where(ir::Expr::Matches { pattern, .. }) => Some(pattern),
                _ => None,
            })
            .collect();
        assert!(
            patterns.contains(&&ir::Pattern::Wildcard("*@contoso.com".to_string()))
                || patterns.is_empty()
        );
    }
}

fn panel(name: &str) -> ir::Query {
    let source = queries()
        .into_iter()
        .find(|(n, _)| n == name)
        .expect("panel exists")
        .1;
    compile_with(&source, &variables(|_| "*".to_string()))
}

#[test]
fn top10_transpose_lists_outputs_in_written_order() {
    let query = panel("overview_top10_status_count_by_sender");
    let outputs = query.stages.iter().find_map(|stage| match &stage.kind {
        StageKind::Transpose { outputs, .. } => Some(outputs.clone()),
        _ => None,
    });
    let expected: Vec<String> = [
        "Delivered",
        "None",
        "Failed",
        "Pending",
        "Expanded",
        "Quarantined",
        "FilteredAsSpam",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(
        outputs,
        Some(TransposeOutputs::Listed {
            names: expected,
            rest: false
        })
    );
}

#[test]
fn total_size_groups_by_timeslice_without_a_timeslice_stage() {
    let query = panel("overview_total_message_size");
    assert!(
        !query
            .stages
            .iter()
            .any(|s| matches!(s.kind, StageKind::Timeslice { .. }))
    );
    let last = query.stages.last().map(|s| s.kind.clone());
    assert_eq!(
        last,
        Some(StageKind::Aggregate {
            aggregates: vec![ir::Aggregate {
                function: ir::AggregateFunction::Sum,
                argument: Some("gbytes".to_string()),
                alias: "totalbytes".to_string(),
            }],
            by: vec!["_timeslice".to_string()],
        })
    );
}

#[test]
fn seed_fillmissing_takes_the_span_of_the_timeslice_stage() {
    let query = panel("seed_status_by_day_transposed");
    let generators = query.stages.iter().find_map(|stage| match &stage.kind {
        StageKind::FillMissing { generators, .. } => Some(generators.clone()),
        _ => None,
    });
    assert_eq!(
        generators,
        Some(vec![
            ir::Generator::Timeslice {
                span: Some(86_400_000),
                field: "_timeslice".to_string()
            },
            ir::Generator::AllValues {
                field: "status".to_string()
            },
        ])
    );
}

#[test]
fn panel_filters_at_star_keep_every_row_with_compile_with_variables() {
    let vars = variables(|_| "*".to_string());
    for (name, source) in queries() {
        let query = mailscope_query::compile_with_variables(&source, &vars)
            .unwrap_or_else(|d| panic!("{name}: {d:?}"));
        let text = format!("{:?}", query.stages);
        assert!(
            !text.contains("Wildcard(\"*\")"),
            "{name}: a filter at * still tests for null: {text}"
        );
        // Every `matches "{{var}}"` became `true`; other patterns remain.
        if source.contains("matches \"{{") {
            assert!(text.contains("Literal(Bool(true))"), "{name}: {text}");
        }
    }
}
