//! `Content-Encoding` handling with a hard bound on the decompressed size, so a small
//! compressed body cannot make the server allocate gigabytes (a decompression bomb).

use std::borrow::Cow;
use std::io::Read;

use super::IngestError;

/// Decompressed bytes are read in chunks of this size, so memory grows with the real
/// output, never with what a header claims.
const CHUNK: usize = 64 * 1024;

/// Decompresses `body` according to `content_encoding` (`None`, `identity`, `gzip`,
/// `x-gzip` or `snappy`, case-insensitive). Fails with [`IngestError::TooLarge`] as soon
/// as the output would exceed `max` bytes, having allocated at most about `max + 1`.
/// Snappy is the block format Prometheus remote write uses, not the framed format.
pub fn decompress<'a>(
    body: &'a [u8],
    content_encoding: Option<&str>,
    max: usize,
) -> Result<Cow<'a, [u8]>, IngestError> {
    let encoding = content_encoding.map(|e| e.trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("") | Some("identity") => {
            if body.len() > max {
                return Err(IngestError::TooLarge { limit: max });
            }
            Ok(Cow::Borrowed(body))
        }
        Some("gzip") | Some("x-gzip") => gunzip(body, max).map(Cow::Owned),
        Some("snappy") => unsnappy(body, max).map(Cow::Owned),
        Some(_) => Err(IngestError::UnsupportedEncoding(
            content_encoding.unwrap_or_default().to_owned(),
        )),
    }
}

fn gunzip(body: &[u8], max: usize) -> Result<Vec<u8>, IngestError> {
    // Multi-member: concatenated gzip streams are one valid gzip body.
    let decoder = flate2::read::MultiGzDecoder::new(body);
    bounded_read(decoder, max).map_err(|e| match e {
        BoundedReadError::TooLarge => IngestError::TooLarge { limit: max },
        BoundedReadError::Io(e) => {
            IngestError::malformed(format!("the gzip-compressed body is corrupt: {e}"))
        }
    })
}

fn unsnappy(body: &[u8], max: usize) -> Result<Vec<u8>, IngestError> {
    let corrupt = |e: snap::Error| {
        IngestError::malformed(format!("the snappy-compressed body is corrupt: {e}"))
    };
    // The block format starts with the decompressed length: check it before allocating.
    let len = snap::raw::decompress_len(body).map_err(corrupt)?;
    if len > max {
        return Err(IngestError::TooLarge { limit: max });
    }
    snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(corrupt)
}

enum BoundedReadError {
    TooLarge,
    Io(std::io::Error),
}

