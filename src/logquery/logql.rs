//! The LogQL subset Grafana's Loki data source sends, over Tidewatch's records:
//!
//! - stream selectors `{app="api", env!="dev", host=~"web-.*", job!~"x|y"}` over a
//!   record's stream labels plus `service_name` (its service) and `host`;
//! - line filters `|= "text"`, `!= "text"`, `|~ "regex"`, `!~ "regex"` on the line (the
//!   message);
//! - parsers `| json` (nested keys joined with `_`, as Loki does) and `| logfmt`, whose
//!   keys become labels;
//! - label filters `| status >= 500`, `| level="error"`, `| path=~"/api/.*"` over stream
//!   labels, structured metadata (the record's fields) and parsed labels;
//! - `| line_format "{{.msg}} took {{.duration}}"` (field references only);
//! - metric queries `count_over_time`, `rate`, `bytes_over_time`, `bytes_rate` over a
//!   range, and `sum`, `count`, `avg`, `max`, `min` (with `by`/`without`) and `topk`.
//!
//! Anything else is refused, naming what is not supported. Pure.

use std::collections::BTreeMap;

use crate::domain::logs::{for_each_token, pair_hash, scalar_text, token_hash, MAX_TOKEN_CHARS};

use super::{BlockHints, CompareOp, QueryError, RecordView, ALL_LEVELS};

const MAX_REGEX_BYTES: usize = 1 << 20;

fn error<T>(position: usize, message: impl Into<String>) -> Result<T, QueryError> {
    Err(QueryError {
        position,
        message: message.into(),
    })
}

#[derive(Debug, Clone)]
pub enum Query {
    Logs(LogQuery),
    Metric(MetricExpr),
}

#[derive(Debug, Clone)]
pub struct LogQuery {
    pub matchers: Vec<LabelMatcher>,
    pub stages: Vec<Stage>,
}

#[derive(Debug, Clone)]
pub struct LabelMatcher {
    pub name: String,
    pub op: MatchOp,
}

#[derive(Debug, Clone)]
pub enum MatchOp {
    Eq(String),
    Ne(String),
    Re(regex::Regex),
    NotRe(regex::Regex),
}

impl MatchOp {
    fn matches(&self, value: Option<&str>) -> bool {
        let value = value.unwrap_or("");
        match self {
            MatchOp::Eq(v) => value == v,
            MatchOp::Ne(v) => value != v,
            MatchOp::Re(re) => re.is_match(value),
            MatchOp::NotRe(re) => !re.is_match(value),
        }
    }
}

#[derive(Debug, Clone)]
pub enum Stage {
    LineContains(String),
    LineNotContains(String),
    LineMatches(regex::Regex),
    LineNotMatches(regex::Regex),
    Json,
    Logfmt,
    LabelFilter(LabelFilter),
    LineFormat(Vec<TemplatePart>),
}

