//! Bounds on a query's *text*, checked before the parser sees it and on the parsed tree
//! before anything is evaluated, so no query can exhaust a thread's stack or a core.
//!
//! Why before parsing: the parser's time grows with the square of a binary-operator chain
//! (16,000 `+` took 1.6 s, a 1 MB one minutes) and every walk of the tree — its `Drop`, our
//! support check, the evaluator — recurses once per level. A linear scan of the text gives
//! an upper bound on the tree's depth (each bracket and each operator can add at most one
//! level), so refusing a deep text refuses every deep tree at a cost of one pass.

use std::time::Duration;

use promql_parser::parser::{AtModifier, Expr, Offset, VectorSelector};

use super::QueryError;

/// Limits on one query expression. Each is a `Config` value (`TIDEWATCH_QUERY_MAX_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpressionLimits {
    /// Bytes of query text.
    pub max_length: usize,
    /// Depth of the expression: brackets plus operators along the deepest path.
    pub max_depth: usize,
    /// Series selectors in one query.
    pub max_selectors: usize,
    /// Label matchers in one query, over all selectors (the metric name counts as one).
    pub max_matchers: usize,
}

impl Default for ExpressionLimits {
    fn default() -> Self {
        Self {
            max_length: 64 * 1024,
            max_depth: 128,
            max_selectors: 256,
            max_matchers: 2048,
        }
    }
}

/// The longest range, offset or `@` time a query may name: 10,000 years, so every window
/// computed from them stays far inside `i64` milliseconds.
pub const MAX_QUERY_DURATION_MS: i64 = 10_000 * 365 * 24 * 3600 * 1000;

/// Parses `text` within `limits`: the text is checked first, the parser runs only on text
/// that passed, and the tree is checked before it is returned. A parser panic (it has some
/// on out-of-range numbers, e.g. `x[1e9999]`) is a malformed query, not a crash.
pub fn parse_within(text: &str, limits: &ExpressionLimits) -> Result<Expr, QueryError> {
    check_text(text, limits)?;
    let parsed = crate::panic_net::quietly(|| promql_parser::parser::parse(text));
    let expr = match parsed {
        Ok(Ok(expr)) => expr,
        Ok(Err(message)) => return Err(QueryError::BadData(message)),
        Err(panic) => {
            return Err(QueryError::BadData(format!(
                "invalid query: a number or duration is out of range ({panic})"
            )))
        }
    };
    check_tree(&expr, limits)?;
    Ok(expr)
}

/// One pass over the text: its length and an upper bound of its tree's depth.
pub fn check_text(text: &str, limits: &ExpressionLimits) -> Result<(), QueryError> {
    if text.len() > limits.max_length {
        return Err(QueryError::BadData(format!(
            "the query is {} bytes long; the limit is {} (TIDEWATCH_QUERY_MAX_LENGTH)",
            text.len(),
            limits.max_length
        )));
    }
    let mut scan = DepthScan::default();
    let bytes = text.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        let byte = bytes[at];
        match byte {
            b'"' | b'\'' => at = skip_quoted(bytes, at, true),
            b'`' => at = skip_quoted(bytes, at, false),
            b'#' => {
                while at < bytes.len() && bytes[at] != b'\n' {
                    at += 1;
                }
            }
            b'(' | b'[' | b'{' => {
                scan.open(byte == b'{');
                at += 1;
            }
            b')' | b']' | b'}' => {
                scan.close();
                at += 1;
            }
            b'+' | b'-' | b'*' | b'/' | b'%' | b'^' | b'<' | b'>' => {
                scan.operator();
                at += 1;
            }
            b'=' | b'!' if bytes.get(at + 1) == Some(&b'=') => {
                scan.operator();
                at += 2;
            }
            b if b.is_ascii_alphabetic() || b == b'_' => {
                let start = at;
                while at < bytes.len()
                    && (bytes[at].is_ascii_alphanumeric() || bytes[at] == b'_' || bytes[at] == b':')
                {
                    at += 1;
                }
                let word = &text[start..at];
                if ["and", "or", "unless", "atan2"]
                    .iter()
                    .any(|k| word.eq_ignore_ascii_case(k))
                {
                    scan.operator();
                }
            }
            _ => at += 1,
        }
        if scan.at_least() > limits.max_depth {
            return Err(too_deep(limits));
        }
    }
    if scan.finish() > limits.max_depth {
        return Err(too_deep(limits));
    }
    Ok(())
}

