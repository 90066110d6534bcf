//! What data a query needs ([`required_selections`]) and where it comes from
//! ([`SeriesSource`]). The engine never fetches: the caller reads these selections from its
//! store first and hands them over.

use std::time::Duration;

use promql_parser::label::{MatchOp, Matcher, Matchers};
use promql_parser::parser::{AtModifier, Expr, Offset, VectorSelector};

use crate::domain::metrics::{Labels, Sample, METRIC_NAME_LABEL};

/// One selector's data needs: series matching all `matchers`, samples with
/// `start_ms <= timestamp_ms <= end_ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    /// Label matchers, the metric name included as a `__name__` equality matcher. Regex
    /// matchers are fully anchored, as in Prometheus.
    pub matchers: Matchers,
    pub start_ms: i64,
    pub end_ms: i64,
}

impl Selection {
    /// Whether a series with these labels is selected. A missing label matches as `""`.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.matchers
            .matchers
            .iter()
            .all(|m| m.is_match(labels.get(&m.name).unwrap_or("")))
    }

    /// Whether a sample time falls in the selected range.
    pub fn contains(&self, timestamp_ms: i64) -> bool {
        (self.start_ms..=self.end_ms).contains(&timestamp_ms)
    }
}

/// Where the engine reads series from: returns the series matching `selection` with their
/// samples in the selected time range, in time order. Series without such samples may be
/// left out.
pub trait SeriesSource {
    fn select(&self, selection: &Selection) -> Vec<(Labels, Vec<Sample>)>;
}

/// Series held in memory, for tests and for callers that fetched everything up front.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InMemorySeries {
    series: Vec<(Labels, Vec<Sample>)>,
}

impl InMemorySeries {
    /// Holds `series`; samples are sorted by time here so callers need not.
    pub fn new(mut series: Vec<(Labels, Vec<Sample>)>) -> Self {
        for (_, samples) in &mut series {
            samples.sort_by_key(|s| s.timestamp_ms);
        }
        Self { series }
    }
}

impl SeriesSource for InMemorySeries {
    fn select(&self, selection: &Selection) -> Vec<(Labels, Vec<Sample>)> {
        self.series
            .iter()
            .filter(|(labels, _)| selection.matches(labels))
            .filter_map(|(labels, samples)| {
                let kept: Vec<Sample> = samples
                    .iter()
                    .filter(|s| selection.contains(s.timestamp_ms))
                    .copied()
                    .collect();
                (!kept.is_empty()).then(|| (labels.clone(), kept))
            })
            .collect()
    }
}

/// The selections needed to evaluate `expr` at every time in `[start_ms, end_ms]`, one per
/// vector or matrix selector, covering ranges, offsets, `@` and the lookback.
pub fn required_selections(
    expr: &Expr,
    start_ms: i64,
    end_ms: i64,
    lookback_ms: i64,
) -> Vec<Selection> {
    selector_windows(expr, start_ms, end_ms, lookback_ms)
        .into_iter()
        .map(|(_, selection)| selection)
        .collect()
}

/// Each selector node of `expr` with its selection, in tree order.
pub(crate) fn selector_windows(
    expr: &Expr,
    start_ms: i64,
    end_ms: i64,
    lookback_ms: i64,
) -> Vec<(&VectorSelector, Selection)> {
    let query = QueryBounds { start_ms, end_ms };
    let mut out = Vec::new();
    walk(expr, (start_ms, end_ms), query, lookback_ms, &mut out);
    out
}

/// The query's own start and end, which `@ start()` and `@ end()` refer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueryBounds {
    pub start_ms: i64,
    pub end_ms: i64,
}