#[derive(Debug, Clone)]
pub enum LabelFilter {
    Text {
        name: String,
        op: MatchOp,
    },
    Number {
        name: String,
        op: CompareOp,
        value: f64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplatePart {
    Text(String),
    Field(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeFunction {
    CountOverTime,
    Rate,
    BytesOverTime,
    BytesRate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregation {
    Sum,
    Count,
    Avg,
    Max,
    Min,
    Topk(usize),
}

#[derive(Debug, Clone)]
pub enum MetricExpr {
    Range {
        function: RangeFunction,
        query: LogQuery,
        range_ns: i64,
    },
    Aggregate {
        aggregation: Aggregation,
        /// `(without, labels)`: `by (a, b)` is `(false, [a, b])`.
        grouping: Option<(bool, Vec<String>)>,
        inner: Box<MetricExpr>,
    },
}

impl MetricExpr {
    /// The log query under the range function.
    pub fn log_query(&self) -> (&LogQuery, i64) {
        match self {
            MetricExpr::Range {
                query, range_ns, ..
            } => (query, *range_ns),
            MetricExpr::Aggregate { inner, .. } => inner.log_query(),
        }
    }
}

/// A record after the pipeline: its labels (stream, metadata and parsed) and its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Processed {
    pub labels: BTreeMap<String, String>,
    pub line: String,
}

/// A record's stream labels as Loki shows them: its labels, plus `service_name` and
/// `host` when it has them.
pub fn stream_labels(record: &dyn RecordView) -> BTreeMap<String, String> {
    let mut out = record.labels().clone();
    if !record.service().is_empty() {
        out.entry("service_name".into())
            .or_insert_with(|| record.service().to_owned());
    }
    if !record.host().is_empty() {
        out.entry("host".into())
            .or_insert_with(|| record.host().to_owned());
    }
    out
}

fn stream_label<'a>(record: &'a dyn RecordView, name: &str) -> Option<&'a str> {
    match record.label(name) {
        Some(v) => Some(v),
        None => match name {
            "service_name" => Some(record.service()).filter(|s| !s.is_empty()),
            "host" => Some(record.host()).filter(|s| !s.is_empty()),
            _ => None,
        },
    }
}

impl LogQuery {
    /// Whether the stream selector and every line filter accept the record (cheap; no
    /// parsing). The label stages need [`LogQuery::process`].
    pub fn selects(&self, record: &dyn RecordView) -> bool {
        self.matchers
            .iter()
            .all(|m| m.op.matches(stream_label(record, &m.name)))
    }

    fn has_label_stages(&self) -> bool {
        self.stages.iter().any(|s| {
            matches!(
                s,
                Stage::Json | Stage::Logfmt | Stage::LabelFilter(_) | Stage::LineFormat(_)
            )
        })
    }

    /// Runs the pipeline: `None` when a stage drops the record.
    pub fn process(&self, record: &dyn RecordView) -> Option<Processed> {
        if !self.selects(record) {
            return None;
        }
        let mut line: std::borrow::Cow<'_, str> = std::borrow::Cow::Borrowed(record.message());
        let mut extracted: Option<BTreeMap<String, String>> = None;
        for stage in &self.stages {
            match stage {
                Stage::LineContains(text) => {
                    if !line.contains(text.as_str()) {
                        return None;
                    }
                }
                Stage::LineNotContains(text) => {
                    if line.contains(text.as_str()) {
                        return None;
                    }
                }
                Stage::LineMatches(re) => {
                    if !re.is_match(&line) {
                        return None;
                    }
                }
                Stage::LineNotMatches(re) => {
                    if re.is_match(&line) {
                        return None;
                    }
                }
                Stage::Json | Stage::Logfmt | Stage::LabelFilter(_) | Stage::LineFormat(_) => {
                    let all = extracted.get_or_insert_with(|| {
                        let mut all = stream_labels(record);
                        for (k, v) in record_fields(record) {
                            all.entry(k).or_insert(v);
                        }
                        all
                    });
                    match stage {
                        Stage::Json => match serde_json::from_str::<serde_json::Value>(&line) {
                            Ok(serde_json::Value::Object(map)) => {
                                json_labels(all, String::new(), map, 0)
                            }
                            _ => {
                                all.insert("__error__".into(), "JSONParserErr".into());
                            }
                        },
                        Stage::Logfmt => match crate::ingest::logs::normalise::logfmt(&line) {
                            Some(pairs) => {
                                for (k, v) in pairs {
                                    all.insert(sanitise(&k), v);
                                }
                            }
                            None => {
                                all.insert("__error__".into(), "LogfmtParserErr".into());
                            }
                        },
                        Stage::LabelFilter(filter) => {
                            if !filter.accepts(all) {
                                return None;
                            }
                        }
                        Stage::LineFormat(parts) => {
                            let mut out = String::new();
                            for part in parts {
                                match part {
                                    TemplatePart::Text(t) => out.push_str(t),
                                    TemplatePart::Field(f) => {
                                        out.push_str(all.get(f).map_or("", String::as_str))
                                    }
                                }
                            }
                            line = std::borrow::Cow::Owned(out);
                        }
                        _ => unreachable!("matched above"),
                    }
                }
            }
        }
        let labels = extracted.unwrap_or_else(|| stream_labels(record));
        Some(Processed {
            labels,
            line: line.into_owned(),
        })
    }

    /// What a block must hold for a record to pass: the pairs of equality matchers and
    /// the whole words of `|=` filters.
    pub fn block_hints(&self) -> BlockHints {
        let mut required = Vec::new();
        for m in &self.matchers {
            if let MatchOp::Eq(value) = &m.op {
                if value.is_empty() {
                    continue;
                }
                let name = if m.name == "service_name" {
                    "service"
                } else {
                    m.name.as_str()
                };
                required.push(pair_hash(name, value));
            }
        }
        for stage in &self.stages {
            if let Stage::LineContains(text) = stage {
                required.extend(inner_tokens(text).into_iter().map(|t| token_hash(&t)));
            }
        }
        BlockHints {
            required,
            level_mask: ALL_LEVELS,
            needs_streams: true,
            needs_messages: true,
            needs_fields: self.has_label_stages(),
        }
    }
}

impl super::RecordFilter for LogQuery {
    fn matches(&self, record: &dyn RecordView) -> bool {
        self.process(record).is_some()
    }

    fn block_hints(&self) -> BlockHints {
        LogQuery::block_hints(self)
    }
}

fn record_fields(record: &dyn RecordView) -> Vec<(String, String)> {
    record
        .fields()
        .iter()
        .filter_map(|(k, v)| scalar_text(v).map(|t| (sanitise(k), t.into_owned())))
        .collect()
}

/// Loki's label names: letters, digits and `_`.
fn sanitise(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn json_labels(
    out: &mut BTreeMap<String, String>,
    prefix: String,
    map: serde_json::Map<String, serde_json::Value>,
    depth: usize,
) {
    for (key, value) in map {
        let name = if prefix.is_empty() {
            sanitise(&key)
        } else {
            format!("{prefix}_{}", sanitise(&key))
        };
        match value {
            serde_json::Value::Object(inner) if depth < 16 => {
                json_labels(out, name, inner, depth + 1)
            }
            serde_json::Value::String(s) => {
                out.insert(name, s);
            }
            serde_json::Value::Null => {}
            other => {
                out.insert(name, other.to_string());
            }
        }
    }
}

/// The words of `text` bounded on both sides within it (a substring filter may start or
/// end inside a word of the line, so only these are sure to be whole words there).
fn inner_tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut spans = Vec::new();
    for_each_token(text, |t| {
        let start = t.as_ptr() as usize - text.as_ptr() as usize;
        spans.push((start, start + t.len(), t.chars().count()));
    });
    for (start, end, chars) in spans {
        if start > 0 && end < text.len() && chars < MAX_TOKEN_CHARS {
            out.push(text[start..end].to_owned());
        }
    }
    out
}

impl LabelFilter {
    fn accepts(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            LabelFilter::Text { name, op } => op.matches(labels.get(name).map(String::as_str)),
            LabelFilter::Number { name, op, value } => labels
                .get(name)
                .and_then(|v| v.trim().parse::<f64>().ok())
                .is_some_and(|v| op.holds(v, *value)),
        }
    }
}

/// Parses a LogQL query of the supported subset.
pub fn parse(text: &str) -> Result<Query, QueryError> {
    if text.len() > super::MAX_QUERY_BYTES {
        return error(
            0,
            format!(
                "the query is {} bytes; at most {} are allowed",
                text.len(),
                super::MAX_QUERY_BYTES
            ),
        );
    }
    let mut p = Cursor { text, at: 0 };
    p.skip_space();
    let query = if p.peek() == Some('{') {
        Query::Logs(p.log_query()?)
    } else {
        Query::Metric(p.metric(0)?)
    };
    p.skip_space();
    if p.at < text.len() {
        return error(
            p.at,
            format!(
                "unexpected {:?}",
                &text[p.at..].chars().take(20).collect::<String>()
            ),
        );
    }
    Ok(query)
}

struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.at..].chars().next()
    }

    fn rest(&self) -> &str {
        &self.text[self.at..]
    }

    fn skip_space(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_whitespace() {
                self.at += c.len_utf8();
            } else {
                break;
            }
        }
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_space();
        if self.rest().starts_with(token) {
            self.at += token.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, token: &str) -> Result<(), QueryError> {
        if self.eat(token) {
            Ok(())
        } else {
            error(self.at, format!("'{token}' expected"))
        }
    }

    fn identifier(&mut self) -> Result<String, QueryError> {
        self.skip_space();
        let start = self.at;
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '_' || (c == '.' && self.at > start) {
                self.at += 1;
            } else {
                break;
            }
        }
        if self.at == start {
            return error(start, "a name expected");
        }
        Ok(self.text[start..self.at].to_owned())
    }

    fn string(&mut self) -> Result<String, QueryError> {
        self.skip_space();
        let start = self.at;
        match self.peek() {
            Some('`') => {
                let rest = &self.text[self.at + 1..];
                let Some(end) = rest.find('`') else {
                    return error(start, "unterminated `string`");
                };
                self.at += end + 2;
                Ok(rest[..end].to_owned())
            }
            Some('"') => {
                let mut out = String::new();
                let mut chars = self.text[self.at + 1..].char_indices();
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => match chars.next() {
                            Some((_, 'n')) => out.push('\n'),
                            Some((_, 't')) => out.push('\t'),
                            Some((_, other)) => out.push(other),
                            None => break,
                        },
                        '"' => {
                            self.at += i + 2;
                            return Ok(out);
                        }
                        other => out.push(other),
                    }
                }
                error(start, "unterminated \"string\"")
            }
            _ => error(start, "a quoted string expected"),
        }
    }

    fn regex(&mut self) -> Result<regex::Regex, QueryError> {
        let start = self.at;
        let pattern = self.string()?;
        regex::RegexBuilder::new(&pattern)
            .size_limit(MAX_REGEX_BYTES)
            .dfa_size_limit(MAX_REGEX_BYTES)
            .build()
            .or_else(|e| error(start, format!("invalid regular expression: {e}")))
    }

    fn anchored_regex(&mut self) -> Result<regex::Regex, QueryError> {
        let start = self.at;
        let pattern = self.string()?;
        regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
            .size_limit(MAX_REGEX_BYTES)
            .dfa_size_limit(MAX_REGEX_BYTES)
            .build()
            .or_else(|e| error(start, format!("invalid regular expression: {e}")))
    }

    fn log_query(&mut self) -> Result<LogQuery, QueryError> {
        self.expect("{")?;
        let mut matchers = Vec::new();
        if !self.eat("}") {
            loop {
                let name = self.identifier()?;
                self.skip_space();
                let op = if self.eat("=~") {
                    MatchOp::Re(self.anchored_regex()?)
                } else if self.eat("!~") {
                    MatchOp::NotRe(self.anchored_regex()?)
                } else if self.eat("!=") {
                    MatchOp::Ne(self.string()?)
                } else if self.eat("=") {
                    MatchOp::Eq(self.string()?)
                } else {
                    return error(self.at, "=, !=, =~ or !~ expected");
                };
                matchers.push(LabelMatcher { name, op });
                if self.eat(",") {
                    continue;
                }
                self.expect("}")?;
                break;
            }
        }
        let mut stages = Vec::new();
        loop {
            self.skip_space();
            let at = self.at;
            if self.eat("|=") {
                stages.push(Stage::LineContains(self.string()?));
            } else if self.eat("!=") {
                stages.push(Stage::LineNotContains(self.string()?));
            } else if self.eat("|~") {
                stages.push(Stage::LineMatches(self.regex()?));
            } else if self.eat("!~") {
                stages.push(Stage::LineNotMatches(self.regex()?));
            } else if self.eat("|") {
                let word_at = self.at;
                self.skip_space();
                let word = self.identifier()?;
                match word.as_str() {
                    "json" => stages.push(Stage::Json),
                    "logfmt" => stages.push(Stage::Logfmt),
                    "line_format" => stages.push(Stage::LineFormat(template(&self.string()?, word_at)?)),
                    "label_format" | "unwrap" | "pattern" | "regexp" | "unpack" | "decolorize" | "drop" | "keep" | "distinct" => {
                        return error(word_at, format!("unsupported: the {word} stage (Tidewatch answers stream selectors, line filters, json, logfmt, label filters and line_format)"))
                    }
                    _ => stages.push(Stage::LabelFilter(self.label_filter(word)?)),
                }
            } else {
                let _ = at;
                break;
            }
        }
        Ok(LogQuery { matchers, stages })
    }

    fn label_filter(&mut self, name: String) -> Result<LabelFilter, QueryError> {
        self.skip_space();
        for (symbol, op) in [
            (">=", CompareOp::Ge),
            ("<=", CompareOp::Le),
            ("==", CompareOp::Eq),
            (">", CompareOp::Gt),
            ("<", CompareOp::Lt),
        ] {
            if self.eat(symbol) {
                return Ok(LabelFilter::Number {
                    name,
                    op,
                    value: self.number()?,
                });
            }
        }
        let op = if self.eat("=~") {
            MatchOp::Re(self.anchored_regex()?)
        } else if self.eat("!~") {
            MatchOp::NotRe(self.anchored_regex()?)
        } else if self.eat("!=") {
            self.skip_space();
            if matches!(self.peek(), Some('"') | Some('`')) {
                MatchOp::Ne(self.string()?)
            } else {
                return Ok(LabelFilter::Number {
                    name,
                    op: CompareOp::Ne,
                    value: self.number()?,
                });
            }
        } else if self.eat("=") {
            MatchOp::Eq(self.string()?)
        } else {
            return error(self.at, format!("a comparison expected after label {name}"));
        };
        Ok(LabelFilter::Text { name, op })
    }

    fn number(&mut self) -> Result<f64, QueryError> {
        self.skip_space();
        let start = self.at;
        while let Some(c) = self.peek() {
            if c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E') {
                self.at += 1;
            } else {
                break;
            }
        }
        self.text[start..self.at]
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .map_or_else(
                || {
                    error(
                        start,
                        "a number expected (durations and byte sizes are not supported)",
                    )
                },
                Ok,
            )
    }

    fn duration(&mut self) -> Result<i64, QueryError> {
        self.skip_space();
        let start = self.at;
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() {
                self.at += 1;
            } else {
                break;
            }
        }
        let text = &self.text[start..self.at];
        crate::promql::parse_duration(text, "range")
            .ok()
            .filter(|ms| *ms > 0)
            .map(|ms| ms.saturating_mul(1_000_000))
            .map_or_else(|| error(start, format!("{text:?} is not a duration")), Ok)
    }

    fn grouping(&mut self) -> Result<Option<(bool, Vec<String>)>, QueryError> {
        let without = if self.eat("by") {
            false
        } else if self.eat("without") {
            true
        } else {
            return Ok(None);
        };
        self.expect("(")?;
        let mut labels = Vec::new();
        if !self.eat(")") {
            loop {
                labels.push(self.identifier()?);
                if self.eat(",") {
                    continue;
                }
                self.expect(")")?;
                break;
            }
        }
        Ok(Some((without, labels)))
    }

    fn metric(&mut self, depth: usize) -> Result<MetricExpr, QueryError> {
        if depth > super::MAX_DEPTH {
            return error(self.at, "nested too deep");
        }
        self.skip_space();
        let at = self.at;
        let name = self.identifier()?;
        let function = match name.as_str() {
            "count_over_time" => Some(RangeFunction::CountOverTime),
            "rate" => Some(RangeFunction::Rate),
            "bytes_over_time" => Some(RangeFunction::BytesOverTime),
            "bytes_rate" => Some(RangeFunction::BytesRate),
            _ => None,
        };
        if let Some(function) = function {
            self.expect("(")?;
            let query = self.log_query()?;
            self.expect("[")?;
            let range_ns = self.duration()?;
            self.expect("]")?;
            self.expect(")")?;
            return Ok(MetricExpr::Range {
                function,
                query,
                range_ns,
            });
        }
        let aggregation = match name.as_str() {
            "sum" => Aggregation::Sum,
            "count" => Aggregation::Count,
            "avg" => Aggregation::Avg,
            "max" => Aggregation::Max,
            "min" => Aggregation::Min,
            "topk" => Aggregation::Topk(0),
            other => return error(at, format!("unsupported: {other} (Tidewatch answers count_over_time, rate, bytes_over_time, bytes_rate and sum, count, avg, max, min, topk)")),
        };
        let mut grouping = self.grouping()?;
        self.expect("(")?;
        let aggregation = if let Aggregation::Topk(_) = aggregation {
            let k_at = self.at;
            let k = self.number()?;
            if k < 1.0 || k.fract() != 0.0 || k > 10_000.0 {
                return error(k_at, "topk needs a whole k between 1 and 10000");
            }
            self.expect(",")?;
            Aggregation::Topk(k as usize)
        } else {
            aggregation
        };
        let inner = self.metric(depth + 1)?;
        self.expect(")")?;
        if grouping.is_none() {
            grouping = self.grouping()?;
        }
        Ok(MetricExpr::Aggregate {
            aggregation,
            grouping,
            inner: Box::new(inner),
        })
    }
}

