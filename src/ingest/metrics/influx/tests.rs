use super::*;
use crate::domain::metrics::SeriesSamples;
use crate::ingest::metrics::tests::{assert_one_error, malformed, series, NOW};

fn decode_with(body: &str, precision: Precision) -> Result<MetricBatch, IngestError> {
    InfluxDecoder::with_precision(precision).decode(body.as_bytes(), &DecodeContext::new(NOW))
}

fn decode(body: &str) -> Result<MetricBatch, IngestError> {
    decode_with(body, Precision::Nanoseconds)
}

fn decoded(body: &str) -> Vec<SeriesSamples> {
    match decode(body) {
        Ok(batch) => batch.series,
        Err(e) => panic!("{body:?} should decode: {e}"),
    }
}

#[test]
fn fields_become_metrics_and_tags_become_labels() {
    let body = "cpu,host=a,dc=x usage=1.5,value=2i,idle=3u,up=t 1700000000123456789\n";
    let ts = 1_700_000_000_123;
    let labels = [("host", "a"), ("dc", "x")];
    assert_eq!(
        decoded(body),
        vec![
            series("cpu_usage", &labels, ts, 1.5, "line 1"),
            series("cpu", &labels, ts, 2.0, "line 1"),
            series("cpu_idle", &labels, ts, 3.0, "line 1"),
            series("cpu_up", &labels, ts, 1.0, "line 1"),
        ]
    );
}

#[test]
fn comments_blank_lines_crlf_and_missing_timestamps() {
    let body = "# a comment\r\n\r\n  \n  mem free=1 1000000\r\n\t# indented comment\nmem free=2\r\nmem free=3";
    assert_eq!(
        decoded(body),
        vec![
            series("mem_free", &[], 1, 1.0, "line 4"),
            series("mem_free", &[], NOW, 2.0, "line 6"),
            series("mem_free", &[], NOW, 3.0, "line 7"),
        ]
    );
    assert!(decoded("").is_empty());
    assert!(decoded("\n\n# only comments\n").is_empty());
}

#[test]
fn field_values_of_every_kind() {
    let cases: [(&str, f64); 24] = [
        ("1", 1.0),
        ("-1.5", -1.5),
        ("1e3", 1000.0),
        ("1.5E-3", 0.0015),
        (".5", 0.5),
        ("+2", 2.0),
        ("12i", 12.0),
        ("-12i", -12.0),
        ("9223372036854775807i", 9.223_372_036_854_776e18),
        ("12u", 12.0),
        ("18446744073709551615u", 1.844_674_407_370_955_2e19),
        ("t", 1.0),
        ("T", 1.0),
        ("true", 1.0),
        ("True", 1.0),
        ("TRUE", 1.0),
        ("f", 0.0),
        ("F", 0.0),
        ("false", 0.0),
        ("False", 0.0),
        ("FALSE", 0.0),
        ("0", 0.0),
        ("-0.0", 0.0),
        ("1.7976931348623157e308", f64::MAX),
    ];
    for (raw, expected) in cases {
        let got = decoded(&format!("m v={raw} 0"));
        assert_eq!(got[0].samples[0].value, expected, "{raw}");
    }
}

#[test]
fn precisions_convert_to_milliseconds() {
    let cases = [
        (
            Precision::Nanoseconds,
            1_700_000_000_123_456_789_i64,
            1_700_000_000_123_i64,
        ),
        (
            Precision::Microseconds,
            1_700_000_000_123_456,
            1_700_000_000_123,
        ),
        (
            Precision::Milliseconds,
            1_700_000_000_123,
            1_700_000_000_123,
        ),
        (Precision::Seconds, 1_700_000_000, 1_700_000_000_000),
        (Precision::Minutes, 2, 120_000),
        (Precision::Hours, 2, 7_200_000),
        (Precision::Nanoseconds, -1, -1),
        (Precision::Microseconds, -1_500, -2),
    ];
    for (precision, raw, expected) in cases {
        let batch = decode_with(&format!("m v=1 {raw}"), precision).expect("valid");
        assert_eq!(
            batch.series[0].samples[0].timestamp_ms, expected,
            "{precision:?} {raw}"
        );
    }
    for (text, expected) in [
        ("ns", Precision::Nanoseconds),
        ("n", Precision::Nanoseconds),
        ("us", Precision::Microseconds),
        ("u", Precision::Microseconds),
        ("ms", Precision::Milliseconds),
        ("s", Precision::Seconds),
        ("m", Precision::Minutes),
        ("h", Precision::Hours),
    ] {
        assert_eq!(Precision::parse(text), Ok(expected));
    }
    assert_one_error(
        Precision::parse("d").map(|_| MetricBatch::default()),
        "precision \"d\" is not one of ns, us, ms, s",
    );
    assert_one_error(
        decode_with("m v=1 9223372036854775807", Precision::Seconds),
        "line 1: timestamp 9223372036854775807 s is out of range",
    );
}

