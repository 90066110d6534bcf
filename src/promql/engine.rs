//! The evaluator: fetches each selector's data once, then evaluates the expression tree
//! at every step, as Prometheus's `rangeEval` does.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use promql_parser::parser::value::ValueType;
use promql_parser::parser::{AggregateExpr, Expr, MatrixSelector, VectorSelector};

use super::selection::{at_ms, duration_ms, offset_ms, selector_windows, QueryBounds};
use super::support::check_supported;
use super::value::{InstantSample, QueryValue, RangeSeries};
use super::{aggregate, binary, functions, numeric, QueryError, SeriesSource};
use crate::domain::metrics::{Labels, Sample};

/// Bounds on one query's cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryLimits {
    /// Steps a range query may produce per series (Prometheus: 11,000).
    pub max_points_per_series: usize,
    /// Series all selectors of one query may select together.
    pub max_series: usize,
    /// Wall-clock budget for one evaluation, checked at every step.
    pub timeout: Duration,
    /// How far back an instant selector looks for the latest sample (Prometheus: 5m).
    pub lookback_ms: i64,
}

impl Default for QueryLimits {
    fn default() -> Self {
        Self {
            max_points_per_series: 11_000,
            max_series: 50_000,
            timeout: Duration::from_secs(30),
            lookback_ms: 300_000,
        }
    }
}

/// What is wrong with a range query's start, end and step ([`Engine::range_problem`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeProblem {
    NonPositiveStep,
    EndBeforeStart,
    TooManyPoints { max_points: usize },
}

impl RangeProblem {
    /// The request parameter at fault, for APIs that name it (`invalid parameter "step"`).
    pub fn parameter(self) -> Option<&'static str> {
        match self {
            Self::NonPositiveStep => Some("step"),
            Self::EndBeforeStart => Some("end"),
            Self::TooManyPoints { .. } => None,
        }
    }

    /// The error, naming the parameter at fault as Prometheus' HTTP API does.
    pub fn naming_parameter(self) -> QueryError {
        match (self.parameter(), QueryError::from(self)) {
            (Some(name), QueryError::BadData(message)) => {
                QueryError::BadData(format!("invalid parameter {name:?}: {message}"))
            }
            (_, error) => error,
        }
    }
}

impl From<RangeProblem> for QueryError {
    fn from(problem: RangeProblem) -> Self {
        match problem {
            RangeProblem::NonPositiveStep => QueryError::BadData(
                "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
            ),
            RangeProblem::EndBeforeStart => {
                QueryError::BadData("end timestamp must not be before start time".into())
            }
            RangeProblem::TooManyPoints { max_points } => QueryError::LimitExceeded(format!(
                "exceeded maximum resolution of {} points per timeseries. Try decreasing the query resolution (?step=XX)",
                thousands(max_points)
            )),
        }
    }
}

/// Evaluates parsed PromQL against series a caller fetched. Pure and synchronous.
#[derive(Debug, Clone)]
pub struct Engine {
    limits: QueryLimits,
}

/// A series as selected: labels and its samples in time order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    pub labels: Labels,
    /// `labels` without `__name__`, computed once: range functions output it every step.
    pub unnamed: Labels,
    pub samples: Vec<Sample>,
}

/// One element of an instant vector during evaluation (its time is the step's).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct VectorSample {
    pub labels: Labels,
    pub value: f64,
}

/// The value of an expression at one step.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StepValue {
    Scalar(f64),
    Str(String),
    Vector(Vec<VectorSample>),
    Matrix(Vec<Series>),
}

impl Engine {
    pub fn new(limits: QueryLimits) -> Self {
        Self { limits }
    }

    pub fn limits(&self) -> &QueryLimits {
        &self.limits
    }