/// `line_format`'s Go template, field references only: `{{.msg}}`, `{{ .status }}`.
fn template(text: &str, at: usize) -> Result<Vec<TemplatePart>, QueryError> {
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            parts.push(TemplatePart::Text(rest[..open].to_owned()));
        }
        let Some(close) = rest[open..].find("}}") else {
            return error(at, "line_format: '{{' without '}}'");
        };
        let inner = rest[open + 2..open + close].trim();
        let Some(field) = inner
            .strip_prefix('.')
            .filter(|f| !f.is_empty() && f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        else {
            return error(at, format!("unsupported: line_format expression {{{{{inner}}}}} (only {{{{.label}}}} references are supported)"));
        };
        parts.push(TemplatePart::Field(field.to_owned()));
        rest = &rest[open + close + 2..];
    }
    if !rest.is_empty() {
        parts.push(TemplatePart::Text(rest.to_owned()));
    }
    Ok(parts)
}

/// One series' sample points for a metric query: the times of its matching records and
/// their line lengths, sorted by time.
#[derive(Debug, Clone, Default)]
pub struct SeriesPoints {
    pub labels: BTreeMap<String, String>,
    pub points: Vec<(i64, u64)>,
}

/// A metric query's answer: per series, a value per step.
pub type MetricSeries = Vec<(BTreeMap<String, String>, Vec<(i64, f64)>)>;