fn too_deep(limits: &ExpressionLimits) -> QueryError {
    QueryError::BadData(format!(
        "the query nests deeper than {} levels (brackets and operators; TIDEWATCH_QUERY_MAX_DEPTH)",
        limits.max_depth
    ))
}

/// An upper bound of the tree's depth from brackets and operators. A bracketed part is
/// at most one level (its own node) over its operators and its deepest bracketed part;
/// a chain of `k` operators adds at most `k` levels over its deepest operand (operators
/// to the right of a deep operand still stack above it). Inside `{…}` operators are label
/// matchers (`!=`, `=~`), not tree nodes, and a braced part is a leaf.
struct DepthScan {
    /// The open brackets, the whole text first (never closed).
    levels: Vec<Level>,
    /// Open non-brace brackets plus the operators seen at the open levels: the depth of
    /// the current path, a lower bound of the final bound kept as the scan goes.
    path: usize,
}

#[derive(Default)]
struct Level {
    operators: usize,
    deepest_part: usize,
    brace: bool,
}

impl Default for DepthScan {
    fn default() -> Self {
        Self {
            levels: vec![Level::default()],
            path: 0,
        }
    }
}

impl DepthScan {
    fn open(&mut self, brace: bool) {
        self.path += usize::from(!brace);
        self.levels.push(Level {
            brace,
            ..Level::default()
        });
    }

    fn close(&mut self) {
        if self.levels.len() < 2 {
            return; // an unbalanced closer: the parser will refuse it
        }
        let closed = self.levels.pop().expect("checked: two or more levels");
        self.path -= closed.operators + usize::from(!closed.brace);
        let depth = if closed.brace {
            0
        } else {
            1 + closed.operators + closed.deepest_part
        };
        let parent = self.levels.last_mut().expect("checked: one level is left");
        parent.deepest_part = parent.deepest_part.max(depth);
    }

    fn operator(&mut self) {
        let level = self
            .levels
            .last_mut()
            .expect("the base level is never closed");
        if !level.brace {
            level.operators += 1;
            self.path += 1;
        }
    }

    /// The bound for the whole text, closing what was left open.
    fn finish(mut self) -> usize {
        while self.levels.len() > 1 {
            self.close();
        }
        let base = &self.levels[0];
        base.operators + base.deepest_part
    }

    /// A lower bound of [`finish`](Self::finish), known mid-text: refusing on it early
    /// keeps a huge text from being scanned to its end.
    fn at_least(&self) -> usize {
        self.path
    }
}

/// The index just past the string starting at `start` (or the end of the text).
fn skip_quoted(bytes: &[u8], start: usize, escapes: bool) -> usize {
    let quote = bytes[start];
    let mut at = start + 1;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' if escapes => at += 2,
            b if b == quote => return at + 1,
            _ => at += 1,
        }
    }
    bytes.len()
}

/// Counts selectors and matchers and checks every duration of a parsed tree. Its
/// recursion is bounded: the text check bounded the depth.
fn check_tree(expr: &Expr, limits: &ExpressionLimits) -> Result<(), QueryError> {
    let mut count = TreeCount::default();
    count.walk(expr)?;
    if count.selectors > limits.max_selectors {
        return Err(QueryError::BadData(format!(
            "the query has {} series selectors; the limit is {} (TIDEWATCH_QUERY_MAX_SELECTORS)",
            count.selectors, limits.max_selectors
        )));
    }
    if count.matchers > limits.max_matchers {
        return Err(QueryError::BadData(format!(
            "the query has {} label matchers; the limit is {} (TIDEWATCH_QUERY_MAX_MATCHERS)",
            count.matchers, limits.max_matchers
        )));
    }
    Ok(())
}