    /// Evaluates `expr` at `time_ms` (Prometheus `/api/v1/query`).
    pub fn instant(
        &self,
        expr: &Expr,
        time_ms: i64,
        source: &dyn SeriesSource,
    ) -> Result<QueryValue, QueryError> {
        let evaluator = self.prepare(expr, time_ms, time_ms, source)?;
        evaluator.check_deadline()?;
        Ok(match evaluator.eval(expr, time_ms)? {
            StepValue::Scalar(value) => QueryValue::Scalar {
                timestamp_ms: time_ms,
                value,
            },
            StepValue::Str(value) => QueryValue::String {
                timestamp_ms: time_ms,
                value,
            },
            StepValue::Vector(samples) => QueryValue::Vector(
                samples
                    .into_iter()
                    .map(|s| InstantSample {
                        labels: s.labels,
                        timestamp_ms: time_ms,
                        value: s.value,
                    })
                    .collect(),
            ),
            StepValue::Matrix(series) => QueryValue::Matrix(
                series
                    .into_iter()
                    .map(|s| RangeSeries {
                        labels: s.labels,
                        samples: s.samples,
                    })
                    .collect(),
            ),
        })
    }

    /// The rule for a range query's shape, Prometheus' own: a positive step, `end` not
    /// before `start`, and at most `max_points_per_series` steps after the first
    /// (`(end - start) / step > max` is refused). Callers check it before fetching.
    pub fn range_problem(&self, start_ms: i64, end_ms: i64, step_ms: i64) -> Option<RangeProblem> {
        if step_ms <= 0 {
            return Some(RangeProblem::NonPositiveStep);
        }
        if end_ms < start_ms {
            return Some(RangeProblem::EndBeforeStart);
        }
        let max_points = self.limits.max_points_per_series;
        if usize::try_from((end_ms - start_ms) / step_ms).map_or(true, |n| n > max_points) {
            return Some(RangeProblem::TooManyPoints { max_points });
        }
        None
    }

    /// Evaluates `expr` at `start_ms`, `start_ms + step_ms`, … up to `end_ms`
    /// (Prometheus `/api/v1/query_range`); series are sorted by labels.
    pub fn range(
        &self,
        expr: &Expr,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        source: &dyn SeriesSource,
    ) -> Result<QueryValue, QueryError> {
        if let Some(problem) = self.range_problem(start_ms, end_ms, step_ms) {
            return Err(problem.into());
        }
        match expr.value_type() {
            ValueType::Scalar | ValueType::Vector => {}
            other => {
                let name = if other == ValueType::Matrix {
                    "range vector"
                } else {
                    "string"
                };
                return Err(QueryError::BadData(format!(
                    "invalid expression type \"{name}\" for range query, must be Scalar or instant Vector"
                )));
            }
        }
        let mut evaluator = self.prepare(expr, start_ms, end_ms, source)?;
        evaluator.steps = Some(StepGrid {
            start_ms,
            step_ms,
            count: usize::try_from((end_ms - start_ms) / step_ms).unwrap_or(0) + 1,
        });
        let mut index: HashMap<Labels, usize> = HashMap::new();
        let mut result: Vec<RangeSeries> = Vec::new();
        let mut add = |labels: Labels, timestamp_ms: i64, value: f64| {
            let at = *index.entry(labels.clone()).or_insert_with(|| {
                result.push(RangeSeries {
                    labels,
                    samples: Vec::new(),
                });
                result.len() - 1
            });
            result[at].samples.push(Sample {
                timestamp_ms,
                value,
            });
        };
        let mut ts = start_ms;
        while ts <= end_ms {
            evaluator.check_deadline()?;
            match evaluator.eval(expr, ts)? {
                StepValue::Scalar(value) => add(Labels::default(), ts, value),
                StepValue::Vector(samples) => {
                    for s in samples {
                        add(s.labels, ts, s.value);
                    }
                }
                StepValue::Str(_) | StepValue::Matrix(_) => {
                    return Err(QueryError::BadData(
                        "range queries need a scalar or instant vector expression".into(),
                    ))
                }
            }
            ts += step_ms;
        }
        result.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(QueryValue::Matrix(result))
    }