#[test]
fn escaping_in_measurements_tags_and_fields() {
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);
    let cases: [Case; 9] = [
        (r"my\ cpu,host=a v=1", "my cpu_v", &[("host", "a")]),
        (r"my\,cpu v=1", "my,cpu_v", &[]),
        (r"a=b v=1", "a=b_v", &[]),
        (r"m,ho\ st=a\ b v=1", "m_v", &[("ho st", "a b")]),
        (
            r"m,k\,1=v\,1,k\=2=v\=2 v=1",
            "m_v",
            &[("k,1", "v,1"), ("k=2", "v=2")],
        ),
        (r"m,path=C:\\dir v=1", "m_v", &[("path", r"C:\dir")]),
        (r"m,path=C:\dir v=1", "m_v", &[("path", r"C:\dir")]),
        (r"m f\ o\,o\=x=1", r"m_f o,o=x", &[]),
        (r"m\\x v=1", r"m\x_v", &[]),
    ];
    for (line, name, labels) in cases {
        let got = decoded(line);
        assert_eq!(
            got,
            vec![series(name, labels, NOW, 1.0, "line 1")],
            "{line}"
        );
    }
    // A tag value may hold an unescaped '=' and any UTF-8.
    assert_eq!(
        decoded("m,q=a=b,ü=ö v=1"),
        vec![series(
            "m_v",
            &[("q", "a=b"), ("ü", "ö")],
            NOW,
            1.0,
            "line 1"
        )]
    );
}

#[test]
fn string_fields_are_refused_and_may_span_lines() {
    let cases = [
        (
            r#"m usage="high""#,
            r#"line 1: field "usage" has a string value; only numbers and booleans are accepted"#,
        ),
        (
            r#"m a=1,msg="say \"hi\", then, go" 5"#,
            r#"line 1: field "msg" has a string value"#,
        ),
        (
            r#"m msg="back\\slash""#,
            r#"field "msg" has a string value"#,
        ),
        (
            r#"m msg="never closed"#,
            r#"field "msg" has an unterminated string value"#,
        ),
    ];
    for (line, expected) in cases {
        assert_one_error(decode(line), expected);
    }
    // The quoted newline belongs to line 2; counting goes on with physical lines.
    let body = "m v=1\nm msg=\"two\nlines\" 1\nm v=bad\n";
    assert_eq!(
        malformed(decode(body)),
        vec![
            "line 2: field \"msg\" has a string value; only numbers and booleans are accepted".to_owned(),
            "line 4: field \"v\" has the value \"bad\"; expected a float (1.5), an integer (12i), an unsigned integer (12u) or a boolean (t, f, true, false)".to_owned(),
        ]
    );
}