#[derive(Default)]
struct TreeCount {
    selectors: usize,
    matchers: usize,
}

impl TreeCount {
    fn walk(&mut self, expr: &Expr) -> Result<(), QueryError> {
        match expr {
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => Ok(()),
            Expr::VectorSelector(vs) => self.selector(vs),
            Expr::MatrixSelector(ms) => {
                check_duration(ms.range, "range")?;
                self.selector(&ms.vs)
            }
            Expr::Subquery(sq) => {
                check_duration(sq.range, "subquery range")?;
                if let Some(step) = sq.step {
                    check_duration(step, "subquery step")?;
                }
                check_offset(&sq.offset)?;
                check_at(&sq.at)?;
                self.walk(&sq.expr)
            }
            Expr::Paren(p) => self.walk(&p.expr),
            Expr::Unary(u) => self.walk(&u.expr),
            Expr::Aggregate(agg) => {
                if let Some(param) = &agg.param {
                    self.walk(param)?;
                }
                self.walk(&agg.expr)
            }
            Expr::Binary(b) => {
                self.walk(&b.lhs)?;
                self.walk(&b.rhs)
            }
            Expr::Call(call) => call.args.args.iter().try_for_each(|arg| self.walk(arg)),
        }
    }

    fn selector(&mut self, vs: &VectorSelector) -> Result<(), QueryError> {
        check_offset(&vs.offset)?;
        check_at(&vs.at)?;
        self.selectors += 1;
        self.matchers += vs.matchers.matchers.len()
            + vs.matchers.or_matchers.iter().map(Vec::len).sum::<usize>()
            + usize::from(vs.name.is_some());
        Ok(())
    }
}

fn check_duration(d: Duration, what: &str) -> Result<(), QueryError> {
    if d.as_millis() > MAX_QUERY_DURATION_MS as u128 {
        return Err(QueryError::BadData(format!(
            "the {what} {}s is longer than the longest accepted, 10000 years",
            d.as_secs()
        )));
    }
    Ok(())
}

fn check_offset(offset: &Option<Offset>) -> Result<(), QueryError> {
    match offset {
        Some(Offset::Pos(d)) | Some(Offset::Neg(d)) => check_duration(*d, "offset"),
        None => Ok(()),
    }
}

