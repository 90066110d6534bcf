//! Float helpers that reproduce Go's `math` package where it differs from Rust's, so
//! results are bit-identical to Prometheus.

/// The bit pattern Prometheus writes as a staleness marker (a NaN).
const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The staleness marker value: ends a series for queries (the alert evaluator writes it
/// when an `ALERTS` series stops).
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// Whether `value` is Prometheus's staleness marker rather than an ordinary NaN.
pub(crate) fn is_stale_nan(value: f64) -> bool {
    value.to_bits() == STALE_NAN_BITS
}

/// Go's `math.Max`: NaN wins (Rust's `f64::max` ignores NaN), +Inf wins over NaN.
pub(crate) fn go_max(a: f64, b: f64) -> f64 {
    if a == f64::INFINITY || b == f64::INFINITY {
        f64::INFINITY
    } else if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && b == 0.0 {
        if a.is_sign_negative() {
            b
        } else {
            a
        }
    } else if a > b {
        a
    } else {
        b
    }
}

/// Go's `math.Min`: NaN wins, -Inf wins over NaN.
pub(crate) fn go_min(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY || b == f64::NEG_INFINITY {
        f64::NEG_INFINITY
    } else if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && b == 0.0 {
        if a.is_sign_negative() {
            a
        } else {
            b
        }
    } else if a < b {
        a
    } else {
        b
    }
}

/// Go's `strconv.ParseFloat(s, 64)` for the decimal forms label values use (`le="0.5"`,
/// `"+Inf"`, `"NaN"`); `None` where Go would return an error.
pub(crate) fn go_parse_float(text: &str) -> Option<f64> {
    let (sign, body) = match text.as_bytes().first() {
        Some(b'+') => (1.0, &text[1..]),
        Some(b'-') => (-1.0, &text[1..]),
        _ => (1.0, text),
    };
    let lower = body.to_ascii_lowercase();
    if lower == "inf" || lower == "infinity" {
        return Some(sign * f64::INFINITY);
    }
    if lower == "nan" {
        return Some(f64::NAN);
    }
    let digits_ok = !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if !digits_ok {
        return None;
    }
    body.parse::<f64>().ok().map(|v| sign * v)
}

/// Go's `math.Log2`, which is `Log(frac)/Ln2 + exp` rather than a correctly rounded log2.
pub(crate) fn go_log2(x: f64) -> f64 {
    if !x.is_finite() || x <= 0.0 {
        return x.log2();
    }
    let (frac, exp) = frexp(x);
    if frac == 0.5 {
        return f64::from(exp - 1);
    }
    frac.ln() * (1.0 / std::f64::consts::LN_2) + f64::from(exp)
}

/// Go's `math.Log10`, `Log(x) * (1/Ln10)`.
pub(crate) fn go_log10(x: f64) -> f64 {
    x.ln() * (1.0 / std::f64::consts::LN_10)
}

/// `x = frac × 2^exp` with `frac` in `[0.5, 1)`, for finite positive `x`.
fn frexp(x: f64) -> (f64, i32) {
    let mut value = x;
    let mut exp = 0;
    if value.abs() < f64::MIN_POSITIVE {
        // Subnormal: scale into the normal range first.
        value *= (1u64 << 52) as f64;
        exp = -52;
    }
    let bits = value.to_bits();
    let raw_exp = ((bits >> 52) & 0x7ff) as i32;
    exp += raw_exp - 1022;
    let frac_bits = (bits & !(0x7ff << 52)) | (1022 << 52);
    (f64::from_bits(frac_bits), exp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_and_min_propagate_nan_like_go() {
        let nan = f64::NAN;
        for (a, b, max, min) in [
            (1.0, 2.0, 2.0, 1.0),
            (nan, 2.0, nan, nan),
            (2.0, nan, nan, nan),
            (f64::INFINITY, nan, f64::INFINITY, nan),
            (f64::NEG_INFINITY, nan, nan, f64::NEG_INFINITY),
        ] {
            let (got_max, got_min) = (go_max(a, b), go_min(a, b));
            assert!(
                got_max == max || (got_max.is_nan() && max.is_nan()),
                "max({a},{b})"
            );
            assert!(
                got_min == min || (got_min.is_nan() && min.is_nan()),
                "min({a},{b})"
            );
        }
    }

    #[test]
    fn parses_bucket_bounds_like_go() {
        for (text, expected) in [
            ("0.5", Some(0.5)),
            ("+Inf", Some(f64::INFINITY)),
            ("-inf", Some(f64::NEG_INFINITY)),
            ("1e3", Some(1000.0)),
            ("abc", None),
            ("", None),
        ] {
            assert_eq!(go_parse_float(text), expected, "{text}");
        }
        assert!(go_parse_float("NaN").is_some_and(f64::is_nan));
    }

    #[test]
    fn logs_match_go() {
        for (x, log2) in [(8.0, 3.0), (1.0, 0.0), (0.5, -1.0), (1024.0, 10.0)] {
            assert_eq!(go_log2(x), log2);
        }
        assert_eq!(
            go_log10(1000.0),
            1000f64.ln() * (1.0 / std::f64::consts::LN_10)
        );
        assert_eq!(frexp(8.0), (0.5, 4));
    }
}
