//! The "Microsoft Exchange Trace Logs" app: the original app's two dashboards (1.0.0, its 18
//! panel queries included unmodified from the query crate's golden files) and 1.1.0, which
//! adds what the original's description promises: outlier bands on daily delivery volume and
//! size, sparklines under the single values, and an IP threat table. New queries live in
//! `crates/server/apps/microsoft-exchange-trace-logs/queries/`.

use serde_json::{Value, json};

use super::bundle::{Bundle, BundleVersion, TEMPLATE_CATEGORY};
use super::dashboard::{
    AppRef, Dashboard, Layout, Panel, TimeRange, Variable, Visualization, VisualizationType,
};

pub const APP_ID: &str = "microsoft-exchange-trace-logs";

macro_rules! original {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../query/tests/queries/",
            $name,
            ".sumo"
        ))
    };
}

macro_rules! added {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/apps/microsoft-exchange-trace-logs/queries/",
            $name,
            ".sumo"
        ))
    };
}

pub fn bundle() -> Bundle {
    Bundle {
        id: APP_ID,
        name: "Microsoft Exchange Trace Logs",
        description: "Message trace of Exchange Online: delivery status, volumes and sizes, \
                      senders, receivers and domains, where mail comes from and goes to, \
                      and threat intelligence on senders.",
        versions: vec![version("1.0.0", false), version("1.1.0", true)],
    }
}

fn version(version: &'static str, extended: bool) -> BundleVersion {
    BundleVersion {
        version,
        dashboards: vec![overview(version, extended), monitoring(version, extended)],
    }
}

fn variables() -> Vec<Variable> {
    [
        ("status", "Status", "status"),
        ("sender_address", "Sender Address", "sender_address"),
        ("organization", "Organization", "organization"),
        ("country", "Country", "country_name"),
    ]
    .into_iter()
    .map(|(name, label, field)| Variable {
        name: name.into(),
        label: label.into(),
        field: field.into(),
        default: "*".into(),
    })
    .collect()
}

fn dashboard(
    version: &str,
    key: &str,
    title: &str,
    description: &str,
    panels: Vec<Panel>,
) -> Dashboard {
    Dashboard {
        id: String::new(),
        title: title.into(),
        description: description.into(),
        app: Some(AppRef {
            id: APP_ID.into(),
            version: version.into(),
            key: key.into(),
        }),
        source_category: TEMPLATE_CATEGORY.into(),
        time_range: TimeRange::relative("-7d"),
        variables: variables(),
        panels,
        modified: None,
    }
}

struct PanelSpec<'a> {
    id: &'a str,
    title: &'a str,
    description: &'a str,
    query: &'a str,
    kind: VisualizationType,
    options: Value,
    layout: (u32, u32, u32, u32),
}

