//! Test-only parser for promtool's series notation: `x{a="1"}` label sets and expanding
//! value notation (`0+10x5`, `1x3`, `_`, `_x2`, `stale`, `NaN`, `Inf`), so one table feeds
//! both our engine and `promtool test rules`.

use crate::domain::metrics::{Labels, Sample};

use super::numeric::{go_parse_float, stale_nan};

/// `name{a="1",b="2"}`, `{a="1"}` or `name`. Values may not contain `,`, `"` or `}`.
pub(crate) fn parse_labels(text: &str) -> Labels {
    let text = text.trim();
    let (name, rest) = match text.find('{') {
        Some(at) => (&text[..at], &text[at + 1..]),
        None => (text, "}"),
    };
    let body = rest.trim_end().trim_end_matches('}');
    let mut pairs: Vec<(String, String)> = body
        .split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').expect("label pairs are k=\"v\"");
            (k.trim().to_owned(), v.trim().trim_matches('"').to_owned())
        })
        .collect();
    if !name.is_empty() {
        pairs.push(("__name__".to_owned(), name.to_owned()));
    }
    Labels::from_pairs(pairs)
}

/// Expanding notation into samples every `interval_ms` from 0; `_` leaves a gap.
pub(crate) fn parse_values(text: &str, interval_ms: i64) -> Vec<Sample> {
    let mut values: Vec<Option<f64>> = Vec::new();
    for token in text.split_whitespace() {
        if let Some((head, times)) = token.rsplit_once('x') {
            let times: u64 = times.parse().expect("repetition count");
            if head == "_" {
                values.extend((0..times).map(|_| None));
                continue;
            }
            // `a+b` or `a-b`: the sign that is neither leading nor part of an exponent.
            let split = head
                .char_indices()
                .rev()
                .find(|&(i, c)| (c == '+' || c == '-') && i > 0 && !head[..i].ends_with(['e', 'E']))
                .map(|(i, _)| i);
            let (start, step) = match split {
                Some(i) => (number(&head[..i]), number(&head[i..])),
                None => (number(head), 0.0),
            };
            // Repeated addition, exactly as promtool accumulates.
            let mut current = start;
            values.push(Some(current));
            for _ in 0..times {
                current += step;
                values.push(Some(current));
            }
        } else if token == "_" {
            values.push(None);
        } else if token == "stale" {
            values.push(Some(stale_nan()));
        } else {
            values.push(Some(number(token)));
        }
    }
    values
        .into_iter()
        .enumerate()
        .filter_map(|(i, v)| {
            v.map(|value| Sample {
                timestamp_ms: i as i64 * interval_ms,
                value,
            })
        })
        .collect()
}

fn number(text: &str) -> f64 {
    go_parse_float(text).unwrap_or_else(|| panic!("{text:?} is not a number"))
}

/// promtool durations such as `5m`, `90s`, `1h30m`, `0`, in milliseconds.
pub(crate) fn parse_duration_ms(text: &str) -> i64 {
    let mut total = 0;
    let mut digits = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = if c == 'm' && chars.peek() == Some(&'s') {
            chars.next();
            1
        } else {
            match c {
                's' => 1_000,
                'm' => 60_000,
                'h' => 3_600_000,
                'd' => 86_400_000,
                _ => panic!("unknown duration unit in {text}"),
            }
        };
        total += digits.parse::<i64>().expect("duration digits") * unit;
        digits.clear();
    }
    if !digits.is_empty() {
        total += digits.parse::<i64>().expect("duration digits");
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promql::numeric::is_stale_nan;

    #[test]
    fn expands_promtool_notation() {
        let cases: &[(&str, &[(i64, f64)])] = &[
            ("0+10x3", &[(0, 0.0), (1, 10.0), (2, 20.0), (3, 30.0)]),
            ("5x2", &[(0, 5.0), (1, 5.0), (2, 5.0)]),
            ("1 _ 3", &[(0, 1.0), (2, 3.0)]),
            ("_x2 7", &[(2, 7.0)]),
            ("10-5x2", &[(0, 10.0), (1, 5.0), (2, 0.0)]),
            ("-1+1x1", &[(0, -1.0), (1, 0.0)]),
            (
                "1e3 Inf -Inf",
                &[(0, 1000.0), (1, f64::INFINITY), (2, f64::NEG_INFINITY)],
            ),
        ];
        for (text, expected) in cases {
            let got: Vec<(i64, f64)> = parse_values(text, 1)
                .iter()
                .map(|s| (s.timestamp_ms, s.value))
                .collect();
            assert_eq!(got, *expected, "{text}");
        }
        let stale = parse_values("1 stale NaN", 60_000);
        assert!(is_stale_nan(stale[1].value));
        assert!(stale[2].value.is_nan() && !is_stale_nan(stale[2].value));
    }

    #[test]
    fn parses_labels_and_durations() {
        assert_eq!(
            parse_labels(r#"x{a="1", b="2"}"#),
            Labels::with_name("x", [("a", "1"), ("b", "2")])
        );
        assert_eq!(parse_labels("{}"), Labels::default());
        assert_eq!(parse_labels("up").to_string(), "up");
        for (text, ms) in [
            ("5m", 300_000),
            ("90s", 90_000),
            ("1h30m", 5_400_000),
            ("0", 0),
            ("250ms", 250),
        ] {
            assert_eq!(parse_duration_ms(text), ms, "{text}");
        }
    }
}