/// Reads all of `reader` unless it yields more than `max` bytes; the buffer's capacity
/// never exceeds `max + 1` (no doubling past the limit).
fn bounded_read(reader: impl Read, max: usize) -> Result<Vec<u8>, BoundedReadError> {
    let limit = max.saturating_add(1);
    let mut out: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; CHUNK.min(limit)];
    let mut reader = reader.take(u64::try_from(limit).unwrap_or(u64::MAX));
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(BoundedReadError::Io(e)),
        };
        let needed = out.len() + n;
        if needed > out.capacity() {
            let target = needed.max(out.capacity().saturating_mul(2)).min(limit);
            out.reserve_exact(target - out.len());
        }
        out.extend_from_slice(&chunk[..n]);
        if out.len() > max {
            return Err(BoundedReadError::TooLarge);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(data).expect("write to memory");
        encoder.finish().expect("finish in memory")
    }

    fn snappy(data: &[u8]) -> Vec<u8> {
        snap::raw::Encoder::new()
            .compress_vec(data)
            .expect("compress in memory")
    }

    #[test]
    fn round_trips_every_supported_encoding() {
        let data = b"cpu,host=a value=1 1700000000000000000\n".repeat(100);
        let cases: [(Option<&str>, Vec<u8>); 7] = [
            (None, data.clone()),
            (Some(""), data.clone()),
            (Some("identity"), data.clone()),
            (Some("gzip"), gzip(&data)),
            (Some(" GZIP "), gzip(&data)),
            (Some("x-gzip"), gzip(&data)),
            (Some("Snappy"), snappy(&data)),
        ];
        for (encoding, body) in cases {
            let plain = decompress(&body, encoding, data.len()).expect("decompresses");
            assert_eq!(&*plain, &data[..], "{encoding:?}");
        }
    }

    #[test]
    fn identity_is_borrowed_not_copied() {
        let body = b"abc";
        assert!(matches!(decompress(body, None, 3), Ok(Cow::Borrowed(_))));
    }

    #[test]
    fn concatenated_gzip_members_are_one_body() {
        let mut body = gzip(b"first\n");
        body.extend(gzip(b"second\n"));
        let plain = decompress(&body, Some("gzip"), 100).expect("decompresses");
        assert_eq!(&*plain, b"first\nsecond\n");
    }

    #[test]
    fn output_over_the_limit_is_too_large() {
        let data = vec![b'a'; 10_001];
        for (encoding, body) in [
            (None, data.clone()),
            (Some("gzip"), gzip(&data)),
            (Some("snappy"), snappy(&data)),
        ] {
            assert_eq!(
                decompress(&body, encoding, 10_000),
                Err(IngestError::TooLarge { limit: 10_000 }),
                "{encoding:?}"
            );
            assert!(decompress(&body, encoding, 10_001).is_ok(), "{encoding:?}");
        }
    }

    #[test]
    fn gzip_bomb_stops_at_the_limit() {
        // 64 MiB of zeros compress to about 64 KiB; reading stops after 1 MiB + 1.
        let bomb = {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            let zeros = vec![0u8; 1024 * 1024];
            for _ in 0..64 {
                encoder.write_all(&zeros).expect("write to memory");
            }
            encoder.finish().expect("finish in memory")
        };
        assert!(bomb.len() < 1024 * 1024);
        assert_eq!(
            decompress(&bomb, Some("gzip"), 1024 * 1024),
            Err(IngestError::TooLarge { limit: 1024 * 1024 })
        );
    }

    #[test]
    fn bounded_read_never_grows_past_the_limit() {
        let data = vec![7u8; 300_000];
        let out = bounded_read(&data[..], 300_000).ok().expect("fits exactly");
        assert_eq!(out.len(), 300_000);
        assert!(out.capacity() <= 300_001, "capacity {}", out.capacity());
        assert!(matches!(
            bounded_read(&data[..], 299_999),
            Err(BoundedReadError::TooLarge)
        ));
    }

    #[test]
    fn snappy_length_header_is_checked_before_allocating() {
        // A 6-byte body claiming 4 GiB of output: a varint length header and nothing else.
        // Decoding it would allocate the claimed length first; the limit check refuses it.
        let mut header = Vec::new();
        let mut len: u64 = 0xFFFF_FFFF;
        while len >= 0x80 {
            header.push((len as u8) | 0x80);
            len >>= 7;
        }
        header.push(len as u8);
        assert_eq!(
            decompress(&header, Some("snappy"), 1024),
            Err(IngestError::TooLarge { limit: 1024 })
        );
    }

    #[test]
    fn corrupt_bodies_and_unknown_encodings_are_named() {
        let cases: [(&[u8], &str, &str); 4] = [
            (
                b"not gzip at all",
                "gzip",
                "gzip-compressed body is corrupt",
            ),
            (&[0x05, 0x00], "snappy", "snappy-compressed body is corrupt"),
            (b"", "snappy", "snappy-compressed body is corrupt"),
            (
                &[0x1f, 0x8b, 0x08, 0x00],
                "gzip",
                "gzip-compressed body is corrupt",
            ),
        ];
        for (body, encoding, expected) in cases {
            let err = decompress(body, Some(encoding), 1024).expect_err("corrupt");
            assert!(err.to_string().contains(expected), "{encoding}: {err}");
            assert!(matches!(err, IngestError::Malformed { .. }));
        }
        for encoding in ["br", "deflate", "zstd", "gzip, identity"] {
            assert_eq!(
                decompress(b"x", Some(encoding), 1024),
                Err(IngestError::UnsupportedEncoding(encoding.to_owned()))
            );
        }
    }
}
