//! The query-time ASN lookup, a scalar function over a batch of IP texts. One snapshot of
//! the database serves the whole batch, and a per-batch cache answers repeated IPs (a few
//! servers send most of the mail) without parsing or searching again.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Builder, StringBuilder};
use arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::{Asn, AsnDatabase};

/// The expression answering `asn` or `as_org` of the IP `key`, at query time (AS numbers
/// are not stored at ingest); null with a warning when no ASN database is configured.
pub(crate) fn asn_column(
    asn: &Option<Arc<AsnDatabase>>,
    name: &str,
    key: &Expr,
    warnings: &mut Vec<String>,
) -> Expr {
    if asn.is_none() {
        let warning = "no ASN database is configured; asn and as_org are null".to_string();
        if !warnings.contains(&warning) {
            warnings.push(warning);
        }
    }
    AsnLookup::udf(asn.clone(), name).call(vec![key.clone()])
}

/// `asn` (Int64) or `as_org` (Utf8) of an IP; null without a database or a match.
#[derive(Debug)]
pub struct AsnLookup {
    asn: Option<Arc<AsnDatabase>>,
    number: bool,
    signature: Signature,
}

impl PartialEq for AsnLookup {
    fn eq(&self, other: &Self) -> bool {
        self.number == other.number
            && match (&self.asn, &other.asn) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            }
    }
}
impl Eq for AsnLookup {}
impl Hash for AsnLookup {
    fn hash<H: Hasher>(&self, state: &mut H) {
        "AsnLookup".hash(state);
        self.number.hash(state);
    }
}

impl AsnLookup {
    /// The function answering `column` (one of [`super::ASN_COLUMNS`]; anything but `asn`
    /// is the organisation).
    pub fn udf(asn: Option<Arc<AsnDatabase>>, column: &str) -> ScalarUDF {
        ScalarUDF::from(AsnLookup {
            asn,
            number: column.eq_ignore_ascii_case("asn"),
            signature: Signature::any(1, Volatility::Immutable),
        })
    }
}

impl ScalarUDFImpl for AsnLookup {
    fn name(&self) -> &str {
        if self.number {
            "asn_lookup"
        } else {
            "as_org_lookup"
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(if self.number {
            DataType::Int64
        } else {
            DataType::Utf8
        })
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let input = args.args[0].to_array(rows)?;
        let input = arrow::compute::cast(&input, &DataType::Utf8)?;
        let input = input.as_string::<i32>();
        let data = self.asn.as_ref().and_then(|db| db.snapshot());
        let mut cache: HashMap<&str, Option<Arc<Asn>>> = HashMap::new();
        let answers = input.iter().map(|ip| match (data.as_ref(), ip) {
            (Some(data), Some(ip)) => cache
                .entry(ip)
                .or_insert_with(|| data.lookup_text(ip))
                .clone(),
            _ => None,
        });
        let array: ArrayRef = if self.number {
            let mut builder = Int64Builder::with_capacity(input.len());
            for asn in answers {
                builder.append_option(asn.map(|a| i64::from(a.number)));
            }
            Arc::new(builder.finish())
        } else {
            let mut builder = StringBuilder::new();
            for asn in answers {
                builder.append_option(asn.and_then(|a| a.organization.clone()));
            }
            Arc::new(builder.finish())
        };
        Ok(ColumnarValue::Array(array))
    }
}