#[test]
fn bad_lines_name_their_number_and_problem() {
    let cases = [
        ("cpu", "the line has no fields"),
        ("cpu ", "the line has no fields"),
        (",host=a v=1", "the measurement name is missing"),
        (" ,x=1 v=1", "the measurement name is missing"),
        (
            "cpu,host v=1",
            "tag \"host\" has no value; tags are written key=value",
        ),
        ("cpu,host= v=1", "tag \"host\" has an empty value"),
        ("cpu,=a v=1", "a tag has an empty key"),
        ("cpu,host=a,host=b v=1", "tag \"host\" appears twice"),
        (
            "cpu,__name__=x v=1",
            "tag \"__name__\" is reserved for the metric name",
        ),
        ("cpu,host=a", "the line has no fields"),
        (
            "cpu v",
            "field \"v\" has no value; fields are written key=value",
        ),
        ("cpu v=", "field \"v\" has an empty value"),
        ("cpu =1", "a field has an empty key"),
        ("cpu v=1,", "field \"\" has no value"),
        ("cpu v=1,v=2", "field \"v\" appears twice"),
        ("cpu v=abc", "field \"v\" has the value \"abc\""),
        ("cpu v=NaN", "field \"v\" has the value \"NaN\""),
        ("cpu v=inf", "field \"v\" has the value \"inf\""),
        ("cpu v=1.5i", "field \"v\" has the value \"1.5i\""),
        ("cpu v=-1u", "field \"v\" has the value \"-1u\""),
        ("cpu v=99999999999999999999i", "field \"v\" has the value"),
        ("cpu v=1..2", "field \"v\" has the value \"1..2\""),
        ("cpu v=1 12.5", "timestamp \"12.5\" is not an integer"),
        ("cpu v=1 abc", "timestamp \"abc\" is not an integer"),
        (
            "cpu v=1 99999999999999999999",
            "timestamp \"99999999999999999999\" is not an integer",
        ),
        ("cpu v=1 1 2", "unexpected \"2\" after the timestamp"),
    ];
    for (line, expected) in cases {
        let body = format!("ok v=1\n{line}\nok v=2\n");
        let errors = malformed(decode(&body));
        assert_eq!(errors.len(), 1, "{line:?}: {errors:?}");
        assert!(
            errors[0].starts_with("line 2: ") && errors[0].contains(expected),
            "{line:?}: {:?} should contain {expected:?}",
            errors[0]
        );
    }
}

#[test]
fn one_bad_line_fails_the_whole_body_listing_every_bad_line() {
    let body = "a v=1\nb v=x\nc v=2\n\nd,t v=1\n";
    assert_eq!(
        malformed(decode(body)),
        vec![
            "line 2: field \"v\" has the value \"x\"; expected a float (1.5), an integer (12i), an unsigned integer (12u) or a boolean (t, f, true, false)".to_owned(),
            "line 5: tag \"t\" has no value; tags are written key=value".to_owned(),
        ]
    );
}

#[test]
fn invalid_utf8_names_its_line() {
    assert_one_error(
        InfluxDecoder::default().decode(b"a v=1\nb v=1\nc\xff v=1\n", &DecodeContext::new(NOW)),
        "line 3: the text is not valid UTF-8",
    );
}

#[test]
fn whitespace_between_sections_is_flexible() {
    assert_eq!(
        decoded("cpu,host=a   v=1   \t 5  \t"),
        vec![series("cpu_v", &[("host", "a")], 0, 1.0, "line 1")]
    );
    assert_eq!(
        decoded("cpu v=1 5\r"),
        vec![series("cpu_v", &[], 0, 1.0, "line 1")]
    );
}

#[test]
fn repeated_keys_are_found_on_lines_with_many_tags_and_fields() {
    let tags: String = (0..40).map(|i| format!(",t{i}=v")).collect();
    let fields: Vec<String> = (0..40).map(|i| format!("f{i}=1")).collect();
    let distinct = format!("cpu{tags} {}", fields.join(","));
    assert_eq!(
        decoded(&distinct).len(),
        40,
        "40 distinct fields, 40 series"
    );
    // The repeat comes after the linear-scan threshold, so the set path finds it.
    let repeated_tag = format!("cpu{tags},t3=w v=1");
    assert_one_error(decode(&repeated_tag), "line 1: tag \"t3\" appears twice");
    let repeated_field = format!("cpu {},f7=2", fields.join(","));
    assert_one_error(
        decode(&repeated_field),
        "line 1: field \"f7\" appears twice",
    );
    // Escaped keys are compared unescaped.
    assert_one_error(
        decode("cpu a\\ b=1,a\\ b=2"),
        "line 1: field \"a b\" appears twice",
    );
}

#[test]
fn repeated_series_share_one_label_set_and_keep_their_lines() {
    let body =
        "cpu,host=a user=1,sys=2 1\nmem,host=a v=3 1\ncpu,host=a user=4 2\ncpu,host=b user=5 2\n";
    let series = decoded(body);
    let origins: Vec<String> = series.iter().map(|s| s.origin.to_string()).collect();
    assert_eq!(origins, ["line 1", "line 1", "line 2", "line 3", "line 4"]);
    assert_eq!(series[0].labels.to_string(), "cpu_user{host=\"a\"}");
    assert_eq!(series[0].labels, series[3].labels);
    assert_eq!(
        series[0].labels.identity(),
        series[3].labels.identity(),
        "built once, shared"
    );
    assert_ne!(series[0].labels, series[4].labels);
    assert_eq!(series[1].labels.to_string(), "cpu_sys{host=\"a\"}");
}