fn walk<'e>(
    expr: &'e Expr,
    (min_t, max_t): (i64, i64),
    query: QueryBounds,
    lookback_ms: i64,
    out: &mut Vec<(&'e VectorSelector, Selection)>,
) {
    let shifted = |at: &Option<AtModifier>, offset: &Option<Offset>| {
        let (lo, hi) = match at_ms(at, query) {
            Some(t) => (t, t),
            None => (min_t, max_t),
        };
        let off = offset_ms(offset);
        (lo - off, hi - off)
    };
    let mut push = |vs: &'e VectorSelector, before_ms: i64| {
        let (lo, hi) = shifted(&vs.at, &vs.offset);
        out.push((
            vs,
            Selection {
                matchers: selector_matchers(vs),
                start_ms: lo - before_ms,
                end_ms: hi,
            },
        ));
    };
    match expr {
        Expr::VectorSelector(vs) => push(vs, lookback_ms),
        Expr::MatrixSelector(ms) => push(&ms.vs, duration_ms(ms.range)),
        Expr::Subquery(sq) => {
            let (lo, hi) = shifted(&sq.at, &sq.offset);
            walk(
                &sq.expr,
                (lo - duration_ms(sq.range), hi),
                query,
                lookback_ms,
                out,
            );
        }
        Expr::Aggregate(agg) => {
            if let Some(param) = &agg.param {
                walk(param, (min_t, max_t), query, lookback_ms, out);
            }
            walk(&agg.expr, (min_t, max_t), query, lookback_ms, out);
        }
        Expr::Unary(u) => walk(&u.expr, (min_t, max_t), query, lookback_ms, out),
        Expr::Paren(p) => walk(&p.expr, (min_t, max_t), query, lookback_ms, out),
        Expr::Binary(b) => {
            walk(&b.lhs, (min_t, max_t), query, lookback_ms, out);
            walk(&b.rhs, (min_t, max_t), query, lookback_ms, out);
        }
        Expr::Call(call) => {
            for arg in &call.args.args {
                walk(arg, (min_t, max_t), query, lookback_ms, out);
            }
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

/// The selector's matchers with its metric name added as a `__name__` matcher.
pub fn selector_matchers(vs: &VectorSelector) -> Matchers {
    let mut matchers = vs.matchers.clone();
    if let Some(name) = &vs.name {
        matchers
            .matchers
            .push(Matcher::new(MatchOp::Equal, METRIC_NAME_LABEL, name));
    }
    matchers
}

/// The fixed evaluation time an `@` modifier sets, if any.
pub(crate) fn at_ms(at: &Option<AtModifier>, query: QueryBounds) -> Option<i64> {
    match at {
        None => None,
        Some(AtModifier::Start) => Some(query.start_ms),
        Some(AtModifier::End) => Some(query.end_ms),
        Some(AtModifier::At(time)) => Some(match time.duration_since(std::time::UNIX_EPOCH) {
            Ok(after) => duration_ms(after),
            Err(before) => -duration_ms(before.duration()),
        }),
    }
}

/// How far back an offset moves a selector, in ms (negative offsets move forward).
pub(crate) fn offset_ms(offset: &Option<Offset>) -> i64 {
    match offset {
        None => 0,
        Some(Offset::Pos(d)) => duration_ms(*d),
        Some(Offset::Neg(d)) => -duration_ms(*d),
    }
}

pub(crate) fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promql::parse;

    fn series(name: &str, pairs: &[(&str, &str)], times: &[i64]) -> (Labels, Vec<Sample>) {
        (
            Labels::with_name(name, pairs.iter().copied()),
            times
                .iter()
                .map(|&t| Sample {
                    timestamp_ms: t,
                    value: 1.0,
                })
                .collect(),
        )
    }

    #[test]
    fn selections_cover_ranges_offsets_at_and_lookback() {
        let cases = [
            ("x", vec![(-300_000 + 1_000_000, 2_000_000)]),
            ("rate(x[1m])", vec![(940_000, 2_000_000)]),
            ("x[1m] offset 10m", vec![(340_000, 1_400_000)]),
            ("x offset -1m", vec![(760_000, 2_060_000)]),
            ("x @ 100", vec![(-200_000, 100_000)]),
            ("x[5m] @ end()", vec![(1_700_000, 2_000_000)]),
            (
                "sum(x) + rate(y[2m] @ start())",
                vec![(700_000, 2_000_000), (880_000, 1_000_000)],
            ),
            ("max_over_time(x[10m:1m])", vec![(100_000, 2_000_000)]),
            ("1 + 2", vec![]),
        ];
        for (query, expected) in cases {
            let expr = parse(query).expect("valid query");
            let got: Vec<(i64, i64)> = required_selections(&expr, 1_000_000, 2_000_000, 300_000)
                .iter()
                .map(|s| (s.start_ms, s.end_ms))
                .collect();
            assert_eq!(got, expected, "{query}");
        }
    }

    #[test]
    fn in_memory_series_filter_by_matchers_and_time() {
        let source = InMemorySeries::new(vec![
            series("up", &[("job", "api")], &[10, 20, 30]),
            series("up", &[("job", "db")], &[10]),
            series("up", &[], &[10]),
            series("down", &[("job", "api")], &[10]),
        ]);
        let cases = [
            (r#"up{job="api"}"#, 0, 100, vec!["up{job=\"api\"}"]),
            (r#"up{job!="api"}"#, 0, 100, vec!["up{job=\"db\"}", "up"]),
            (r#"up{job=~"a.*"}"#, 0, 100, vec!["up{job=\"api\"}"]),
            // Anchored: "p" alone does not match "api".
            (r#"up{job=~"p"}"#, 0, 100, vec![]),
            (r#"up{job!~"api|db"}"#, 0, 100, vec!["up"]),
            (r#"up{job=""}"#, 0, 100, vec!["up"]),
            (
                r#"{job="api"}"#,
                0,
                100,
                vec!["up{job=\"api\"}", "down{job=\"api\"}"],
            ),
            (r#"up{job="api"}"#, 15, 25, vec!["up{job=\"api\"}"]),
            (r#"up{job="db"}"#, 11, 100, vec![]),
        ];
        for (query, start, end, expected) in cases {
            let Ok(Expr::VectorSelector(vs)) = parse(query) else {
                panic!("{query} is a selector");
            };
            let selection = Selection {
                matchers: selector_matchers(&vs),
                start_ms: start,
                end_ms: end,
            };
            let got = source.select(&selection);
            let names: Vec<String> = got.iter().map(|(l, _)| l.to_string()).collect();
            assert_eq!(names, expected, "{query}");
            if query == r#"up{job="api"}"# && start == 15 {
                assert_eq!(got[0].1.len(), 1, "only the sample at 20 is in range");
            }
        }
    }
}