fn panel(spec: PanelSpec<'_>) -> Panel {
    let (x, y, w, h) = spec.layout;
    let options = match spec.options {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    Panel {
        id: spec.id.into(),
        title: spec.title.into(),
        description: spec.description.into(),
        query: spec.query.into(),
        visualization: Visualization {
            kind: spec.kind,
            options,
        },
        layout: Layout { x, y, w, h },
    }
}

/// A single value, with its sparkline in 1.1.0.
fn single(
    id: &str,
    title: &str,
    description: &str,
    query: &str,
    options: Value,
    sparkline: Option<&str>,
    x: u32,
) -> Panel {
    let mut options = options;
    if let (Some(sparkline), Value::Object(map)) = (sparkline, &mut options) {
        map.insert("sparkline_query".into(), Value::String(sparkline.into()));
    }
    panel(PanelSpec {
        id,
        title,
        description,
        query,
        kind: VisualizationType::SingleValue,
        options,
        layout: (x, 0, 3, 2),
    })
}

fn overview(version: &str, extended: bool) -> Dashboard {
    let spark = |query: &'static str| extended.then_some(query);
    // 1.1.0 puts the two outlier charts above the sender table.
    let table_y = if extended { 10 } else { 6 };
    let mut panels = vec![
        single(
            "delivered-messages",
            "Delivered Messages",
            "Messages with a delivered status.",
            original!("overview_delivered_messages"),
            json!({"decimals": 0}),
            spark(added!("overview_delivered_sparkline")),
            0,
        ),
        single(
            "failed-messages",
            "Failed Messages",
            "Messages whose delivery failed.",
            original!("overview_failed_messages"),
            json!({"decimals": 0}),
            spark(added!("overview_failed_sparkline")),
            3,
        ),
        single(
            "messages-received",
            "Messages Received",
            "Messages received in the time range.",
            original!("overview_messages_received"),
            json!({"decimals": 0}),
            spark(added!("overview_received_sparkline")),
            6,
        ),
        single(
            "total-message-size",
            "Total Message Size Transmitted (GB)",
            "Total size of the messages, in GiB.",
            original!("overview_total_message_size"),
            json!({"unit": "GB", "decimals": 2}),
            spark(added!("overview_total_size_sparkline")),
            9,
        ),
        panel(PanelSpec {
            id: "message-delivery-status",
            title: "Message Delivery Status",
            description: "Messages per day by delivery status.",
            query: original!("overview_delivery_status_over_time"),
            kind: VisualizationType::StackedColumn,
            options: json!({"x": "_timeslice"}),
            layout: (0, 2, 8, 4),
        }),
        panel(PanelSpec {
            id: "top-organizations",
            title: "Top 10 Organizations",
            description: "Organizations with the most messages.",
            query: original!("overview_top10_organizations"),
            kind: VisualizationType::Pie,
            options: json!({"label": "organization", "value": "_count"}),
            layout: (8, 2, 4, 4),
        }),
        panel(PanelSpec {
            id: "message-size",
            title: "Size of Message Transmitted",
            description: "Bytes transmitted per day.",
            query: original!("overview_message_size_over_time"),
            kind: VisualizationType::Column,
            options: json!({"x": "_timeslice", "series": ["totalbytes"]}),
            layout: (0, table_y + 5, 6, 4),
        }),
        panel(PanelSpec {
            id: "subject-keywords",
            title: "Frequency of Keywords in Subject",
            description: "The ten most frequent words in subjects.",
            query: original!("overview_subject_keyword_frequency"),
            kind: VisualizationType::Bar,
            options: json!({"label": "word", "value": "_approxcount"}),
            layout: (6, table_y + 5, 6, 4),
        }),
        panel(PanelSpec {
            id: "status-count-by-sender",
            title: "Top 10 Message Status Count by Sender",
            description: "The senders with the most messages, by delivery status.",
            query: original!("overview_top10_status_count_by_sender"),
            kind: VisualizationType::Table,
            options: json!({"columns": ["sender_address", "TotalCount", "Delivered", "Failed",
                "Pending", "Expanded", "Quarantined", "FilteredAsSpam", "None"]}),
            layout: (0, table_y, 12, 5),
        }),
    ];
    if extended {
        panels.push(panel(PanelSpec {
            id: "delivery-volume-outliers",
            title: "Daily Delivery Volume Outliers",
            description: "Delivered messages per day against the band expected from the five \
                          days before (3 standard deviations); marked days are outliers.",
            query: added!("overview_delivery_volume_outliers"),
            kind: VisualizationType::Line,
            options: outlier_options("delivered"),
            layout: (0, 6, 6, 4),
        }));
        panels.push(panel(PanelSpec {
            id: "size-outliers",
            title: "Daily Message Size Outliers",
            description: "Bytes transmitted per day against the band expected from the five \
                          days before (3 standard deviations); marked days are outliers.",
            query: added!("overview_size_outliers"),
            kind: VisualizationType::Line,
            options: outlier_options("totalbytes"),
            layout: (6, 6, 6, 4),
        }));
    }
    dashboard(
        version,
        "overview",
        "Microsoft Exchange Trace Logs - Overview",
        "Delivered, failed and received messages, sizes, delivery status over time, top \
         organizations, senders and subject keywords.",
        panels,
    )
}

fn outlier_options(field: &str) -> Value {
    json!({
        "x": "_timeslice",
        "series": [field],
        "outlier": {
            "value": field,
            "lower": format!("{field}_lower"),
            "upper": format!("{field}_upper"),
            "violation": format!("{field}_violation"),
        },
    })
}

fn map_options(ip: &str) -> Value {
    json!({"latitude": "latitude", "longitude": "longitude", "value": "IPCount",
        "label": ip, "color_by": "country_name"})
}

fn monitoring(version: &str, extended: bool) -> Dashboard {
    let spark = |query: &'static str| extended.then_some(query);
    let count = json!({"decimals": 0});
    let mut panels = vec![
        single(
            "unique-senders",
            "Unique Senders",
            "Distinct sender addresses.",
            original!("monitoring_unique_senders"),
            count.clone(),
            spark(added!("monitoring_unique_senders_sparkline")),
            0,
        ),
        single(
            "unique-receivers",
            "Unique Receivers",
            "Distinct recipient addresses.",
            original!("monitoring_unique_receivers"),
            count.clone(),
            spark(added!("monitoring_unique_receivers_sparkline")),
            3,
        ),
        single(
            "unique-inbound-domains",
            "Unique Inbound Domains",
            "Distinct domains of sender addresses.",
            original!("monitoring_unique_inbound_domains"),
            count.clone(),
            spark(added!("monitoring_unique_inbound_domains_sparkline")),
            6,
        ),
        single(
            "unique-outbound-domains",
            "Unique Outbound Domains",
            "Distinct domains of recipient addresses.",
            original!("monitoring_unique_outbound_domains"),
            count,
            spark(added!("monitoring_unique_outbound_domains_sparkline")),
            9,
        ),
        panel(PanelSpec {
            id: "sender-geo",
            title: "Geo Location of Senders",
            description: "Where sending IPs are, sized by messages.",
            query: original!("monitoring_sender_geo_locations"),
            kind: VisualizationType::Map,
            options: map_options("fromIP"),
            layout: (0, 2, 6, 5),
        }),
        panel(PanelSpec {
            id: "receiver-geo",
            title: "Geo Locations of Receivers",
            description: "Where receiving IPs are, sized by messages.",
            query: original!("monitoring_receiver_geo_locations"),
            kind: VisualizationType::Map,
            options: map_options("toIP"),
            layout: (6, 2, 6, 5),
        }),
        panel(PanelSpec {
            id: "failed-source-geo",
            title: "Source Geo Location of Failed Messages",
            description: "Where the senders of failed messages are.",
            query: original!("monitoring_failed_message_source_geo"),
            kind: VisualizationType::Map,
            options: map_options("fromIP"),
            layout: (0, 7, 6, 5),
        }),
        panel(PanelSpec {
            id: "top-senders",
            title: "Top 10 Senders",
            description: "Sender addresses with the most messages.",
            query: original!("monitoring_top10_senders"),
            kind: VisualizationType::Bar,
            options: json!({"label": "sender_address", "value": "_count"}),
            layout: (6, 7, 6, 5),
        }),
        panel(PanelSpec {
            id: "sender-threat-intel",
            title: "Threat Intel Analysis of Senders",
            description: "Sender addresses found in the threat intelligence feeds.",
            query: original!("monitoring_sender_threat_intel"),
            kind: VisualizationType::Table,
            options: json!({"columns": ["sender_address", "malicious_confidence", "Actor",
                "label_name", "_source", "threat_count"]}),
            layout: (0, 12, 12, 5),
        }),
    ];
    if extended {
        panels.push(panel(PanelSpec {
            id: "sender-ip-threats",
            title: "Threat Intel Analysis of Sender IPs",
            description: "Public sender IPs found in the threat intelligence feeds.",
            query: added!("monitoring_sender_ip_threats"),
            kind: VisualizationType::Table,
            options: json!({"columns": ["fromIP", "country_name", "message_count",
                "malicious_confidence", "actor", "type"]}),
            layout: (0, 17, 12, 5),
        }));
    }
    dashboard(
        version,
        "message-monitoring",
        "Microsoft Exchange Trace Logs - Message Monitoring",
        "Unique senders, receivers and domains, where senders and receivers are, failed \
         messages' sources, top senders and threat intelligence on senders.",
        panels,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exchange_app_has_the_original_panels_and_the_additions() {
        let bundle = bundle();
        assert_eq!(bundle.version_names(), ["1.0.0", "1.1.0"]);
        let count = |v: &BundleVersion| -> Vec<usize> {
            v.dashboards.iter().map(|d| d.panels.len()).collect()
        };
        assert_eq!(count(&bundle.versions[0]), [9, 9]);
        assert_eq!(count(&bundle.versions[1]), [11, 10]);
        let sparklines = bundle.versions[1]
            .dashboards
            .iter()
            .flat_map(|d| &d.panels)
            .filter(|p| p.visualization.options.contains_key("sparkline_query"))
            .count();
        assert_eq!(sparklines, 8);
    }
}