    /// Checks support, then fetches every selector's data for the whole query.
    fn prepare(
        &self,
        expr: &Expr,
        start_ms: i64,
        end_ms: i64,
        source: &dyn SeriesSource,
    ) -> Result<Evaluator, QueryError> {
        check_supported(expr)?;
        let deadline = Instant::now() + self.limits.timeout;
        let mut data = HashMap::new();
        let mut selected = 0usize;
        for (vs, selection) in selector_windows(expr, start_ms, end_ms, self.limits.lookback_ms) {
            let mut series: Vec<Series> = source
                .select(&selection)
                .into_iter()
                .map(|(labels, mut samples)| {
                    samples.retain(|s| selection.contains(s.timestamp_ms));
                    samples.sort_by_key(|s| s.timestamp_ms);
                    Series {
                        unnamed: labels.without_name(),
                        labels,
                        samples,
                    }
                })
                .filter(|s| !s.samples.is_empty())
                .collect();
            selected += series.len();
            if selected > self.limits.max_series {
                return Err(QueryError::LimitExceeded(format!(
                    "the query selects more than max_series={} series; narrow the selectors",
                    self.limits.max_series
                )));
            }
            series.sort_by(|a, b| a.labels.cmp(&b.labels));
            data.insert(vs as *const VectorSelector, series);
        }
        Ok(Evaluator {
            query: QueryBounds { start_ms, end_ms },
            lookback_ms: self.limits.lookback_ms,
            data,
            deadline,
            steps: None,
            precomputed: RefCell::new(HashMap::new()),
            group_keys: RefCell::new(HashMap::new()),
        })
    }
}

/// `11000` → `11,000`, as Prometheus words its resolution limit.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Evaluation state for one query: its bounds and every selector's pre-fetched series,
/// keyed by the selector node's address in the expression tree being evaluated.
pub(crate) struct Evaluator {
    query: QueryBounds,
    lookback_ms: i64,
    data: HashMap<*const VectorSelector, Vec<Series>>,
    deadline: Instant,
    /// The steps of a range query (`None` for an instant query).
    pub(crate) steps: Option<StepGrid>,
    /// Range-function results computed for every step at once, series by series, keyed by
    /// the function's range selector; each step's vector is taken out when it is evaluated.
    pub(crate) precomputed: RefCell<HashMap<*const MatrixSelector, Vec<Option<Vec<VectorSample>>>>>,
    /// Each aggregation node's group keys, remembered across steps.
    pub(crate) group_keys: RefCell<HashMap<*const AggregateExpr, aggregate::GroupKeys>>,
}

/// `start_ms`, `start_ms + step_ms`, … `count` steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StepGrid {
    pub start_ms: i64,
    pub step_ms: i64,
    pub count: usize,
}

impl StepGrid {
    pub(crate) fn times(self) -> impl Iterator<Item = i64> {
        (0..self.count).map(move |i| self.start_ms + i as i64 * self.step_ms)
    }

    /// The index of step `ts`, if it is one of the grid's.
    pub(crate) fn index_of(self, ts: i64) -> Option<usize> {
        let offset = ts.checked_sub(self.start_ms)?;
        if offset < 0 || offset % self.step_ms != 0 {
            return None;
        }
        usize::try_from(offset / self.step_ms)
            .ok()
            .filter(|&i| i < self.count)
    }
}

impl Evaluator {
    pub(crate) fn check_deadline(&self) -> Result<(), QueryError> {
        if Instant::now() > self.deadline {
            Err(QueryError::Timeout)
        } else {
            Ok(())
        }
    }

