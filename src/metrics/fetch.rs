//! Fetching a query's selections: from the tenant's aggregator (the in-memory head) and,
//! for older data, from sealed chunks in the database.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use super::reader::ReadError;
use crate::actors::aggregator::{LabelFilter, SelectSeries, SelectedSeries};
use crate::actors::registry::{RegistryError, TenantRegistryHandle};
use crate::domain::metrics::{Labels, Sample, METRIC_NAME_LABEL};
use crate::domain::TenantId;
use crate::promql::{QueryError, Selection, SeriesSource};
use crate::store::Store;
use crate::tsdb::chunk::decode_chunk;

/// Where series come from: the tenants' heads and the store's sealed chunks.
#[derive(Clone)]
pub(super) struct Sources {
    pub tenants: TenantRegistryHandle,
    pub store: Store,
}

/// Series with their samples, as a selection returns them.
pub type SeriesData = Vec<(Labels, Vec<Sample>)>;

/// Series fetched for each selection of one query, for exactly one evaluation of it: the
/// engine asks once per selector, and the last asker of a selection takes its data.
#[derive(Debug, Default)]
pub struct Prefetched {
    /// Each distinct selection, its series, and how many of the query's selectors asked
    /// for it: the last of them takes the data instead of copying it.
    entries: Mutex<Vec<Prefetch>>,
}

#[derive(Debug)]
struct Prefetch {
    selection: Selection,
    series: SeriesData,
    readers: usize,
}

impl SeriesSource for Prefetched {
    fn select(&self, selection: &Selection) -> Vec<(Labels, Vec<Sample>)> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let Some(entry) = entries.iter_mut().find(|e| e.selection == *selection) else {
            return Vec::new();
        };
        entry.readers = entry.readers.saturating_sub(1);
        if entry.readers == 0 {
            std::mem::take(&mut entry.series)
        } else {
            entry.series.clone()
        }
    }
}

fn pinned_name(selection: &Selection) -> Option<String> {
    selection
        .matchers
        .matchers
        .iter()
        .find(|m| {
            m.name == METRIC_NAME_LABEL && matches!(m.op, promql_parser::label::MatchOp::Equal)
        })
        .map(|m| m.value.clone())
}

/// Series matching `selection` with their samples in its range, from memory and chunks.
async fn fetch_one(
    sources: &Sources,
    tenant: TenantId,
    selection: &Selection,
    max_series: usize,
    keep_empty: bool,
) -> Result<Vec<(Labels, Vec<Sample>)>, ReadError> {
    let aggregator = sources.tenants.aggregator(tenant).await?;
    let filter_selection = selection.clone();
    let filter: LabelFilter = Arc::new(move |labels: &Labels| filter_selection.matches(labels));
    let SelectedSeries {
        series,
        covered_from_ms,
    } = aggregator
        .send(SelectSeries {
            metric_name: pinned_name(selection),
            filter,
            start_ms: selection.start_ms,
            end_ms: selection.end_ms,
        })
        .await
        .map_err(RegistryError::SupervisorLost)?;
    if series.len() > max_series {
        return Err(QueryError::LimitExceeded(format!(
            "the query selects {} series; the limit is {max_series} (TIDEWATCH_QUERY_MAX_SERIES)",
            series.len()
        ))
        .into());
    }
    let mut merged: Vec<(i64, Labels, Vec<Sample>)> = series
        .into_iter()
        .map(|(id, labels, samples)| (id, (*labels).clone(), samples))
        .collect();
    if selection.start_ms < covered_from_ms && !merged.is_empty() {
        let ids: Vec<i64> = merged.iter().map(|(id, _, _)| *id).collect();
        let older_end = selection.end_ms.min(covered_from_ms - 1);
        let chunks = sources
            .store
            .load_chunks(tenant, &ids, selection.start_ms, older_end)
            .await?;
        let position: HashMap<i64, usize> = merged
            .iter()
            .enumerate()
            .map(|(at, (id, _, _))| (*id, at))
            .collect();
        for chunk in chunks {
            let samples = decode_chunk(&chunk.payload)
                .map_err(|e| ReadError::Corrupt(format!("series {}: {e}", chunk.series_id)))?;
            if let Some((_, _, held)) = position.get(&chunk.series_id).map(|&at| &mut merged[at]) {
                held.extend(
                    samples
                        .into_iter()
                        .filter(|s| selection.contains(s.timestamp_ms)),
                );
            }
        }
        for (_, _, held) in &mut merged {
            held.sort_by_key(|s| s.timestamp_ms);
            held.dedup_by_key(|s| s.timestamp_ms);
        }
    }
    Ok(merged
        .into_iter()
        .filter(|(_, _, samples)| keep_empty || !samples.is_empty())
        .map(|(_, labels, samples)| (labels, samples))
        .collect())
}

/// Everything the given selections need.
pub(super) async fn prefetch(
    sources: &Sources,
    tenant: TenantId,
    selections: Vec<Selection>,
    max_series: usize,
) -> Result<Prefetched, ReadError> {
    let mut entries: Vec<Prefetch> = Vec::with_capacity(selections.len());
    for selection in selections {
        if let Some(entry) = entries.iter_mut().find(|e| e.selection == selection) {
            entry.readers += 1;
            continue;
        }
        let series = fetch_one(sources, tenant, &selection, max_series, false).await?;
        entries.push(Prefetch {
            selection,
            series,
            readers: 1,
        });
    }
    Ok(Prefetched {
        entries: Mutex::new(entries),
    })
}

/// Label sets of the series matching any of the selections (for `/api/v1/series`,
/// `/labels`, `/label/…/values`). With `require_samples`, only series holding samples in
/// the selection's range count; without, every indexed series does (no time range given).
pub(super) async fn matching_series(
    sources: &Sources,
    tenant: TenantId,
    selections: Vec<Selection>,
    max_series: usize,
    require_samples: bool,
) -> Result<BTreeSet<Labels>, ReadError> {
    let mut out = BTreeSet::new();
    for selection in selections {
        let series = if require_samples {
            fetch_one(sources, tenant, &selection, max_series, false).await?
        } else {
            let everything = Selection {
                start_ms: i64::MAX,
                end_ms: i64::MIN,
                ..selection
            };
            fetch_one(sources, tenant, &everything, max_series, true).await?
        };
        out.extend(series.into_iter().map(|(labels, _)| labels));
        if out.len() > max_series {
            return Err(QueryError::LimitExceeded(format!(
                "more than {max_series} series match (TIDEWATCH_QUERY_MAX_SERIES)"
            ))
            .into());
        }
    }
    Ok(out)
}