#[test]
fn series_keep_their_label_set_across_requests() {
    // One decoder memory, as the service shares one across requests.
    let memory = DecoderMemory::default();
    let decoder =
        InfluxDecoder::for_request(&RequestHead::default(), &memory).expect("no parameters");
    let decoded = |body: &str| {
        decoder
            .decode(body.as_bytes(), &DecodeContext::new(NOW))
            .expect("valid")
            .series
    };
    let first = decoded("known_series_memo,host=a,dc=x user=1,value=2 1\n");
    let second = decoded("other_line v=1 1\nknown_series_memo,host=a,dc=x user=3,value=4 2\n");
    assert_eq!(
        first[0].labels.to_string(),
        "known_series_memo_user{dc=\"x\",host=\"a\"}"
    );
    assert_eq!(
        first[1].labels.to_string(),
        "known_series_memo{dc=\"x\",host=\"a\"}"
    );
    assert_eq!(
        first[0].labels.identity(),
        second[1].labels.identity(),
        "the second request reuses the first one's label set"
    );
    assert_eq!(first[1].labels.identity(), second[2].labels.identity());
    assert_eq!(second[1].samples[0].value, 3.0);
    assert_eq!(second[1].origin, Origin::Line(2));

    // Keys written differently are different entries, each built from its own unescaped
    // text: two spellings of one tag value give equal label sets, and a key that differs
    // by one tag does not borrow another's.
    let lone_backslash = decoded("known_series_memo,host=a\\x user=1 1\n");
    let escaped_backslash = decoded("known_series_memo,host=a\\\\x user=1 1\n");
    assert_eq!(lone_backslash[0].labels.get("host"), Some("a\\x"));
    assert_eq!(lone_backslash[0].labels, escaped_backslash[0].labels);
    assert_ne!(
        lone_backslash[0].labels.identity(),
        escaped_backslash[0].labels.identity()
    );
    let escaped = decoded("known_series_memo,host=a\\ b user=1 1\n");
    let plain = decoded("known_series_memo,host=a\\ b,dc=x user=1 1\n");
    assert_eq!(
        escaped[0].labels.to_string(),
        "known_series_memo_user{host=\"a b\"}"
    );
    assert_eq!(
        plain[0].labels.to_string(),
        "known_series_memo_user{dc=\"x\",host=\"a b\"}"
    );
    // A field whose name ends like another key's beginning does not alias it.
    let shifted = decoded("known_series_memo,host=a,dc=xu ser=1 1\n");
    assert_eq!(
        shifted[0].labels.to_string(),
        "known_series_memo_ser{dc=\"xu\",host=\"a\"}"
    );
}

#[test]
fn tenants_do_not_share_remembered_series() {
    let body = "tenant_memo,host=a user=1 1\n";
    let decoder = InfluxDecoder::default();
    let decode_for = |tenant: TenantId| {
        let mut ctx = DecodeContext::new(NOW);
        ctx.tenant = Some(tenant);
        decoder.decode(body.as_bytes(), &ctx).expect("valid")
    };
    let (one, other) = (TenantId::generate(), TenantId::generate());
    let first = decode_for(one);
    let again = decode_for(one);
    let elsewhere = decode_for(other);
    assert_eq!(
        first.series[0].labels.identity(),
        again.series[0].labels.identity()
    );
    assert_ne!(
        first.series[0].labels.identity(),
        elsewhere.series[0].labels.identity(),
        "another tenant's request builds its own label set"
    );
    assert_eq!(first.series[0].labels, elsewhere.series[0].labels);
}

#[test]
fn the_request_query_sets_the_precision() {
    let memory = DecoderMemory::default();
    let for_query = |query: &str| {
        InfluxDecoder::for_request(
            &RequestHead {
                content_type: Some("text/plain"),
                query,
            },
            &memory,
        )
        .map(|decoder| decoder.precision)
    };
    assert_eq!(for_query(""), Ok(Precision::Nanoseconds));
    assert_eq!(for_query("db=x&precision=ms"), Ok(Precision::Milliseconds));
    assert_eq!(for_query("precision=s&bucket=b"), Ok(Precision::Seconds));
    assert!(
        matches!(for_query("precision=d"), Err(IngestError::Malformed { .. })),
        "an unknown precision is refused before the body is read"
    );
}
