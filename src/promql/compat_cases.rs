//! The shared PromQL compatibility table: series in promtool notation (1m interval), an
//! expression, an evaluation time, and the samples Prometheus 2.42 returns. Expected values
//! were produced by `promtool test rules` and are re-checked against it by
//! `promtool_compat.rs`.

/// One instant evaluation to compare.
pub(crate) struct CompatCase {
    pub series: &'static [(&'static str, &'static str)],
    pub expr: &'static str,
    pub eval_time: &'static str,
    /// `(labels, value)` with values as Prometheus formats them (`NaN`, `+Inf`).
    pub expected: &'static [(&'static str, &'static str)],
    /// Text both Prometheus's and our error must contain, when evaluation must fail.
    pub error: Option<&'static str>,
}

type Series = &'static [(&'static str, &'static str)];
type Expected = &'static [(&'static str, &'static str)];

const fn case(
    series: Series,
    expr: &'static str,
    eval_time: &'static str,
    expected: Expected,
) -> CompatCase {
    CompatCase {
        series,
        expr,
        eval_time,
        expected,
        error: None,
    }
}

const fn fails(
    series: Series,
    expr: &'static str,
    eval_time: &'static str,
    error: &'static str,
) -> CompatCase {
    CompatCase {
        series,
        expr,
        eval_time,
        expected: &[],
        error: Some(error),
    }
}