/// Evaluates a metric query at `start, start+step, …, ≤ end` over per-series points.
pub fn evaluate(
    expr: &MetricExpr,
    series: &[SeriesPoints],
    start_ns: i64,
    end_ns: i64,
    step_ns: i64,
) -> MetricSeries {
    match expr {
        MetricExpr::Range {
            function, range_ns, ..
        } => {
            let mut out = Vec::new();
            for s in series {
                let mut values = Vec::new();
                let mut t = start_ns;
                while t <= end_ns {
                    // (t - range, t]
                    let lo = s
                        .points
                        .partition_point(|p| p.0 <= t.saturating_sub(*range_ns));
                    let hi = s.points.partition_point(|p| p.0 <= t);
                    if hi > lo {
                        let window = &s.points[lo..hi];
                        let seconds = *range_ns as f64 / 1e9;
                        let value = match function {
                            RangeFunction::CountOverTime => window.len() as f64,
                            RangeFunction::Rate => window.len() as f64 / seconds,
                            RangeFunction::BytesOverTime => window.iter().map(|p| p.1 as f64).sum(),
                            RangeFunction::BytesRate => {
                                window.iter().map(|p| p.1 as f64).sum::<f64>() / seconds
                            }
                        };
                        values.push((t, value));
                    }
                    if step_ns <= 0 {
                        break;
                    }
                    match t.checked_add(step_ns) {
                        Some(next) => t = next,
                        None => break,
                    }
                }
                if !values.is_empty() {
                    out.push((s.labels.clone(), values));
                }
            }
            out
        }
        MetricExpr::Aggregate {
            aggregation,
            grouping,
            inner,
        } => {
            let inner = evaluate(inner, series, start_ns, end_ns, step_ns);
            aggregate(*aggregation, grouping.as_ref(), inner)
        }
    }
}