    /// The value of `expr` at step `ts`.
    pub(crate) fn eval(&self, expr: &Expr, ts: i64) -> Result<StepValue, QueryError> {
        match expr {
            Expr::NumberLiteral(n) => Ok(StepValue::Scalar(n.val)),
            Expr::StringLiteral(s) => Ok(StepValue::Str(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, ts),
            Expr::Unary(u) => match self.eval(&u.expr, ts)? {
                StepValue::Scalar(v) => Ok(StepValue::Scalar(-v)),
                StepValue::Vector(samples) => {
                    let negated: Vec<VectorSample> = samples
                        .into_iter()
                        .map(|s| VectorSample {
                            labels: s.labels.without_name(),
                            value: -s.value,
                        })
                        .collect();
                    ensure_unique(&negated)?;
                    Ok(StepValue::Vector(negated))
                }
                _ => Err(QueryError::BadData(
                    "unary minus only applies to scalars and instant vectors".into(),
                )),
            },
            Expr::VectorSelector(vs) => Ok(StepValue::Vector(self.instant_vector(vs, ts))),
            Expr::MatrixSelector(ms) => Ok(StepValue::Matrix(
                self.series(&ms.vs)
                    .iter()
                    .filter_map(|s| {
                        let samples = self.window(ms, s, ts);
                        (!samples.is_empty()).then(|| Series {
                            labels: s.labels.clone(),
                            unnamed: s.unnamed.clone(),
                            samples,
                        })
                    })
                    .collect(),
            )),
            Expr::Call(call) => functions::eval_call(self, call, ts),
            Expr::Aggregate(agg) => aggregate::eval(self, agg, ts),
            Expr::Binary(b) => binary::eval(self, b, ts),
            Expr::Subquery(_) => Err(QueryError::Unsupported("subqueries".into())),
            Expr::Extension(_) => Err(QueryError::Unsupported("extension expressions".into())),
        }
    }

    /// `expr` at `ts` as a scalar; the parser has already checked the type.
    pub(crate) fn eval_scalar(&self, expr: &Expr, ts: i64) -> Result<f64, QueryError> {
        match self.eval(expr, ts)? {
            StepValue::Scalar(v) => Ok(v),
            other => Err(type_error("scalar", &other)),
        }
    }

    /// `expr` at `ts` as an instant vector; the parser has already checked the type.
    pub(crate) fn eval_vector(
        &self,
        expr: &Expr,
        ts: i64,
    ) -> Result<Vec<VectorSample>, QueryError> {
        match self.eval(expr, ts)? {
            StepValue::Vector(v) => Ok(v),
            other => Err(type_error("instant vector", &other)),
        }
    }

    /// The series a selector selected for this query.
    pub(crate) fn series(&self, vs: &VectorSelector) -> &[Series] {
        self.data
            .get(&(vs as *const VectorSelector))
            .map_or(&[], Vec::as_slice)
    }

    /// The time a selector reads at for step `ts`: its `@` time or `ts`, minus its offset.
    pub(crate) fn reference_time(&self, vs: &VectorSelector, ts: i64) -> i64 {
        at_ms(&vs.at, self.query).unwrap_or(ts) - offset_ms(&vs.offset)
    }

    /// Latest sample of each series in `[t - lookback, t]`, unless it is a staleness marker.
    fn instant_vector(&self, vs: &VectorSelector, ts: i64) -> Vec<VectorSample> {
        let t = self.reference_time(vs, ts);
        self.series(vs)
            .iter()
            .filter_map(|s| {
                let upto = s.samples.partition_point(|p| p.timestamp_ms <= t);
                let latest = s.samples[..upto].last()?;
                (latest.timestamp_ms >= t - self.lookback_ms
                    && !numeric::is_stale_nan(latest.value))
                .then(|| VectorSample {
                    labels: s.labels.clone(),
                    value: latest.value,
                })
            })
            .collect()
    }

    /// A series' samples in the range selector's window `[t - range, t]` at step `ts`,
    /// staleness markers left out.
    pub(crate) fn window(&self, ms: &MatrixSelector, series: &Series, ts: i64) -> Vec<Sample> {
        let end = self.reference_time(&ms.vs, ts);
        let start = end - duration_ms(ms.range);
        let from = series.samples.partition_point(|p| p.timestamp_ms < start);
        let to = series.samples.partition_point(|p| p.timestamp_ms <= end);
        series.samples[from..to.max(from)]
            .iter()
            .filter(|p| !numeric::is_stale_nan(p.value))
            .copied()
            .collect()
    }
}

fn type_error(expected: &str, got: &StepValue) -> QueryError {
    let got = match got {
        StepValue::Scalar(_) => "scalar",
        StepValue::Str(_) => "string",
        StepValue::Vector(_) => "instant vector",
        StepValue::Matrix(_) => "range vector",
    };
    QueryError::BadData(format!("expected {expected}, got {got}"))
}

/// Prometheus refuses a vector in which two elements have the same labels, which happens
/// when dropping the metric name makes two series identical.
pub(crate) fn ensure_unique(samples: &[VectorSample]) -> Result<(), QueryError> {
    let mut seen = HashSet::with_capacity(samples.len());
    if samples.iter().all(|s| seen.insert(&s.labels)) {
        Ok(())
    } else {
        Err(QueryError::Execution(
            "vector cannot contain metrics with the same labelset".into(),
        ))
    }
}
