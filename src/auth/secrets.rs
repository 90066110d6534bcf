//! Random bearer secrets (API keys, refresh tokens) and their stored hashes.
//!
//! These secrets carry 256 bits of randomness, so a fast SHA-256 is a safe hash for them
//! (unlike passwords), and it keeps per-request API key checks cheap.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The text every Tidewatch API key starts with, so it is recognisable (and scannable
/// by secret detectors) and cannot be confused with a JWT.
pub const API_KEY_MARKER: &str = "tw_";

/// A freshly generated API key: `tw_<prefix>_<secret>`. Only `prefix` and `hash` are stored.
#[derive(Debug, Clone)]
pub struct GeneratedApiKey {
    pub key: String,
    pub prefix: String,
    pub hash: String,
}

fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// SHA-256 of a secret, hex-encoded.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub fn generate_api_key() -> GeneratedApiKey {
    let mut prefix_bytes = [0u8; 6];
    rand::rng().fill_bytes(&mut prefix_bytes);
    let prefix = hex::encode(prefix_bytes);
    let key = format!("{API_KEY_MARKER}{prefix}_{}", random_token(32));
    let hash = hash_secret(&key);
    GeneratedApiKey { key, prefix, hash }
}

/// The prefix of something shaped like an API key, or `None`.
pub fn api_key_prefix(candidate: &str) -> Option<&str> {
    let rest = candidate.strip_prefix(API_KEY_MARKER)?;
    let (prefix, secret) = rest.split_once('_')?;
    let prefix_ok = prefix.len() == 12 && prefix.bytes().all(|b| b.is_ascii_hexdigit());
    (prefix_ok && !secret.is_empty()).then_some(prefix)
}

/// Whether `candidate` hashes to `stored_hash`, compared in constant time.
pub fn secret_matches(candidate: &str, stored_hash: &str) -> bool {
    hash_secret(candidate)
        .as_bytes()
        .ct_eq(stored_hash.as_bytes())
        .into()
}

/// A new opaque refresh token (not a JWT: it is only ever looked up by hash).
pub fn generate_refresh_token() -> String {
    format!("twr_{}", random_token(32))
}

/// A random password for a generated account: 24 URL-safe characters (144 bits).
pub fn generate_password() -> String {
    random_token(18)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_back_and_match_their_hash() {
        let generated = generate_api_key();
        assert_eq!(
            api_key_prefix(&generated.key),
            Some(generated.prefix.as_str())
        );
        assert!(secret_matches(&generated.key, &generated.hash));
        assert!(!secret_matches(
            &format!("{}x", generated.key),
            &generated.hash
        ));
        assert_ne!(generate_api_key().key, generated.key);
    }

    #[test]
    fn only_key_shaped_text_has_a_prefix() {
        let cases = [
            ("tw_0123456789ab_secret", Some("0123456789ab")),
            ("tw_0123456789ab_", None),
            ("tw_short_secret", None),
            ("eyJhbGciOiJIUzI1NiJ9.e30.sig", None),
            ("tw_0123456789zz_secret", None),
        ];
        for (candidate, expected) in cases {
            assert_eq!(api_key_prefix(candidate), expected, "{candidate}");
        }
    }
}