fn group_key(
    labels: &BTreeMap<String, String>,
    grouping: Option<&(bool, Vec<String>)>,
) -> BTreeMap<String, String> {
    match grouping {
        None => BTreeMap::new(),
        Some((false, by)) => labels
            .iter()
            .filter(|(k, _)| by.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        Some((true, without)) => labels
            .iter()
            .filter(|(k, _)| !without.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}

fn aggregate(
    aggregation: Aggregation,
    grouping: Option<&(bool, Vec<String>)>,
    inner: MetricSeries,
) -> MetricSeries {
    if let Aggregation::Topk(k) = aggregation {
        // Per step and group, the k largest series keep their value there.
        let mut by_group: BTreeMap<BTreeMap<String, String>, Vec<usize>> = BTreeMap::new();
        for (i, (labels, _)) in inner.iter().enumerate() {
            by_group
                .entry(group_key(labels, grouping))
                .or_default()
                .push(i);
        }
        let mut kept: Vec<Vec<(i64, f64)>> = vec![Vec::new(); inner.len()];
        for members in by_group.values() {
            let mut steps: BTreeMap<i64, Vec<(f64, usize)>> = BTreeMap::new();
            for &i in members {
                for &(t, v) in &inner[i].1 {
                    steps.entry(t).or_default().push((v, i));
                }
            }
            for (t, mut values) in steps {
                values.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                for (v, i) in values.into_iter().take(k) {
                    kept[i].push((t, v));
                }
            }
        }
        return inner
            .into_iter()
            .zip(kept)
            .filter(|(_, values)| !values.is_empty())
            .map(|((labels, _), values)| (labels, values))
            .collect();
    }
    let mut groups: BTreeMap<BTreeMap<String, String>, BTreeMap<i64, Vec<f64>>> = BTreeMap::new();
    for (labels, values) in inner {
        let group = groups.entry(group_key(&labels, grouping)).or_default();
        for (t, v) in values {
            group.entry(t).or_default().push(v);
        }
    }
    groups
        .into_iter()
        .map(|(labels, steps)| {
            let values = steps
                .into_iter()
                .map(|(t, vs)| {
                    let n = vs.len() as f64;
                    let v = match aggregation {
                        Aggregation::Sum => vs.iter().sum(),
                        Aggregation::Count => n,
                        Aggregation::Avg => vs.iter().sum::<f64>() / n,
                        Aggregation::Max => vs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                        Aggregation::Min => vs.iter().copied().fold(f64::INFINITY, f64::min),
                        Aggregation::Topk(_) => unreachable!("handled above"),
                    };
                    (t, v)
                })
                .collect();
            (labels, values)
        })
        .collect()
}

#[cfg(test)]
mod tests;