fn check_at(at: &Option<AtModifier>) -> Result<(), QueryError> {
    let Some(AtModifier::At(time)) = at else {
        return Ok(());
    };
    let distance = match time.duration_since(std::time::UNIX_EPOCH) {
        Ok(after) => after,
        Err(before) => before.duration(),
    };
    check_duration(distance, "@ time (from 1970)")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ExpressionLimits {
        ExpressionLimits::default()
    }

    fn refused(text: &str, limits: &ExpressionLimits) -> String {
        match parse_within(text, limits) {
            Err(QueryError::BadData(message)) => message,
            other => panic!("{:.80}: expected bad_data, got {other:?}", text),
        }
    }

    #[test]
    fn hostile_shapes_are_refused_before_parsing_naming_the_limit() {
        let cases: Vec<(String, &str)> = vec![
            (vec!["up"; 5000].join("+"), "TIDEWATCH_QUERY_MAX_DEPTH"),
            (
                format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000)),
                "TIDEWATCH_QUERY_MAX_LENGTH",
            ),
            (
                format!("{}1{}", "(".repeat(200), ")".repeat(200)),
                "TIDEWATCH_QUERY_MAX_DEPTH",
            ),
            ("-".repeat(300) + "1", "TIDEWATCH_QUERY_MAX_DEPTH"),
            (vec!["up"; 200].join(" or "), "TIDEWATCH_QUERY_MAX_DEPTH"),
            (vec!["1"; 500_000].join("+"), "TIDEWATCH_QUERY_MAX_LENGTH"),
            (
                format!("{}up{}", "abs(".repeat(129), ")".repeat(129)),
                "TIDEWATCH_QUERY_MAX_DEPTH",
            ),
        ];
        for (text, limit) in cases {
            let message = refused(&text, &limits());
            assert!(message.contains(limit), "{:.60}: {message}", text);
        }
    }

    #[test]
    fn selectors_and_matchers_are_counted_on_the_tree() {
        let few = ExpressionLimits {
            max_selectors: 3,
            max_matchers: 5,
            ..limits()
        };
        let message = refused("sum(a) + sum(b) + (c / d)", &few);
        assert!(message.contains("4 series selectors"), "{message}");
        assert!(
            message.contains("TIDEWATCH_QUERY_MAX_SELECTORS"),
            "{message}"
        );
        let message = refused(r#"a{x="1",y="2"} / b{x="1",y=~"2|3"}"#, &few);
        assert!(message.contains("6 label matchers"), "{message}");
        assert!(
            message.contains("TIDEWATCH_QUERY_MAX_MATCHERS"),
            "{message}"
        );
        parse_within(r#"sum(rate(a{x="1"}[5m])) / sum(b)"#, &few).expect("within limits");
    }

    #[test]
    fn operators_inside_strings_braces_and_comments_do_not_count() {
        let tight = ExpressionLimits {
            max_depth: 3,
            ..limits()
        };
        for text in [
            r#"up{job!="a+b+c+d", path=~"/x/y/z/-/-"}"#,
            "up # + + + + + +\n",
            r#"label_join(up, "a", "-+-+-+-", "b")"#,
        ] {
            check_text(text, &tight).unwrap_or_else(|e| panic!("{text}: {e}"));
        }
        // An operator outside the braces still counts.
        assert!(check_text("a + b + c + d + e", &tight).is_err());
    }

    #[test]
    fn the_depth_bound_is_never_below_the_trees_depth() {
        fn tree_depth(expr: &Expr) -> usize {
            1 + match expr {
                Expr::Paren(p) => tree_depth(&p.expr),
                Expr::Unary(u) => tree_depth(&u.expr),
                Expr::Binary(b) => tree_depth(&b.lhs).max(tree_depth(&b.rhs)),
                Expr::Aggregate(a) => tree_depth(&a.expr),
                Expr::Call(c) => c.args.args.iter().map(|a| tree_depth(a)).max().unwrap_or(0),
                _ => 0,
            }
        }
        for text in [
            "a + b * c - d / e",
            "sum by (x) (rate(a[5m])) / on(x) group_left sum(b) * 100",
            "-(-(-a))",
            "abs(abs(abs(a + b) - c))",
            "a and b or c unless d",
            "(a + b) * c - (d / (e + f))",
            "a ^ b ^ c ^ d",
            "sum(rate(a[5m])) * 2 + sum(b) / count(c) - 1",
        ] {
            let expr = promql_parser::parser::parse(text).expect("valid");
            let depth = tree_depth(&expr);
            let just_below = ExpressionLimits {
                max_depth: depth - 2,
                ..limits()
            };
            // depth-1 nodes below the root: the scan must count at least that many.
            assert!(
                check_text(text, &just_below).is_err(),
                "{text}: tree depth {depth} passed a bound of {}",
                depth - 2
            );
        }
    }

    #[test]
    fn out_of_range_numbers_are_bad_data_not_panics() {
        for text in [
            "rate(up[1e9999])",
            "up offset 1e9999",
            "up @ 1e9999",
            "rate(up[99999999999999999999y])",
            "up offset 20000y",
            "rate(up[20000y])",
        ] {
            refused(text, &limits());
        }
        parse_within("rate(up[5m] offset 1w)", &limits()).expect("ordinary durations");
    }
}
