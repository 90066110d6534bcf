//! Expected outputs come from Prometheus' `template/template_test.go` and
//! `rules/alerting_test.go` where they fit this API, and otherwise from what Go's
//! `text/template` and `fmt` print for the same text.

use super::*;

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn labels() -> BTreeMap<String, String> {
    map(&[
        ("alertname", "InstanceDown"),
        ("instance", "host-1:9100"),
        ("job", "node"),
    ])
}

fn render_value(text: &str, value: f64) -> String {
    let (l, e) = (labels(), map(&[("cluster", "eu-1")]));
    let data = TemplateData {
        labels: &l,
        external_labels: &e,
        value,
    };
    match expand(text, &data) {
        Ok(s) => s,
        Err(e) => panic!("{:?} failed to parse: {e}", text.get(..80).unwrap_or(text)),
    }
}

fn render(text: &str) -> String {
    render_value(text, 0.5)
}

fn parse_err(text: &str) -> TemplateError {
    match Template::parse(text) {
        Ok(t) => panic!("{text:?} parsed: {t:?}"),
        Err(e) => e,
    }
}

fn check(cases: &[(&str, &str)]) {
    let mut failures = Vec::new();
    for (text, want) in cases {
        let got = render(text);
        if got != *want {
            failures.push(format!("{text:?}\n   got  {got:?}\n   want {want:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

fn check_values(cases: &[(f64, &str, &str)]) {
    let mut failures = Vec::new();
    for (value, text, want) in cases {
        let got = render_value(text, *value);
        if got != *want {
            failures.push(format!(
                "{value} {text:?}\n   got  {got:?}\n   want {want:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

fn runtime_error(text: &str) -> String {
    let got = render(text);
    let inner = got
        .strip_prefix("<error expanding template: ")
        .and_then(|s| s.strip_suffix('>'));
    match inner {
        Some(s) => s.to_string(),
        None => panic!("{text:?} rendered without error: {got:?}"),
    }
}

#[test]
fn prometheus_template_test_cases() {
    check(&[
        ("plain text", "plain text"),
        ("{{ 1 }}", "1"),
        ("{{ \"<b>\" }}", "<b>"),
        ("{{ reReplaceAll \"(a)b\" \"x$1\" \"ab\" }}", "xa"),
        ("{{ humanize 0.0 }}:{{ humanize 1.0 }}:{{ humanize 1234567.0 }}:{{ humanize .12 }}", "0:1:1.235M:120m"),
        (r#"{{ humanize "0.0" }}:{{ humanize "1.0" }}:{{ humanize "1234567.0" }}:{{ humanize ".12" }}"#, "0:1:1.235M:120m"),
        ("{{ humanize 0 }}:{{ humanize -1 }}:{{ humanize 1 }}:{{ humanize 1234567 }}:{{ humanize 9223372036854775807 }}", "0:-1:1:1.235M:9.223E"),
        ("{{ humanize 18446744073709551615.0 }}", "18.45E"),
        ("{{ humanize1024 0.0 }}:{{ humanize1024 1.0 }}:{{ humanize1024 1048576.0 }}:{{ humanize1024 .12 }}", "0:1:1Mi:0.12"),
        (r#"{{ humanize1024 "0.0" }}:{{ humanize1024 "1.0" }}:{{ humanize1024 "1048576.0" }}:{{ humanize1024 ".12" }}"#, "0:1:1Mi:0.12"),
        ("{{ humanize1024 0 }}:{{ humanize1024 -1 }}:{{ humanize1024 1 }}:{{ humanize1024 1234567 }}:{{ humanize1024 9223372036854775807 }}", "0:-1:1:1.177Mi:8Ei"),
        ("{{ humanize1024 18446744073709551615.0 }}", "16Ei"),
        (
            "{{ humanizeDuration 0 }}:{{ humanizeDuration 1 }}:{{ humanizeDuration 60 }}:{{ humanizeDuration 3600 }}:{{ humanizeDuration 86400 }}:{{ humanizeDuration 90000 }}:{{ humanizeDuration -183845 }}:{{ humanizeDuration 899.99 }}",
            "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:1d 1h 0m 0s:-2d 3h 4m 5s:14m 59s",
        ),
        (r#"{{ humanizeDuration "0" }}:{{ humanizeDuration "1" }}:{{ humanizeDuration "60" }}:{{ humanizeDuration "3600" }}:{{ humanizeDuration "86400" }}"#, "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s"),
        (
            "{{ humanizeDuration .1 }}:{{ humanizeDuration .0001 }}:{{ humanizeDuration .12345 }}:{{ humanizeDuration 60.1 }}:{{ humanizeDuration 60.5 }}:{{ humanizeDuration 1.2345 }}:{{ humanizeDuration 12.345 }}",
            "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s",
        ),
        (
            r#"{{ humanizeDuration ".1" }}:{{ humanizeDuration ".0001" }}:{{ humanizeDuration ".12345" }}:{{ humanizeDuration "60.1" }}:{{ humanizeDuration "60.5" }}:{{ humanizeDuration "1.2345" }}:{{ humanizeDuration "12.345" }}"#,
            "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s",
        ),
        ("{{ humanizeDuration 0 }}:{{ humanizeDuration -1 }}:{{ humanizeDuration 1 }}:{{ humanizeDuration 1234567 }}", "0s:-1s:1s:14d 6h 56m 7s"),
        (
            r#"{{ humanize "+Inf" }}:{{ humanize1024 "+Inf" }}:{{ humanizeDuration "+Inf" }}:{{ humanizeTimestamp "+Inf" }}:{{ humanize "-Inf" }}:{{ humanize1024 "-Inf" }}:{{ humanizeDuration "-Inf" }}:{{ humanizeTimestamp "-Inf" }}:{{ humanize "NaN" }}:{{ humanize1024 "NaN" }}:{{ humanizeDuration "NaN" }}:{{ humanizeTimestamp "NaN" }}:"#,
            "+Inf:+Inf:+Inf:+Inf:-Inf:-Inf:-Inf:-Inf:NaN:NaN:NaN:NaN:",
        ),
        ("{{ -0.22222 | humanizePercentage }}:{{ 0.0 | humanizePercentage }}:{{ 0.1234567 | humanizePercentage }}:{{ 1.23456 | humanizePercentage }}", "-22.22%:0%:12.35%:123.5%"),
        ("{{ humanizePercentage 0 }}:{{ humanizePercentage -1 }}:{{ humanizePercentage 1 }}:{{ humanizePercentage 1234567 }}:{{ humanizePercentage 9223372036854775807 }}", "0%:-100%:100%:1.235e+08%:9.223e+20%"),
        ("{{ humanizePercentage 18446744073709551615.0 }}", "1.845e+21%"),
        (r#"{{ "-0.22222" | humanizePercentage }}:{{ "0.0" | humanizePercentage }}:{{ "0.1234567" | humanizePercentage }}:{{ "1.23456" | humanizePercentage }}"#, "-22.22%:0%:12.35%:123.5%"),
        (
            "{{ humanizeTimestamp 0 }}:{{ humanizeTimestamp -1 }}:{{ humanizeTimestamp 1 }}:{{ humanizeTimestamp 1234567 }}:{{ humanizeTimestamp 9223372036 }}",
            "1970-01-01 00:00:00 +0000 UTC:1969-12-31 23:59:59 +0000 UTC:1970-01-01 00:00:01 +0000 UTC:1970-01-15 06:56:07 +0000 UTC:2262-04-11 23:47:16 +0000 UTC",
        ),
        ("{{ 1435065584.128 | humanizeTimestamp }}", "2015-06-23 13:19:44.128 +0000 UTC"),
        (r#"{{ "1435065584.128" | humanizeTimestamp }}"#, "2015-06-23 13:19:44.128 +0000 UTC"),
        ("{{ \"aa bb CC\" | title }}", "Aa Bb CC"),
        ("{{ \"aa bb CC\" | toUpper }}", "AA BB CC"),
        ("{{ \"aA bB CC\" | toLower }}", "aa bb cc"),
        ("{{ match \"a+\" \"aa\" }} {{ match \"a+\" \"b\" }}", "true false"),
        ("{{ graphLink \"up\" }}", "/graph?g0.expr=up&g0.tab=0"),
        ("{{ tableLink \"up\" }}", "/graph?g0.expr=up&g0.tab=1"),
        ("{{ printf \"%0.2f\" 3720.01 }}", "3720.01"),
        ("{{ \"foo.example.com\" | stripPort }}", "foo.example.com"),
        ("{{ \"foo.example.com:12345\" | stripPort }}", "foo.example.com"),
        ("{{ \"192.0.2.1\" | stripPort }}", "192.0.2.1"),
        ("{{ \"192.0.2.1:12345\" | stripPort }}", "192.0.2.1"),
        ("{{ \"2001:0DB8::1\" | stripPort }}", "2001:0DB8::1"),
        ("{{ \"[2001:0DB8::1]:12345\" | stripPort }}", "2001:0DB8::1"),
        ("{{ \"[2001:0DB8::1]::12345\" | stripPort }}", "[2001:0DB8::1]::12345"),
        ("{{ \"foo.example.com\" | stripDomain }}", "foo"),
        ("{{ \"foo.example.com:12345\" | stripDomain }}", "foo:12345"),
        ("{{ \"192.0.2.1\" | stripDomain }}", "192.0.2.1"),
        ("{{ \"192.0.2.1:12345\" | stripDomain }}", "192.0.2.1:12345"),
        ("{{ \"2001:0DB8::1\" | stripDomain }}", "2001:0DB8::1"),
        ("{{ \"[2001:0DB8::1]:12345\" | stripDomain }}", "[2001:0DB8::1]:12345"),
        ("{{ \"[2001:0DB8::1]::12345\" | stripDomain }}", "[2001:0DB8::1]::12345"),
        // Missing label is empty (missingkey=zero on a map[string]string).
        ("{{ $labels.foo }}", ""),
        ("{{ .Labels.foo }}", ""),
    ]);
}

#[test]
fn prometheus_runtime_errors() {
    let cases = [
        (r#"{{ humanize "one" }}"#, r#"line 1, column 4: error calling humanize: strconv.ParseFloat: parsing "one": invalid syntax"#),
        (r#"{{ humanize1024 "one" }}"#, r#"line 1, column 4: error calling humanize1024: strconv.ParseFloat: parsing "one": invalid syntax"#),
        (r#"{{ humanizeDuration "one" }}"#, r#"line 1, column 4: error calling humanizeDuration: strconv.ParseFloat: parsing "one": invalid syntax"#),
        (r#"{{ "one" | humanizePercentage }}"#, r#"line 1, column 12: error calling humanizePercentage: strconv.ParseFloat: parsing "one": invalid syntax"#),
        (
            "{{ humanizeTimestamp -9223372036854775808 }}",
            "line 1, column 4: error calling humanizeTimestamp: -9.223372036854776e+18 cannot be represented as a nanoseconds timestamp since it overflows int64",
        ),
        (
            "{{ humanizeTimestamp 18446744073709551615.0 }}",
            "line 1, column 4: error calling humanizeTimestamp: 1.8446744073709552e+19 cannot be represented as a nanoseconds timestamp since it overflows int64",
        ),
        (r#"{{ humanize "1e400" }}"#, r#"line 1, column 4: error calling humanize: strconv.ParseFloat: parsing "1e400": value out of range"#),
        (r#"{{ humanize "-NaN" }}"#, r#"line 1, column 4: error calling humanize: strconv.ParseFloat: parsing "-NaN": invalid syntax"#),
        ("{{ humanize true }}", "line 1, column 4: error calling humanize: can't convert bool to float"),
        ("{{ humanize $labels }}", "line 1, column 4: error calling humanize: can't convert map[string]string to float"),
    ];
    for (text, want) in cases {
        assert_eq!(runtime_error(text), want, "{text}");
    }
}

#[test]
fn humanize_edge_cases() {
    check_values(&[
        (0.0, "{{ humanize $value }}", "0"),
        (-0.0, "{{ humanize $value }}", "-0"),
        (f64::NAN, "{{ humanize $value }}", "NaN"),
        (f64::INFINITY, "{{ humanize $value }}", "+Inf"),
        (f64::NEG_INFINITY, "{{ humanize $value }}", "-Inf"),
        (1e-30, "{{ humanize $value }}", "1e-06y"),
        (1e30, "{{ humanize $value }}", "1e+06Y"),
        (1.5e-7, "{{ humanize $value }}", "150n"),
        (-1234.0, "{{ humanize $value }}", "-1.234k"),
        (999.99, "{{ humanize $value }}", "1000"),
        (1000.0, "{{ humanize $value }}", "1k"),
        (0.001, "{{ humanize $value }}", "1m"),
        (5e-324, "{{ humanize $value }}", "4.941e-300y"),
        (f64::MAX, "{{ humanize $value }}", "1.798e+284Y"),
        (1024.0, "{{ humanize1024 $value }}", "1ki"),
        (-2048.0, "{{ humanize1024 $value }}", "-2ki"),
        (0.5, "{{ humanize1024 $value }}", "0.5"),
        (1.5, "{{ humanize1024 $value }}", "1.5"),
        (1e30, "{{ humanize1024 $value }}", "8.272e+05Yi"),
        (f64::NAN, "{{ humanize1024 $value }}", "NaN"),
        (0.0, "{{ humanizeDuration $value }}", "0s"),
        (1e-30, "{{ humanizeDuration $value }}", "1e-06ys"),
        (-0.5, "{{ humanizeDuration $value }}", "-500ms"),
        (59.999, "{{ humanizeDuration $value }}", "60s"),
        (3599.0, "{{ humanizeDuration $value }}", "59m 59s"),
        (
            1e20,
            "{{ humanizeDuration $value }}",
            "-106751991167300d -15h -30m -8s",
        ),
        (f64::NEG_INFINITY, "{{ humanizeDuration $value }}", "-Inf"),
        (0.0, "{{ humanizePercentage $value }}", "0%"),
        (1.0, "{{ humanizePercentage $value }}", "100%"),
        (0.00001234, "{{ humanizePercentage $value }}", "0.001234%"),
        (f64::NAN, "{{ humanizePercentage $value }}", "NaN%"),
        (f64::INFINITY, "{{ humanizePercentage $value }}", "+Inf%"),
        (
            1.5,
            "{{ humanizeTimestamp $value }}",
            "1970-01-01 00:00:01.5 +0000 UTC",
        ),
        (
            -1.5,
            "{{ humanizeTimestamp $value }}",
            "1969-12-31 23:59:58.5 +0000 UTC",
        ),
        (
            1.0001,
            "{{ humanizeTimestamp $value }}",
            "1970-01-01 00:00:01 +0000 UTC",
        ),
        (
            951_782_400.0,
            "{{ humanizeTimestamp $value }}",
            "2000-02-29 00:00:00 +0000 UTC",
        ),
        (
            1657155181.0,
            "{{ humanizeTimestamp $value }}",
            "2022-07-07 00:53:01 +0000 UTC",
        ),
        (
            -9_223_372_036.0,
            "{{ humanizeTimestamp $value }}",
            "1677-09-21 00:12:44 +0000 UTC",
        ),
        (f64::NAN, "{{ humanizeTimestamp $value }}", "NaN"),
    ]);
}

#[test]
fn value_prints_like_go_percent_v() {
    check_values(&[
        (0.5, "{{ $value }}", "0.5"),
        (1e6, "{{ $value }}", "1e+06"),
        (100.0, "{{ $value }}", "100"),
        (100000.0, "{{ $value }}", "100000"),
        (123456789.0, "{{ $value }}", "1.23456789e+08"),
        (0.0001, "{{ $value }}", "0.0001"),
        (0.00001, "{{ $value }}", "1e-05"),
        (0.1 + 0.2, "{{ $value }}", "0.30000000000000004"),
        (1.5e300, "{{ $value }}", "1.5e+300"),
        (5e-324, "{{ $value }}", "5e-324"),
        (0.0, "{{ $value }}", "0"),
        (-0.0, "{{ $value }}", "-0"),
        (-2.5, "{{ $value }}", "-2.5"),
        (f64::NAN, "{{ $value }}", "NaN"),
        (f64::INFINITY, "{{ $value }}", "+Inf"),
        (f64::NEG_INFINITY, "{{ $value }}", "-Inf"),
        (1353755652.0, "{{ $value }}", "1.353755652e+09"),
        (42.0, "{{ .Value }}", "42"),
    ]);
}

#[test]
fn printf_verbs() {
    check(&[
        ("{{ printf \"%.2f\" $value }}", "0.50"),
        ("{{ printf \"%.2f\" 2.675 }}", "2.67"),
        ("{{ printf \"%.0f\" 2.5 }}:{{ printf \"%.0f\" 3.5 }}", "2:4"),
        ("{{ printf \"%f\" 3.0 }}", "3.000000"),
        ("{{ printf \"%5.1f|\" 3.14159 }}", "  3.1|"),
        ("{{ printf \"%-8.3f|\" -3.14159 }}", "-3.142  |"),
        ("{{ printf \"%08.3f\" -3.14159 }}", "-003.142"),
        ("{{ printf \"%+.1f\" 2.0 }}", "+2.0"),
        ("{{ printf \"%e\" 1234.5678 }}", "1.234568e+03"),
        ("{{ printf \"%E\" 0.000123 }}", "1.230000E-04"),
        ("{{ printf \"%.2e\" 0.0 }}", "0.00e+00"),
        ("{{ printf \"%g\" 1234.5678 }}", "1234.5678"),
        ("{{ printf \"%g\" 1e21 }}", "1e+21"),
        ("{{ printf \"%.3g\" 1234.5678 }}", "1.23e+03"),
        ("{{ printf \"%.4g\" 100000.0 }}", "1e+05"),
        ("{{ printf \"%G\" 1e-10 }}", "1E-10"),
        ("{{ printf \"%v\" 1e6 }}", "1e+06"),
        ("{{ printf \"%8.2f|%-8v|\" 1.0 2.5 }}", "    1.00|2.5     |"),
        ("{{ printf \"%f %v\" $value $value }}", "0.500000 0.5"),
        ("{{ printf \"%d\" 42 }}", "42"),
        ("{{ printf \"%5d|%-5d|%05d\" 42 42 42 }}", "   42|42   |00042"),
        ("{{ printf \"%+d % d\" 42 42 }}", "+42  42"),
        ("{{ printf \"%.3d\" 7 }}", "007"),
        ("{{ printf \"%x %X %#x %o %#o %b\" 255 255 255 8 8 5 }}", "ff FF 0xff 10 010 101"),
        ("{{ printf \"%x\" -255 }}", "-ff"),
        ("{{ printf \"%c%c\" 72 105 }}", "Hi"),
        ("{{ printf \"%q\" 65 }}", "'A'"),
        ("{{ printf \"%U\" 65 }}", "U+0041"),
        ("{{ printf \"%d\" $value }}", "%!d(float64=0.5)"),
        ("{{ printf \"%d\" 1.0 }}", "%!d(float64=1)"),
        ("{{ printf \"%s\" $value }}", "%!s(float64=0.5)"),
        ("{{ printf \"%f\" 5 }}", "%!f(int=5)"),
        ("{{ printf \"%d\" \"x\" }}", "%!d(string=x)"),
        ("{{ printf \"%5d\" \"ab\" }}", "%!d(string=   ab)"),
        ("{{ printf \"%z\" 1 }}", "%!z(int=1)"),
        ("{{ printf \"%s\" true }}", "%!s(bool=true)"),
        ("{{ printf \"%t %v\" true false }}", "true false"),
        ("{{ printf \"%s\" nil }}", "%!s(<nil>)"),
        ("{{ printf \"%v\" nil }}", "<nil>"),
        ("{{ printf \"%s\" \"hello\" }}", "hello"),
        ("{{ printf \"%.3s|%6s|%-6s|\" \"abcdef\" \"ab\" \"ab\" }}", "abc|    ab|ab    |"),
        ("{{ printf \"%q\" \"a\\\"b\\n\" }}", "\"a\\\"b\\n\""),
        ("{{ printf \"%x %X % x\" \"hi\" \"hi\" \"hi\" }}", "6869 6869 68 69"),
        ("{{ printf \"%v\" $labels }}", "map[alertname:InstanceDown instance:host-1:9100 job:node]"),
        ("{{ printf \"%d\" $labels }}", "map[%!d(string=alertname):%!d(string=InstanceDown) %!d(string=instance):%!d(string=host-1:9100) %!d(string=job):%!d(string=node)]"),
        ("{{ printf \"%T %T %T %T\" 1 1.5 \"s\" $labels }}", "int float64 string map[string]string"),
        ("{{ printf \"100%%\" }}", "100%"),
        ("{{ printf \"%.1f%%\" 99.44 }}", "99.4%"),
        ("{{ printf \"%d\" }}", "%!d(MISSING)"),
        ("{{ printf \"%d\" 1 2 \"x\" }}", "1%!(EXTRA int=2, string=x)"),
        ("{{ printf \"abc%\" }}", "abc%!(NOVERB)"),
        ("{{ printf \"%s: %.1f\" $labels.instance $value }}", "host-1:9100: 0.5"),
        ("{{ printf \"%6.2f%%\" 12.3456 }}", " 12.35%"),
        ("{{ printf \"%v\" 'x' }}", "120"),
        ("{{ printf \"%f\" $value | printf \"[%s]\" }}", "[0.500000]"),
    ]);
    check_values(&[
        (
            f64::NAN,
            "{{ printf \"%.2f|%5.1f|%+f\" $value $value $value }}",
            "NaN|  NaN|+NaN",
        ),
        (
            f64::INFINITY,
            "{{ printf \"%.2f|%05.1f|%e\" $value $value $value }}",
            "+Inf| +Inf|+Inf",
        ),
        (f64::NEG_INFINITY, "{{ printf \"%g\" $value }}", "-Inf"),
        (
            1e20,
            "{{ printf \"%.2f\" $value }}",
            "100000000000000000000.00",
        ),
        (-0.0, "{{ printf \"%.1f\" $value }}", "-0.0"),
    ]);
}

#[test]
fn common_rule_texts() {
    check(&[
        (
            "{{ $labels.instance }} of job {{ $labels.job }} has been down for more than 5 minutes.",
            "host-1:9100 of job node has been down for more than 5 minutes.",
        ),
        (
            "VALUE = {{ $value }}\n  LABELS = {{ $labels }}",
            "VALUE = 0.5\n  LABELS = map[alertname:InstanceDown instance:host-1:9100 job:node]",
        ),
        ("{{ $value | humanizePercentage }}", "50%"),
        ("{{ printf \"%.2f\" $value }}", "0.50"),
        ("Instance {{ $labels.instance }} down", "Instance host-1:9100 down"),
        ("{{ $labels.instance | stripPort }}", "host-1"),
        ("{{ $value | humanize }}B/s", "500mB/s"),
        ("Disk is {{ humanize1024 $value }}B", "Disk is 0.5B"),
        ("{{ .Labels.job }}/{{ .ExternalLabels.cluster }}", "node/eu-1"),
        ("{{ $externalLabels.cluster }}", "eu-1"),
        ("There are {{ len $externalLabels }} external Labels, of which foo is {{ $externalLabels.foo }}.", "There are 1 external Labels, of which foo is ."),
        ("The external URL is {{ $externalURL }}.", "The external URL is ."),
        ("{{ if lt $value 80.0 }}critical{{ else }}warning{{ end }}", "critical"),
        ("{{ index $labels \"job\" }}|{{ index $labels \"nope\" }}|", "node||"),
        ("{{ $labels.severity | toUpper }}", ""),
        ("{{ or $labels.severity \"warning\" }}", "warning"),
        ("{{ . }}", "{map[alertname:InstanceDown instance:host-1:9100 job:node] map[cluster:eu-1]  0.5}"),
        ("{{ $.Labels.alertname }}", "InstanceDown"),
        ("{{ with $labels.job }}job={{ . }}{{ end }}", "job=node"),
        ("{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}", "alertname=InstanceDown;instance=host-1:9100;job=node;"),
        ("{{ title \"disk usage on /var is high\" }}", "Disk Usage On /Var Is High"),
        ("{{ reReplaceAll \":.*\" \"\" $labels.instance }}", "host-1"),
        ("{{ reReplaceAll \"(?P<host>[^:]+):(\\\\d+)\" \"${host} port $2\" $labels.instance }}", "host-1 port 9100"),
        ("{{ if match \"^host-\" $labels.instance }}yes{{ end }}", "yes"),
        ("{{ humanizeDuration 3725 }}", "1h 2m 5s"),
    ]);
    check_values(&[
        (0.8512, "{{ $value | humanizePercentage }}", "85.12%"),
        (1234567.0, "{{ $value | humanize }}", "1.235M"),
        (95.0, "{{ if gt $value 90.0 }}critical{{ else if gt $value 80.0 }}major{{ else }}minor{{ end }}", "critical"),
        (85.0, "{{ if gt $value 90.0 }}critical{{ else if gt $value 80.0 }}major{{ else }}minor{{ end }}", "major"),
        (5.0, "{{ if gt $value 90.0 }}critical{{ else if gt $value 80.0 }}major{{ else }}minor{{ end }}", "minor"),
        (7200.0, "up for {{ $value | humanizeDuration }}", "up for 2h 0m 0s"),
        (1e9, "{{ $value | humanize1024 }}", "953.7Mi"),
    ]);
}

#[test]
fn trim_markers_and_comments() {
    check(&[
        ("a  {{- 1 -}}  b", "a1b"),
        ("a \n\t {{- 1 }} b", "a1 b"),
        ("a {{ 1 -}} \n\n b", "a 1b"),
        ("{{- 1 -}}", "1"),
        ("x {{/* a comment */}} y", "x  y"),
        ("x {{- /* a comment */ -}} y", "xy"),
        ("{{/* multi\nline */}}z", "z"),
        ("{{ if true -}}\n  yes\n{{- end }}", "yes"),
        ("{{-3}}", "-3"),
        ("{{ 3 -}}\n x", "3x"),
        ("a {{- \"x\" }}", "ax"),
        ("{{ \"}}\" }}", "}}"),
        ("{{ `{{` }}", "{{"),
        ("}} stray", "}} stray"),
    ]);
}

#[test]
fn control_structures() {
    check(&[
        ("{{ if true }}a{{ end }}", "a"),
        ("{{ if false }}a{{ else }}b{{ end }}", "b"),
        (
            "{{ if 0 }}a{{ else if \"\" }}b{{ else if 0.0 }}c{{ else }}d{{ end }}",
            "d",
        ),
        ("{{ if $labels.job }}has job{{ end }}", "has job"),
        (
            "{{ if $labels.nope }}x{{ else }}no label{{ end }}",
            "no label",
        ),
        ("{{ if $labels }}labels{{ end }}", "labels"),
        (
            "{{ if and (eq $labels.job \"node\") (lt $value 1.0) }}both{{ end }}",
            "both",
        ),
        ("{{ with $labels.nope }}x{{ else }}empty{{ end }}", "empty"),
        (
            "{{ with $labels.nope }}x{{ else with $labels.job }}{{ . }}{{ end }}",
            "node",
        ),
        (
            "{{ with $x := $labels.job }}{{ $x }}{{ . }}{{ end }}",
            "nodenode",
        ),
        (
            "{{ range $labels }}{{ . }},{{ end }}",
            "InstanceDown,host-1:9100,node,",
        ),
        (
            "{{ range $v := $labels }}{{ $v }},{{ end }}",
            "InstanceDown,host-1:9100,node,",
        ),
        (
            "{{ range $k, $v := $externalLabels }}{{ $k }}{{ $v }}{{ else }}none{{ end }}",
            "clustereu-1",
        ),
        ("{{ range 3 }}{{ . }}{{ end }}", "012"),
        (
            "{{ range $i := 5 }}{{ if eq $i 3 }}{{ break }}{{ end }}{{ $i }}{{ end }}",
            "012",
        ),
        (
            "{{ range $i := 5 }}{{ if eq $i 1 }}{{ continue }}{{ end }}{{ $i }}{{ end }}",
            "0234",
        ),
        ("{{ range 0 }}x{{ else }}empty{{ end }}", "empty"),
        (
            "{{ range $k, $v := $labels }}{{ if eq $k \"job\" }}{{ $v }}{{ end }}{{ end }}",
            "node",
        ),
        (
            "{{ range $labels }}{{ $labels.job }}{{ end }}",
            "nodenodenode",
        ),
    ]);
}

#[test]
fn variables_and_scoping() {
    check(&[
        ("{{ $x := 1 }}{{ $x }}{{ $x = 2 }}{{ $x }}", "12"),
        (
            "{{ $x := \"a\" }}{{ if true }}{{ $x := \"b\" }}{{ $x }}{{ end }}{{ $x }}",
            "ba",
        ),
        (
            "{{ $x := \"a\" }}{{ if true }}{{ $x = \"b\" }}{{ end }}{{ $x }}",
            "b",
        ),
        (
            "{{ $n := 0 }}{{ range $labels }}{{ $n = 1 }}{{ end }}{{ $n }}",
            "1",
        ),
        ("{{ $value = 3.0 }}{{ $value }}", "3"),
        ("{{ $l := $labels }}{{ $l.job }}", "node"),
        (
            "{{ $ }}",
            "{map[alertname:InstanceDown instance:host-1:9100 job:node] map[cluster:eu-1]  0.5}",
        ),
        (
            "{{ if $x := $labels.job }}{{ $x }}{{ else }}{{ $x }}!{{ end }}",
            "node",
        ),
        ("{{ $u := .Labels }}{{ $u.alertname }}", "InstanceDown"),
    ]);
}

#[test]
fn builtin_functions() {
    check(&[
        (
            "{{ and 1 0 }}|{{ and 1 2 }}|{{ or 0 \"\" }}|{{ or 0 3 }}",
            "0|2||3",
        ),
        ("{{ or 1 (index 1 1) }}", "1"),
        ("{{ and 0 (index 1 1) }}", "0"),
        (
            "{{ not \"\" }} {{ not 1 }} {{ not $labels }}",
            "true false false",
        ),
        ("{{ len \"héllo\" }} {{ len $labels }}", "6 3"),
        ("{{ index \"abc\" 1 }}", "98"),
        (
            "{{ index $labels }}",
            "map[alertname:InstanceDown instance:host-1:9100 job:node]",
        ),
        (
            "{{ eq $labels.job \"node\" }} {{ eq 1 2 1 }} {{ eq 1 2 3 }} {{ eq true true }}",
            "true true false true",
        ),
        (
            "{{ ne \"a\" \"b\" }} {{ lt 1 2 }} {{ le 2 2 }} {{ gt 1.5 2.5 }} {{ ge \"b\" \"a\" }}",
            "true true true false true",
        ),
        ("{{ lt \"a\" \"b\" }} {{ gt 3 2 }}", "true true"),
        (
            "{{ print 1 2 }}|{{ print \"a\" 1 2 \"b\" }}|{{ print \"a\" \"b\" }}",
            "1 2|a1 2b|ab",
        ),
        ("{{ println \"a\" 1 }}", "a 1\n"),
        ("{{ print 0.5 true nil }}", "0.5 true <nil>"),
        (
            "{{ html \"<a href='x'>&\\\"\" }}",
            "&lt;a href=&#39;x&#39;&gt;&amp;&#34;",
        ),
        ("{{ js \"a'b<\\\\\" }}", "a\\'b\\u003C\\\\"),
        ("{{ urlquery \"a b&c/é\" }}", "a+b%26c%2F%C3%A9"),
        (
            "{{ urlQueryEscape \"up{job=\\\"x\\\"}\" }}",
            "up%7Bjob%3D%22x%22%7D",
        ),
        ("{{ \"<b>\" | safeHtml }}", "<b>"),
        ("{{ externalURL }}|{{ pathPrefix }}", "|"),
        ("{{ toUpper \"straße\" }} {{ toLower \"ÀB\" }}", "STRAßE àb"),
        // x/text's word breaking: a digit does not start a word, one "mid" character does
        // not end it (outputs taken from golang.org/x/text/cases itself).
        (
            "{{ title \"hello-world foo_bar o'neil x.y 3am\" }}",
            "Hello-World Foo_bar O'neil X.y 3Am",
        ),
        ("{{ title \"straße ß ﬁx ǆungla\" }}", "Straße Ss Fix ǅungla"),
        (
            r#"{{ title "a..b a. b x:y \"quoted\" (paren) [br] {c} a,b a;b 1.5k" }}"#,
            r#"A..B A. B X:y "Quoted" (Paren) [Br] {C} A,B A;B 1.5K"#,
        ),
        (
            "{{ title \"ÀB éclair\" }} {{ toLower \"ΣΊΣΥΦΟΣ\" }}",
            "ÀB Éclair σίσυφοσ",
        ),
        ("{{ reReplaceAll \"a*\" \"X\" \"baaac\" }}", "XbXcX"),
        ("{{ reReplaceAll \"(a)\" \"$1x\" \"a\" }}", ""),
        ("{{ reReplaceAll \"(a)\" \"${1}x $$\" \"a\" }}", "ax $"),
        ("{{ match \"^[a-z]+$\" \"abc\" }}", "true"),
        ("{{ \"abc\" | printf \"%s-%s\" \"x\" }}", "x-abc"),
        ("{{ printf \"%s\" (toUpper \"a\") }}", "A"),
        ("{{ (index $labels \"instance\") | stripPort }}", "host-1"),
        ("{{ \"x\" | len }}", "1"),
        ("{{ $labels | len }}", "3"),
        ("{{ print externalURL }}", ""),
    ]);
}

#[test]
fn literals() {
    check(&[
        ("{{ \"a\\tb\\u00e9\\x41\\101\\\\\" }}", "a\tbéAA\\"),
        ("{{ `a\\n` }}", "a\\n"),
        ("{{ `multi\nline` }}", "multi\nline"),
        (
            "{{ 'a' }} {{ '\\n' }} {{ '\\x41' }} {{ 'é' }}",
            "97 10 65 233",
        ),
        (
            "{{ 0x10 }} {{ 0o17 }} {{ 017 }} {{ 0b101 }} {{ 1_000 }}",
            "16 15 15 5 1000",
        ),
        (
            "{{ 1e3 }} {{ 1.0 }} {{ -1.5 }} {{ .5 }} {{ +2 }} {{ 1.5e-7 }}",
            "1000 1 -1.5 0.5 2 1.5e-07",
        ),
        ("{{ -9223372036854775808 }}", "-9223372036854775808"),
        ("{{ true }} {{ false }}", "true false"),
        // Deliberate deviation: Rust strings are UTF-8, so a lone "\xff" byte becomes U+FFFD
        // (3 bytes) where Go keeps 1 byte.
        ("{{ \"\\xff\" | len }}", "3"),
    ]);
}

#[test]
fn runtime_errors_render_like_prometheus() {
    let root = ROOT_TYPE;
    let cases: Vec<(&str, String)> = vec![
        ("{{ toUpper $value }}", "line 1, column 4: wrong type for value; expected string; got float64".into()),
        ("{{ .Foo }}", format!("line 1, column 4: can't evaluate field Foo in type {root}")),
        ("{{ $labels.job.x }}", "line 1, column 4: can't evaluate field x in type string".into()),
        ("{{ if gt $value 80 }}x{{ end }}", "line 1, column 7: error calling gt: incompatible types for comparison".into()),
        ("{{ eq 1 1.0 }}", "line 1, column 4: error calling eq: incompatible types for comparison".into()),
        ("{{ eq 1 }}", "line 1, column 4: error calling eq: missing argument for comparison".into()),
        ("{{ lt true false }}", "line 1, column 4: error calling lt: invalid type for comparison".into()),
        ("{{ eq $labels $labels }}", "line 1, column 4: error calling eq: non-comparable type map[alertname:InstanceDown instance:host-1:9100 job:node]: map[string]string".into()),
        ("{{ humanize 1 2 }}", "line 1, column 4: wrong number of args for humanize: want 1 got 2".into()),
        ("{{ and }}", "line 1, column 4: wrong number of args for and: want at least 1 got 0".into()),
        ("{{ $labels.instance 1 }}", "line 1, column 4: instance is not a method but has arguments".into()),
        ("{{ 1 | $labels }}", "line 1, column 8: can't give argument to non-function $labels".into()),
        ("{{ nil }}", "line 1, column 4: nil is not a command".into()),
        ("{{ range $value }}{{ end }}", "line 1, column 10: range can't iterate over 0.5".into()),
        ("{{ range \"abc\" }}{{ end }}", "line 1, column 10: range can't iterate over abc".into()),
        ("{{ len 3 }}", "line 1, column 4: error calling len: len of type int".into()),
        ("{{ index $value 1 }}", "line 1, column 4: error calling index: can't index item of type float64".into()),
        ("{{ index \"abc\" 5 }}", "line 1, column 4: error calling index: index out of range: 5".into()),
        ("{{ index $labels 1 }}", "line 1, column 4: error calling index: value has type int; should be string".into()),
        ("{{ printf 1 }}", "line 1, column 4: wrong type for value; expected string; got int".into()),
        ("{{ reReplaceAll \"(\" \"\" \"x\" }}", "line 1, column 4: error calling reReplaceAll: error parsing regexp: unclosed group: `(`".into()),
        ("{{ match \"[\" \"x\" }}", "line 1, column 4: error calling match: error parsing regexp: unclosed character class: `[`".into()),
        ("line1\n  {{ humanize \"x\" }}", "line 2, column 6: error calling humanize: strconv.ParseFloat: parsing \"x\": invalid syntax".into()),
        ("{{ range 100000 }}{{ end }}", "line 1, column 10: range iteration limit (10000) exceeded".into()),
        ("{{ range $i, $e := 3 }}{{ end }}", "line 1, column 20: can't use 3 to iterate over more than one variable".into()),
    ];
    for (text, want) in cases {
        assert_eq!(runtime_error(text), want, "{text}");
    }
    // Partial output is dropped, as Prometheus drops its buffer on error.
    assert_eq!(render("before {{ humanize \"x\" }} after"), "<error expanding template: line 1, column 11: error calling humanize: strconv.ParseFloat: parsing \"x\": invalid syntax>");
}

#[test]
fn parse_errors_have_positions() {
    let deep = "{{ if true }}".repeat(33) + &"{{ end }}".repeat(33);
    let parens = format!("{{{{ {}1{} }}}}", "(".repeat(33), ")".repeat(33));
    let long = "x".repeat(MAX_TEXT + 1);
    let cases: Vec<(&str, usize, usize, &str)> = vec![
        ("{{", 1, 1, "unclosed action"),
        ("ok {{ 1 ", 1, 4, "unclosed action"),
        (
            "abc {{ humanise $value }}",
            1,
            8,
            "function \"humanise\" not defined",
        ),
        (
            "{{ $value | humanise }}",
            1,
            13,
            "function \"humanise\" not defined",
        ),
        (
            "{{ query \"up\" }}",
            1,
            4,
            "function \"query\" is not supported",
        ),
        ("{{ $x }}", 1, 4, "undefined variable \"$x\""),
        ("{{ $x = 1 }}", 1, 4, "undefined variable \"$x\""),
        (
            "{{ if true }}{{ $y := 1 }}{{ end }}{{ $y }}",
            1,
            39,
            "undefined variable \"$y\"",
        ),
        ("a\n{{ end }}", 2, 1, "unexpected {{end}}"),
        ("{{ else }}", 1, 1, "unexpected {{else}}"),
        (
            "x {{ if true }}y",
            1,
            3,
            "unexpected EOF: {{if}} has no matching {{end}}",
        ),
        (
            "{{ range $labels }}y{{ else }}",
            1,
            1,
            "unexpected EOF: {{range}} has no matching {{end}}",
        ),
        (
            "{{ if 1 }}{{ else }}{{ else }}{{ end }}",
            1,
            21,
            "expected {{end}}; found {{else}}",
        ),
        ("line1\n  {{ \"abc }}", 2, 6, "unterminated quoted string"),
        (
            "{{ \"\\q\" }}",
            1,
            4,
            "invalid syntax in quoted string \"\\q\"",
        ),
        ("{{ `abc }}", 1, 4, "unterminated raw quoted string"),
        ("{{ 'ab' }}", 1, 4, "malformed character constant: 'ab'"),
        ("{{ 1x }}", 1, 4, "bad number syntax: \"1x\""),
        ("{{ 0x }}", 1, 4, "illegal number syntax: \"0x\""),
        (
            "{{ 99999999999999999999 }}",
            1,
            4,
            "integer overflow: \"99999999999999999999\"",
        ),
        ("{{ 1i }}", 1, 4, "illegal number syntax: \"1i\""),
        ("{{/* unclosed }}", 1, 1, "unclosed comment"),
        (
            "{{/* c */ x }}",
            1,
            1,
            "comment ends before closing delimiter",
        ),
        (
            "{{ 1 | 2 }}",
            1,
            8,
            "non executable command in pipeline stage 2",
        ),
        ("{{ if }}{{ end }}", 1, 7, "missing value for if"),
        ("{{ }}", 1, 4, "missing value for command"),
        ("{{ (1 }}", 1, 4, "unclosed left paren"),
        ("{{ 1) }}", 1, 5, "unexpected \")\" in command"),
        ("{{ break }}", 1, 4, "{{break}} outside {{range}}"),
        (
            "{{ range 1 }}{{ else }}{{ continue }}{{ end }}",
            1,
            27,
            "{{continue}} outside {{range}}",
        ),
        (
            "{{ define \"x\" }}{{ end }}",
            1,
            4,
            "{{define}} is not supported",
        ),
        (
            "{{ template \"x\" }}",
            1,
            4,
            "{{template}} is not supported",
        ),
        (
            "{{ @ }}",
            1,
            4,
            "unrecognized character in action: U+0040 '@'",
        ),
        (
            "{{ \u{a0}}}",
            1,
            4,
            "unrecognized character in action: U+00A0",
        ),
        ("{{ $labels.a-b }}", 1, 13, "bad character U+002D '-'"),
        ("{{ \"a\".x }}", 1, 7, "unexpected . after term"),
        ("{{ \"a\"\"b\" }}", 1, 7, "unexpected \"b\" in operand"),
        (
            "{{ if 1 $ := 2 }}{{ end }}",
            1,
            11,
            "unexpected \":=\" in operand",
        ),
        ("{{ $x :- 2 }}", 1, 7, "expected :="),
        (
            "{{ $a, $b := $labels }}",
            1,
            4,
            "too many declarations in command",
        ),
        (
            "{{ range $a, 1 }}{{ end }}",
            1,
            10,
            "range can only initialize variables",
        ),
        (
            "{{ range $a, $b, $c := $labels }}{{ end }}",
            1,
            14,
            "too many declarations in range",
        ),
        ("{{ end x }}", 1, 8, "unexpected \"x\" in end"),
        (
            deep.as_str(),
            1,
            417,
            "template nesting too deep (limit 32)",
        ),
        (
            parens.as_str(),
            1,
            36,
            "template nesting too deep (limit 32)",
        ),
        (long.as_str(), 1, 1, "template text exceeds 65536 bytes"),
    ];
    let mut failures = Vec::new();
    for (text, line, column, message) in cases {
        let got = parse_err(text);
        let want = TemplateError {
            line,
            column,
            message: message.to_string(),
        };
        if got != want {
            failures.push(format!(
                "{:?}\n   got  {got}\n   want {want}",
                text.get(..60).unwrap_or(text)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn error_display() {
    let e = parse_err("{{ $value | humanise }}");
    assert_eq!(
        e.to_string(),
        "line 1, column 13: function \"humanise\" not defined"
    );
    let boxed: Box<dyn std::error::Error> = Box::new(e);
    assert!(boxed.to_string().starts_with("line 1"));
}

#[test]
fn limits_bound_output_and_values() {
    let out = render("{{ range 10000 }}{{ printf \"%100s\" \"\" }}{{ end }}");
    assert_eq!(out.len(), MAX_OUTPUT);
    let out = render("{{ printf \"%65535s\" \"\" }}{{ range 10 }}é{{ end }}");
    assert_eq!(out.len(), MAX_OUTPUT - 1, "truncation keeps UTF-8 whole");
    let doubling = "{{ $x := \"aaaaaaaaaa\" }}{{ range 20 }}{{ $x = printf \"%s%s\" $x $x }}{{ end }}{{ len $x }}";
    assert!(
        runtime_error(doubling).contains("result of printf exceeds 65536 bytes"),
        "{}",
        render(doubling)
    );
    let repl = "{{ $x := printf \"%60000s\" \"\" }}{{ reReplaceAll \"\" \"yy\" $x | len }}";
    assert!(
        runtime_error(repl).contains("error calling reReplaceAll: result exceeds"),
        "{}",
        render(repl)
    );
    assert_eq!(render("{{ printf \"%99999999999d\" 1 | len }}"), "65536");
    let nested = "{{ range 200 }}{{ range 200 }}{{ end }}{{ end }}";
    assert!(runtime_error(nested).contains("range iteration limit"));
    let big = "{{ 1 }}".repeat(MAX_TEXT / 7);
    assert_eq!(render(&big).len(), MAX_TEXT / 7);
}

#[test]
fn template_is_reusable_across_alerts() {
    let t = Template::parse("{{ $labels.instance }}={{ $value }}").expect("parses");
    let empty = BTreeMap::new();
    for (host, value, want) in [("a", 1.0, "a=1"), ("b", 2.5, "b=2.5")] {
        let l = map(&[("instance", host)]);
        let data = TemplateData {
            labels: &l,
            external_labels: &empty,
            value,
        };
        assert_eq!(t.render(&data), want);
    }
}

/// Random token soup must never panic, whatever it parses to.
#[test]
fn hostile_input_never_panics() {
    let pieces = [
        "{{",
        "}}",
        "{{-",
        " -}}",
        "if",
        "else",
        "end",
        "range",
        "with",
        "$x",
        ":=",
        "=",
        "$labels",
        ".",
        ".Labels",
        "(",
        ")",
        "|",
        "\"s\"",
        "`r`",
        "'c'",
        "1",
        "-2.5e3",
        "0x",
        "printf",
        "\"%d%s%-9.3q%\"",
        "humanize",
        "index",
        "and",
        "or",
        "break",
        "continue",
        "é",
        "\n",
        " ",
        "/*",
        "*/",
        "\\",
        "len",
        "reReplaceAll",
        "\"(\"",
        "eq",
        "nil",
        "$",
        ",",
        "$k",
        "99999999999999999999999",
        "title",
        "\u{a0}",
    ];
    let (l, e) = (labels(), BTreeMap::new());
    let data = TemplateData {
        labels: &l,
        external_labels: &e,
        value: f64::NAN,
    };
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut parsed = 0;
    for _ in 0..3000 {
        let mut text = String::new();
        for _ in 0..(seed % 24) {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            text.push_str(pieces[(seed >> 33) as usize % pieces.len()]);
        }
        if let Ok(t) = Template::parse(&text) {
            parsed += 1;
            assert!(t.render(&data).len() <= MAX_OUTPUT);
        }
    }
    assert!(parsed > 0);
}
