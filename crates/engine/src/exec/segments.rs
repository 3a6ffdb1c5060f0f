//! The stored rows of some segments, read from their Parquet files with the rows their
//! deletion vectors name skipped (merge on read).
//!
//! The table is DataFusion's `ListingTable` (row-group and page pruning, projection, file
//! splitting) with one change to its plan: each file with deleted rows carries a
//! `ParquetRowSelection` of its live rows, which the Parquet opener applies before any
//! pruning, so a deleted row is never decoded.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::Statistics;
use datafusion::datasource::TableType;
use datafusion::datasource::physical_plan::parquet::ParquetRowSelection;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfig, FileScanConfigBuilder};
use datafusion::datasource::source::DataSourceExec;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use parquet::arrow::arrow_reader::{RowSelection, RowSelector};
use roaring::RoaringBitmap;

use crate::error::Result;

/// One segment to read: its file and, when it has one, its deletion vector with its row count.
pub struct SegmentRows {
    pub path: String,
    /// The segment's path relative to the data directory (`/`-separated): how its file is
    /// recognized in the scan.
    pub relative: String,
    pub deleted: Option<(RoaringBitmap, usize)>,
}

#[derive(Debug)]
pub struct SegmentTable {
    inner: Arc<dyn TableProvider>,
    /// The live rows of each segment with deleted rows, by its relative path.
    selections: Vec<(String, RowSelection)>,
}

impl SegmentTable {
    pub fn provider(segments: &[SegmentRows], schema: SchemaRef) -> Result<Arc<dyn TableProvider>> {
        let files: Vec<String> = segments.iter().map(|s| s.path.clone()).collect();
        let selections: Vec<(String, RowSelection)> = segments
            .iter()
            .filter_map(|s| {
                let (deleted, rows) = s.deleted.as_ref()?;
                let selectors: Vec<RowSelector> = crate::store::deletes::runs(deleted, *rows)
                    .into_iter()
                    .map(|(keep, n)| {
                        if keep {
                            RowSelector::select(n)
                        } else {
                            RowSelector::skip(n)
                        }
                    })
                    .collect();
                Some((s.relative.clone(), RowSelection::from(selectors)))
            })
            .collect();
        let inner = super::parquet_table(&files, ".parquet", schema)?;
        if selections.is_empty() {
            return Ok(inner);
        }
        Ok(Arc::new(SegmentTable { inner, selections }))
    }

    fn selection_of(&self, location: &str) -> Option<&RowSelection> {
        self.selections
            .iter()
            .find(|(relative, _)| {
                location
                    .strip_suffix(relative.as_str())
                    .is_some_and(|head| head.is_empty() || head.ends_with('/'))
            })
            .map(|(_, selection)| selection)
    }
}

#[async_trait]
impl TableProvider for SegmentTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> datafusion::error::Result<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let plan = self.inner.scan(state, projection, filters, limit).await?;
        let Some(exec) = plan.downcast_ref::<DataSourceExec>() else {
            // No file to read (an empty plan): nothing to skip either.
            return Ok(plan);
        };
        let Some(config) = exec.data_source().downcast_ref::<FileScanConfig>() else {
            return Err(datafusion::error::DataFusionError::Internal(
                "the segments' scan is not a file scan".into(),
            ));
        };
        let mut marked = 0;
        let groups: Vec<FileGroup> = config
            .file_groups
            .iter()
            .map(|group| {
                group
                    .iter()
                    .map(|file| {
                        // The footers' row counts include deleted rows: no plan may answer
                        // a count from them.
                        let mut file = file.clone();
                        file.statistics = None;
                        match self.selection_of(file.object_meta.location.as_ref()) {
                            Some(selection) => {
                                marked += 1;
                                file.with_extension(ParquetRowSelection::new(selection.clone()))
                            }
                            None => file,
                        }
                    })
                    .collect()
            })
            .collect();
        if marked < self.selections.len() {
            return Err(datafusion::error::DataFusionError::Internal(format!(
                "{} of {} segments with deleted rows are not in the scan",
                self.selections.len() - marked,
                self.selections.len()
            )));
        }
        let config = FileScanConfigBuilder::from(config.clone())
            .with_file_groups(groups)
            .with_statistics(Statistics::new_unknown(&self.inner.schema()))
            .build();
        Ok(DataSourceExec::from_data_source(config))
    }
}