const REQUESTS: &[(&str, &str)] = &[
    (r#"http_requests{job="api",instance="a"}"#, "0+10x20"),
    (r#"http_requests{job="api",instance="b"}"#, "0+20x20"),
    (r#"http_requests{job="db",instance="a"}"#, "5+5x20"),
    (r#"node_info{instance="a",zone="z1"}"#, "1x20"),
    (r#"node_info{instance="b",zone="z2"}"#, "1x20"),
];

const SPARSE: &[(&str, &str)] = &[(r#"x"#, "1 _x10")];

const STALE: &[(&str, &str)] = &[(r#"s"#, "1 2 stale 4")];

const RESET: &[(&str, &str)] = &[(r#"c"#, "0 10 20 5 15 25")];

const ZERO: &[(&str, &str)] = &[(r#"z"#, "_x3 2 4 6")];

const SPARSE2: &[(&str, &str)] = &[(r#"sp"#, "1 _ _ _ 5")];

const GAUGE: &[(&str, &str)] = &[
    (r#"g{a="1"}"#, "1 5 3 8 2 7 4"),
    (r#"g{a="2"}"#, "10 10 10 NaN 10 10 10"),
];

const PRECISION: &[(&str, &str)] = &[(r#"p"#, "1e100 1 -1e100"), (r#"q"#, "0.1 0.2 0.3 0.7 1.1")];

const INF: &[(&str, &str)] = &[(r#"i{k="1"}"#, "1 Inf 3"), (r#"i{k="2"}"#, "Inf -Inf 1")];

const HIST: &[(&str, &str)] = &[
    (r#"req_bucket{le="0.1"}"#, "0+1x10"),
    (r#"req_bucket{le="0.5"}"#, "0+5x10"),
    (r#"req_bucket{le="1"}"#, "0+8x10"),
    (r#"req_bucket{le="+Inf"}"#, "0+10x10"),
];

const HIST_BAD: &[(&str, &str)] = &[
    (r#"bad_bucket{le="1"}"#, "8 8"),
    (r#"bad_bucket{le="2"}"#, "5 5"),
    (r#"bad_bucket{le="4"}"#, "10 10"),
    (r#"bad_bucket{le="+Inf"}"#, "9 10"),
    (r#"noinf_bucket{le="1"}"#, "1 1"),
    (r#"noinf_bucket{le="2"}"#, "2 2"),
];

const AVG: &[(&str, &str)] = &[
    (r#"v{i="1"}"#, "1"),
    (r#"v{i="2"}"#, "2"),
    (r#"v{i="3"}"#, "4"),
    (r#"v{i="4"}"#, "0.1"),
];

#[rustfmt::skip]
pub(crate) const CASES: &[CompatCase] = &[
    case(REQUESTS, r#"http_requests"#, "5m", &[(r#"http_requests{instance="a",job="api"}"#, "50"), (r#"http_requests{instance="a",job="db"}"#, "30"), (r#"http_requests{instance="b",job="api"}"#, "100")]),
    case(REQUESTS, r#"http_requests{job="api"}"#, "5m", &[(r#"http_requests{instance="a",job="api"}"#, "50"), (r#"http_requests{instance="b",job="api"}"#, "100")]),
    case(REQUESTS, r#"http_requests{job!="api"}"#, "5m", &[(r#"http_requests{instance="a",job="db"}"#, "30")]),
    case(REQUESTS, r#"http_requests{instance=~"a|c"}"#, "5m", &[(r#"http_requests{instance="a",job="api"}"#, "50"), (r#"http_requests{instance="a",job="db"}"#, "30")]),
    case(REQUESTS, r#"http_requests{instance!~"a"}"#, "5m", &[(r#"http_requests{instance="b",job="api"}"#, "100")]),
    case(REQUESTS, r#"http_requests{job=~"ap"}"#, "5m", &[]),
    case(REQUESTS, r#"http_requests offset 2m"#, "5m", &[(r#"http_requests{instance="a",job="api"}"#, "30"), (r#"http_requests{instance="a",job="db"}"#, "20"), (r#"http_requests{instance="b",job="api"}"#, "60")]),
    case(REQUESTS, r#"http_requests @ 120"#, "5m", &[(r#"http_requests{instance="a",job="api"}"#, "20"), (r#"http_requests{instance="a",job="db"}"#, "15"), (r#"http_requests{instance="b",job="api"}"#, "40")]),
    case(REQUESTS, r#"{instance="b"}"#, "5m", &[(r#"http_requests{instance="b",job="api"}"#, "100"), (r#"node_info{instance="b",zone="z2"}"#, "1")]),
    case(SPARSE, r#"x"#, "5m", &[(r#"x"#, "1")]),
    case(SPARSE, r#"x"#, "6m", &[]),
    case(SPARSE, r#"x"#, "0", &[(r#"x"#, "1")]),
    case(STALE, r#"s"#, "1m", &[(r#"s"#, "2")]),
    case(STALE, r#"s"#, "2m", &[]),
    case(STALE, r#"s"#, "4m", &[(r#"s"#, "4")]),
    case(REQUESTS, r#"rate(http_requests[5m])"#, "10m", &[(r#"{instance="a",job="api"}"#, "0.16666666666666669"), (r#"{instance="a",job="db"}"#, "0.08333333333333334"), (r#"{instance="b",job="api"}"#, "0.33333333333333337")]),
    case(REQUESTS, r#"rate(http_requests[5m] offset 3m)"#, "10m", &[(r#"{instance="a",job="api"}"#, "0.16666666666666669"), (r#"{instance="a",job="db"}"#, "0.08333333333333334"), (r#"{instance="b",job="api"}"#, "0.33333333333333337")]),
    case(REQUESTS, r#"increase(http_requests[3m])"#, "20m", &[(r#"{instance="a",job="api"}"#, "30"), (r#"{instance="a",job="db"}"#, "15"), (r#"{instance="b",job="api"}"#, "60")]),
    case(RESET, r#"rate(c[5m])"#, "5m", &[(r#"{}"#, "0.15000000000000002")]),
    case(RESET, r#"increase(c[5m])"#, "5m", &[(r#"{}"#, "45")]),
    case(RESET, r#"irate(c[5m])"#, "3m", &[(r#"{}"#, "0.08333333333333333")]),
    case(RESET, r#"resets(c[5m])"#, "5m", &[(r#"{}"#, "1")]),
    case(RESET, r#"changes(c[5m])"#, "5m", &[(r#"{}"#, "5")]),
    case(REQUESTS, r#"irate(http_requests[5m])"#, "10m", &[(r#"{instance="a",job="api"}"#, "0.16666666666666666"), (r#"{instance="a",job="db"}"#, "0.08333333333333333"), (r#"{instance="b",job="api"}"#, "0.3333333333333333")]),
    case(ZERO, r#"rate(z[10m])"#, "5m", &[(r#"{}"#, "0.01")]),
    case(ZERO, r#"increase(z[10m])"#, "5m", &[(r#"{}"#, "6")]),
    case(SPARSE2, r#"increase(sp[10m])"#, "6m", &[(r#"{}"#, "7")]),
    case(SPARSE, r#"rate(x[5m])"#, "5m", &[]),
    case(GAUGE, r#"delta(g[5m])"#, "6m", &[(r#"{a="1"}"#, "-1"), (r#"{a="2"}"#, "0")]),
    case(GAUGE, r#"idelta(g[5m])"#, "6m", &[(r#"{a="1"}"#, "-3"), (r#"{a="2"}"#, "0")]),
    case(GAUGE, r#"deriv(g[5m])"#, "6m", &[(r#"{a="1"}"#, "0.0004761904761904762"), (r#"{a="2"}"#, "NaN")]),
    case(REQUESTS, r#"predict_linear(http_requests{instance="a",job="api"}[5m], 60)"#, "10m", &[(r#"{instance="a",job="api"}"#, "110")]),
    case(GAUGE, r#"avg_over_time(g[5m])"#, "6m", &[(r#"{a="1"}"#, "4.833333333333333"), (r#"{a="2"}"#, "NaN")]),
    case(GAUGE, r#"min_over_time(g[5m])"#, "6m", &[(r#"{a="1"}"#, "2"), (r#"{a="2"}"#, "10")]),
    case(GAUGE, r#"max_over_time(g[5m])"#, "6m", &[(r#"{a="1"}"#, "8"), (r#"{a="2"}"#, "10")]),
    case(GAUGE, r#"sum_over_time(g[5m])"#, "6m", &[(r#"{a="1"}"#, "29"), (r#"{a="2"}"#, "NaN")]),
    case(GAUGE, r#"count_over_time(g[5m])"#, "6m", &[(r#"{a="1"}"#, "6"), (r#"{a="2"}"#, "6")]),
    case(GAUGE, r#"last_over_time(g[5m])"#, "6m", &[(r#"g{a="1"}"#, "4"), (r#"g{a="2"}"#, "10")]),
    case(GAUGE, r#"stddev_over_time(g[5m])"#, "6m", &[(r#"{a="1"}"#, "2.1147629234082532"), (r#"{a="2"}"#, "NaN")]),
    case(GAUGE, r#"stdvar_over_time(g[5m])"#, "6m", &[(r#"{a="1"}"#, "4.472222222222222"), (r#"{a="2"}"#, "NaN")]),
    case(GAUGE, r#"present_over_time(g[5m])"#, "6m", &[(r#"{a="1"}"#, "1"), (r#"{a="2"}"#, "1")]),
    case(GAUGE, r#"quantile_over_time(0.5, g[5m])"#, "6m", &[(r#"{a="1"}"#, "4.5"), (r#"{a="2"}"#, "10")]),
    case(GAUGE, r#"quantile_over_time(0.9, g[10m])"#, "6m", &[(r#"{a="1"}"#, "7.4"), (r#"{a="2"}"#, "10")]),
    case(GAUGE, r#"absent_over_time(nonexistent{job="x"}[5m])"#, "6m", &[(r#"{job="x"}"#, "1")]),
    case(GAUGE, r#"absent_over_time(g[5m])"#, "6m", &[]),
    case(PRECISION, r#"sum_over_time(p[5m])"#, "2m", &[(r#"{}"#, "1")]),
    case(PRECISION, r#"avg_over_time(q[5m])"#, "4m", &[(r#"{}"#, "0.48")]),
    case(PRECISION, r#"stddev_over_time(q[5m])"#, "4m", &[(r#"{}"#, "0.3709447398198282")]),
    case(INF, r#"avg_over_time(i[5m])"#, "2m", &[(r#"{k="1"}"#, "+Inf"), (r#"{k="2"}"#, "NaN")]),
    case(INF, r#"max_over_time(i[5m])"#, "2m", &[(r#"{k="1"}"#, "+Inf"), (r#"{k="2"}"#, "+Inf")]),
    case(INF, r#"sum_over_time(i[5m])"#, "2m", &[(r#"{k="1"}"#, "+Inf"), (r#"{k="2"}"#, "NaN")]),
    case(HIST, r#"histogram_quantile(0.5, req_bucket)"#, "10m", &[(r#"{}"#, "0.5")]),
    case(HIST, r#"histogram_quantile(0.9, rate(req_bucket[5m]))"#, "10m", &[(r#"{}"#, "1")]),
    case(HIST, r#"histogram_quantile(0.99, req_bucket)"#, "10m", &[(r#"{}"#, "1")]),
    case(HIST, r#"histogram_quantile(1.5, req_bucket)"#, "10m", &[(r#"{}"#, "+Inf")]),
    case(HIST, r#"histogram_quantile(0.5, req_bucket)"#, "0", &[(r#"{}"#, "NaN")]),
    case(HIST_BAD, r#"histogram_quantile(0.5, bad_bucket)"#, "1m", &[(r#"{}"#, "0.625")]),
    case(HIST_BAD, r#"histogram_quantile(0.5, noinf_bucket)"#, "1m", &[(r#"{}"#, "NaN")]),
    case(HIST, r#"histogram_quantile(0.75, sum by (le) (rate(req_bucket[5m])))"#, "10m", &[(r#"{}"#, "0.9166666666666667")]),
    case(GAUGE, r#"abs(g - 5)"#, "3m", &[(r#"{a="1"}"#, "3"), (r#"{a="2"}"#, "NaN")]),
    case(GAUGE, r#"clamp_min(g, 4)"#, "3m", &[(r#"{a="1"}"#, "8"), (r#"{a="2"}"#, "NaN")]),
    case(GAUGE, r#"clamp_max(g, 4)"#, "3m", &[(r#"{a="1"}"#, "4"), (r#"{a="2"}"#, "NaN")]),
    case(GAUGE, r#"clamp(g, 2, 6)"#, "4m", &[(r#"{a="1"}"#, "2"), (r#"{a="2"}"#, "6")]),
    case(GAUGE, r#"clamp(g, 6, 2)"#, "4m", &[]),
    case(GAUGE, r#"round(g / 3)"#, "4m", &[(r#"{a="1"}"#, "1"), (r#"{a="2"}"#, "3")]),
    case(GAUGE, r#"round(g, 5)"#, "3m", &[(r#"{a="1"}"#, "10"), (r#"{a="2"}"#, "NaN")]),
    case(GAUGE, r#"round(g / 3, 0.1)"#, "4m", &[(r#"{a="1"}"#, "0.7"), (r#"{a="2"}"#, "3.3")]),
    case(GAUGE, r#"ceil(g / 3)"#, "4m", &[(r#"{a="1"}"#, "1"), (r#"{a="2"}"#, "4")]),
    case(GAUGE, r#"floor(g / 3)"#, "4m", &[(r#"{a="1"}"#, "0"), (r#"{a="2"}"#, "3")]),
    case(GAUGE, r#"sqrt(g)"#, "3m", &[(r#"{a="1"}"#, "2.8284271247461903"), (r#"{a="2"}"#, "NaN")]),
    case(GAUGE, r#"sgn(g - 5)"#, "3m", &[(r#"{a="1"}"#, "1"), (r#"{a="2"}"#, "NaN")]),
    case(GAUGE, r#"time()"#, "5m", &[(r#"{}"#, "300")]),
    case(GAUGE, r#"vector(1)"#, "5m", &[(r#"{}"#, "1")]),
    case(GAUGE, r#"vector(time())"#, "90s", &[(r#"{}"#, "90")]),
    case(GAUGE, r#"absent(nonexistent{job="x",env=~"p.*"})"#, "5m", &[(r#"{job="x"}"#, "1")]),
    case(GAUGE, r#"absent(g)"#, "5m", &[]),
    case(GAUGE, r#"scalar(g{a="1"})"#, "5m", &[(r#"{}"#, "7")]),
    case(GAUGE, r#"scalar(g)"#, "5m", &[(r#"{}"#, "NaN")]),
    case(GAUGE, r#"g - scalar(g{a="1"})"#, "5m", &[(r#"{a="1"}"#, "0"), (r#"{a="2"}"#, "3")]),
    case(REQUESTS, r#"sum(http_requests)"#, "5m", &[(r#"{}"#, "180")]),
    case(REQUESTS, r#"sum by (job) (http_requests)"#, "5m", &[(r#"{job="api"}"#, "150"), (r#"{job="db"}"#, "30")]),
    case(REQUESTS, r#"sum without (instance) (http_requests)"#, "5m", &[(r#"{job="api"}"#, "150"), (r#"{job="db"}"#, "30")]),
    case(REQUESTS, r#"avg by (job) (http_requests)"#, "5m", &[(r#"{job="api"}"#, "75"), (r#"{job="db"}"#, "30")]),
    case(REQUESTS, r#"min(http_requests)"#, "5m", &[(r#"{}"#, "30")]),
    case(REQUESTS, r#"max by (instance) (http_requests)"#, "5m", &[(r#"{instance="a"}"#, "50"), (r#"{instance="b"}"#, "100")]),
    case(REQUESTS, r#"count by (instance) (http_requests)"#, "5m", &[(r#"{instance="a"}"#, "2"), (r#"{instance="b"}"#, "1")]),
    case(REQUESTS, r#"topk(2, http_requests)"#, "5m", &[(r#"http_requests{instance="a",job="api"}"#, "50"), (r#"http_requests{instance="b",job="api"}"#, "100")]),
    case(REQUESTS, r#"bottomk by (job) (1, http_requests)"#, "5m", &[(r#"http_requests{instance="a",job="api"}"#, "50"), (r#"http_requests{instance="a",job="db"}"#, "30")]),
    case(REQUESTS, r#"quantile(0.5, http_requests)"#, "5m", &[(r#"{}"#, "50")]),
    case(REQUESTS, r#"quantile by (job) (0.25, http_requests)"#, "5m", &[(r#"{job="api"}"#, "62.5"), (r#"{job="db"}"#, "30")]),
    case(REQUESTS, r#"stddev(http_requests)"#, "5m", &[(r#"{}"#, "29.43920288775949")]),
    case(REQUESTS, r#"count_values("value", http_requests)"#, "5m", &[(r#"{value="100"}"#, "1"), (r#"{value="30"}"#, "1"), (r#"{value="50"}"#, "1")]),
    case(REQUESTS, r#"group by (job) (http_requests)"#, "5m", &[(r#"{job="api"}"#, "1"), (r#"{job="db"}"#, "1")]),
    case(REQUESTS, r#"sum by (__name__) (http_requests)"#, "5m", &[(r#"http_requests"#, "180")]),
    case(REQUESTS, r#"avg(http_requests * 0 + 1/3)"#, "5m", &[(r#"{}"#, "0.3333333333333333")]),
    case(GAUGE, r#"max(g)"#, "3m", &[(r#"{}"#, "8")]),
    case(GAUGE, r#"min(g)"#, "3m", &[(r#"{}"#, "8")]),
    case(GAUGE, r#"avg(g)"#, "3m", &[(r#"{}"#, "NaN")]),
    case(AVG, r#"avg(v)"#, "0", &[(r#"{}"#, "1.775")]),
    case(REQUESTS, r#"http_requests * 2"#, "5m", &[(r#"{instance="a",job="api"}"#, "100"), (r#"{instance="a",job="db"}"#, "60"), (r#"{instance="b",job="api"}"#, "200")]),
    case(REQUESTS, r#"2 - http_requests"#, "5m", &[(r#"{instance="a",job="api"}"#, "-48"), (r#"{instance="a",job="db"}"#, "-28"), (r#"{instance="b",job="api"}"#, "-98")]),
    case(REQUESTS, r#"http_requests > 50"#, "5m", &[(r#"http_requests{instance="b",job="api"}"#, "100")]),
    case(REQUESTS, r#"50 < http_requests"#, "5m", &[(r#"http_requests{instance="b",job="api"}"#, "100")]),
    case(REQUESTS, r#"http_requests > bool 50"#, "5m", &[(r#"{instance="a",job="api"}"#, "0"), (r#"{instance="a",job="db"}"#, "0"), (r#"{instance="b",job="api"}"#, "1")]),
    case(REQUESTS, r#"http_requests == 50"#, "5m", &[(r#"http_requests{instance="a",job="api"}"#, "50")]),
    case(REQUESTS, r#"http_requests / 0"#, "5m", &[(r#"{instance="a",job="api"}"#, "+Inf"), (r#"{instance="a",job="db"}"#, "+Inf"), (r#"{instance="b",job="api"}"#, "+Inf")]),
    case(REQUESTS, r#"(http_requests - 50) / 0 * 0"#, "5m", &[(r#"{instance="a",job="api"}"#, "NaN"), (r#"{instance="a",job="db"}"#, "NaN"), (r#"{instance="b",job="api"}"#, "NaN")]),
    case(REQUESTS, r#"http_requests / ignoring(instance) group_left sum by (job) (http_requests)"#, "5m", &[(r#"{instance="a",job="api"}"#, "0.3333333333333333"), (r#"{instance="a",job="db"}"#, "1"), (r#"{instance="b",job="api"}"#, "0.6666666666666666")]),
    case(REQUESTS, r#"http_requests / on(job) group_left sum by (job) (http_requests)"#, "5m", &[(r#"{instance="a",job="api"}"#, "0.3333333333333333"), (r#"{instance="a",job="db"}"#, "1"), (r#"{instance="b",job="api"}"#, "0.6666666666666666")]),
    case(REQUESTS, r#"sum by (job) (http_requests) / on(job) group_right http_requests"#, "5m", &[(r#"{instance="a",job="api"}"#, "3"), (r#"{instance="a",job="db"}"#, "1"), (r#"{instance="b",job="api"}"#, "1.5")]),
    case(REQUESTS, r#"http_requests * on(instance) group_left(zone) node_info"#, "5m", &[(r#"{instance="a",job="api",zone="z1"}"#, "50"), (r#"{instance="a",job="db",zone="z1"}"#, "30"), (r#"{instance="b",job="api",zone="z2"}"#, "100")]),
    case(REQUESTS, r#"node_info * on(instance) group_right(zone) http_requests"#, "5m", &[(r#"{instance="a",job="api",zone="z1"}"#, "50"), (r#"{instance="a",job="db",zone="z1"}"#, "30"), (r#"{instance="b",job="api",zone="z2"}"#, "100")]),
    fails(REQUESTS, r#"http_requests - ignoring(job) http_requests"#, "5m", "many-to-many matching not allowed: matching labels must be unique on one side"),
    fails(REQUESTS, r#"http_requests{instance="a"} - on(instance) http_requests{job="db"}"#, "5m", "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"),
    case(REQUESTS, r#"http_requests > http_requests offset 1m"#, "5m", &[(r#"http_requests{instance="a",job="api"}"#, "50"), (r#"http_requests{instance="a",job="db"}"#, "30"), (r#"http_requests{instance="b",job="api"}"#, "100")]),
    case(REQUESTS, r#"http_requests >= bool on(job, instance) http_requests offset 1m"#, "5m", &[(r#"{instance="a",job="api"}"#, "1"), (r#"{instance="a",job="db"}"#, "1"), (r#"{instance="b",job="api"}"#, "1")]),
    case(REQUESTS, r#"http_requests and http_requests{instance="a"}"#, "5m", &[(r#"http_requests{instance="a",job="api"}"#, "50"), (r#"http_requests{instance="a",job="db"}"#, "30")]),
    case(REQUESTS, r#"http_requests{job="db"} or node_info"#, "5m", &[(r#"http_requests{instance="a",job="db"}"#, "30"), (r#"node_info{instance="a",zone="z1"}"#, "1"), (r#"node_info{instance="b",zone="z2"}"#, "1")]),
    case(REQUESTS, r#"http_requests unless on(instance) http_requests{job="db"}"#, "5m", &[(r#"http_requests{instance="b",job="api"}"#, "100")]),
    case(REQUESTS, r#"http_requests{job="api"} or on(instance) http_requests{job="db"}"#, "5m", &[(r#"http_requests{instance="a",job="api"}"#, "50"), (r#"http_requests{instance="b",job="api"}"#, "100")]),
    case(REQUESTS, r#"-http_requests"#, "5m", &[(r#"{instance="a",job="api"}"#, "-50"), (r#"{instance="a",job="db"}"#, "-30"), (r#"{instance="b",job="api"}"#, "-100")]),
    case(REQUESTS, r#"-(http_requests offset 1m)"#, "5m", &[(r#"{instance="a",job="api"}"#, "-40"), (r#"{instance="a",job="db"}"#, "-25"), (r#"{instance="b",job="api"}"#, "-80")]),
    case(REQUESTS, r#"http_requests % 7"#, "5m", &[(r#"{instance="a",job="api"}"#, "1"), (r#"{instance="a",job="db"}"#, "2"), (r#"{instance="b",job="api"}"#, "2")]),
    case(REQUESTS, r#"http_requests ^ 0.5"#, "5m", &[(r#"{instance="a",job="api"}"#, "7.0710678118654755"), (r#"{instance="a",job="db"}"#, "5.477225575051661"), (r#"{instance="b",job="api"}"#, "10")]),
    case(GAUGE, r#"1 + 2 * 3"#, "1m", &[(r#"{}"#, "7")]),
    case(GAUGE, r#"2 ^ 3 ^ 2"#, "1m", &[(r#"{}"#, "512")]),
    case(GAUGE, r#"7 % 3"#, "1m", &[(r#"{}"#, "1")]),
    case(GAUGE, r#"-7 % 3"#, "1m", &[(r#"{}"#, "-1")]),
    case(GAUGE, r#"1 == bool 1"#, "1m", &[(r#"{}"#, "1")]),
    case(GAUGE, r#"(1 + 2) * -3"#, "1m", &[(r#"{}"#, "-9")]),
    case(GAUGE, r#"1 / 0"#, "1m", &[(r#"{}"#, "+Inf")]),
    case(GAUGE, r#"0 / 0 > bool 1"#, "1m", &[(r#"{}"#, "0")]),
    case(GAUGE, r#"topk(1, g)"#, "3m", &[(r#"g{a="1"}"#, "8")]),
    case(GAUGE, r#"bottomk(1, g)"#, "3m", &[(r#"g{a="1"}"#, "8")]),
    case(GAUGE, r#"quantile(0.5, g)"#, "3m", &[(r#"{}"#, "NaN")]),
    case(GAUGE, r#"count_values("v", g)"#, "3m", &[(r#"{v="8"}"#, "1"), (r#"{v="NaN"}"#, "1")]),
    case(GAUGE, r#"changes(g[10m])"#, "6m", &[(r#"{a="1"}"#, "6"), (r#"{a="2"}"#, "2")]),
    case(GAUGE, r#"absent(nonexistent{a="1",a="2"})"#, "1m", &[(r#"{}"#, "1")]),
    case(GAUGE, r#"g > 4"#, "3m", &[(r#"g{a="1"}"#, "8")]),
    case(RESET, r#"delta(c[5m])"#, "5m", &[(r#"{}"#, "25")]),
    case(GAUGE, r#"sort(g)"#, "3m", &[(r#"g{a="1"}"#, "8"), (r#"g{a="2"}"#, "NaN")]),
];
