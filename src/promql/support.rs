//! Refuses, before any data is fetched, every PromQL feature this engine does not evaluate,
//! naming it, so no query is ever answered approximately.

use promql_parser::parser::Expr;

use super::QueryError;

/// Functions taking a range vector, evaluated in `range_functions.rs`.
pub(crate) const RANGE_FUNCTIONS: &[&str] = &[
    "rate",
    "irate",
    "increase",
    "delta",
    "idelta",
    "deriv",
    "predict_linear",
    "changes",
    "resets",
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "sum_over_time",
    "count_over_time",
    "last_over_time",
    "quantile_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "present_over_time",
    "absent_over_time",
];

/// Functions on instant vectors and scalars, evaluated in `functions.rs`.
pub(crate) const INSTANT_FUNCTIONS: &[&str] = &[
    "abs",
    "ceil",
    "floor",
    "exp",
    "sqrt",
    "ln",
    "log2",
    "log10",
    "sgn",
    "clamp",
    "clamp_min",
    "clamp_max",
    "round",
    "histogram_quantile",
    "absent",
    "vector",
    "scalar",
    "time",
    "sort",
    "sort_desc",
];

/// Aggregation operators, evaluated in `aggregate.rs`.
pub(crate) const AGGREGATIONS: &[&str] = &[
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "group",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
];

/// Returns `Unsupported` naming the first feature of `expr` this engine cannot evaluate.
pub(crate) fn check_supported(expr: &Expr) -> Result<(), QueryError> {
    let unsupported = |what: String| Err(QueryError::Unsupported(what));
    match expr {
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Ok(()),
        Expr::VectorSelector(vs) => {
            if vs.matchers.or_matchers.is_empty() {
                Ok(())
            } else {
                unsupported("`or` between label matchers".into())
            }
        }
        Expr::MatrixSelector(ms) => check_supported(&Expr::VectorSelector(ms.vs.clone())),
        Expr::Subquery(_) => unsupported("subqueries".into()),
        Expr::Extension(_) => unsupported("extension expressions".into()),
        Expr::Paren(p) => check_supported(&p.expr),
        Expr::Unary(u) => check_supported(&u.expr),
        Expr::Aggregate(agg) => {
            let op = agg.op.to_string();
            if !AGGREGATIONS.contains(&op.as_str()) {
                return unsupported(format!("aggregation {op}"));
            }
            if let Some(param) = &agg.param {
                check_supported(param)?;
            }
            check_supported(&agg.expr)
        }
        Expr::Binary(b) => {
            if let Some(modifier) = &b.modifier {
                let fill = &modifier.fill_values;
                if fill.lhs.is_some() || fill.rhs.is_some() {
                    return unsupported("fill modifiers on binary operators".into());
                }
            }
            check_supported(&b.lhs)?;
            check_supported(&b.rhs)
        }
        Expr::Call(call) => {
            let name = call.func.name;
            if !RANGE_FUNCTIONS.contains(&name) && !INSTANT_FUNCTIONS.contains(&name) {
                return unsupported(format!("function {name}"));
            }
            call.args
                .args
                .iter()
                .try_for_each(|arg| check_supported(arg))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promql::parse;

    #[test]
    fn unsupported_features_are_named() {
        for (query, expected) in [
            ("rate(x[5m])", None),
            ("sum by (a) (x) + on(a) group_left(b) y", None),
            (
                "label_replace(x, \"a\", \"b\", \"c\", \"d\")",
                Some("function label_replace"),
            ),
            ("max_over_time(x[10m:1m])", Some("subqueries")),
            ("timestamp(x)", Some("function timestamp")),
            ("sum(day_of_week())", Some("function day_of_week")),
            ("abs(-(x))", None),
        ] {
            let expr = parse(query).expect("valid PromQL");
            match (check_supported(&expr), expected) {
                (Ok(()), None) => {}
                (Err(QueryError::Unsupported(what)), Some(expected)) => {
                    assert_eq!(what, expected, "{query}")
                }
                (got, _) => panic!("{query}: {got:?}"),
            }
        }
    }
}
