//! Access tokens: short-lived HS256 JWTs. The algorithm is pinned (so `alg: none` and
//! algorithm-confusion tokens fail), and `exp`, `iat`, `iss` and `aud` are required.

use std::io::Write;
use std::path::Path;

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::AuthError;
use crate::domain::{Role, SessionId, TenantId, UserId};

/// What an access token says about its bearer. The store is still consulted on every
/// request, so a disabled user or deleted tenant loses access at once.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    /// User id.
    pub sub: String,
    /// Tenant id; absent for a platform-scope token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<String>,
    /// Role in that tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Whether the bearer is a platform admin.
    #[serde(default)]
    pub padm: bool,
    /// Session (refresh-token family) id; logout revokes it.
    pub sid: String,
    pub iss: String,
    pub aud: String,
    pub iat: u64,
    pub exp: u64,
    /// Not before; never written by Tidewatch, honoured when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    pub jti: String,
}

/// Seconds of clock difference tolerated on `exp`, `nbf` and `iat`.
const LEEWAY_SECS: u64 = 5;

/// Who a new access token is for.
#[derive(Debug, Clone, Copy)]
pub struct TokenSubject {
    pub user: UserId,
    pub tenant: Option<TenantId>,
    pub role: Option<Role>,
    pub platform_admin: bool,
    pub session: SessionId,
}

/// Signing and verification keys with the validation rules, built once at start.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl_secs: u64,
}

impl JwtKeys {
    pub fn new(secret: &[u8], issuer: &str, audience: &str, ttl_secs: u64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            ttl_secs,
        }
    }

    pub fn ttl_secs(&self) -> u64 {
        self.ttl_secs
    }

    /// Signs a new access token; returns it with its claims.
    pub fn issue(
        &self,
        subject: TokenSubject,
        now_secs: u64,
    ) -> Result<(String, AccessClaims), AuthError> {
        let claims = AccessClaims {
            sub: subject.user.to_string(),
            tid: subject.tenant.map(|t| t.to_string()),
            role: subject.role,
            padm: subject.platform_admin,
            sid: subject.session.to_string(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now_secs,
            exp: now_secs + self.ttl_secs,
            nbf: None,
            jti: uuid::Uuid::new_v4().to_string(),
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| AuthError::Internal(format!("signing token: {e}")))?;
        Ok((token, claims))
    }

    /// [`Self::verify_at`] the wall clock's now (tests; the service passes its clock's).
    #[cfg(test)]
    pub fn verify(&self, token: &str) -> Result<AccessClaims, AuthError> {
        self.verify_at(token, crate::domain::time::now_ms().max(0) as u64 / 1000)
    }

    /// Verifies signature, algorithm, expiry, `nbf`, issuer and audience, and that the
    /// token was not issued in the future (after `now_secs`) nor for longer than the
    /// configured lifetime — so a leaked token made with a far `exp` does not live for years.
    pub fn verify_at(&self, token: &str, now_secs: u64) -> Result<AccessClaims, AuthError> {
        let claims = decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|_| AuthError::InvalidToken)?;
        let issued_in_future = claims.iat > now_secs + LEEWAY_SECS;
        let too_long = claims.exp > claims.iat.saturating_add(self.ttl_secs + LEEWAY_SECS);
        if issued_in_future || too_long {
            return Err(AuthError::InvalidToken);
        }
        Ok(claims)
    }
}

/// The signing secret: from config when set, otherwise generated once into
/// `<data_dir>/jwt_secret` (mode 0600) so tokens survive restarts.
pub fn load_or_create_secret(
    configured: Option<&str>,
    data_dir: &Path,
) -> std::io::Result<Vec<u8>> {
    if let Some(secret) = configured {
        return Ok(secret.as_bytes().to_vec());
    }
    let path = data_dir.join("jwt_secret");
    match std::fs::read_to_string(&path) {
        Ok(text) if text.trim().len() >= 32 => return Ok(text.trim().as_bytes().to_vec()),
        Ok(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{} holds fewer than 32 bytes; delete it to generate a new secret",
                    path.display()
                ),
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::create_dir_all(data_dir)?;
    let mut bytes = [0u8; 48];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    let secret = hex::encode(bytes);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path)?;
    file.write_all(secret.as_bytes())?;
    file.sync_all()?;
    Ok(secret.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> JwtKeys {
        JwtKeys::new(
            b"0123456789abcdef0123456789abcdef",
            "tidewatch",
            "tidewatch-api",
            900,
        )
    }

    fn subject() -> TokenSubject {
        TokenSubject {
            user: UserId::generate(),
            tenant: Some(TenantId::generate()),
            role: Some(Role::Editor),
            platform_admin: false,
            session: SessionId::generate(),
        }
    }

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    /// A token signed with the right key whose times are set by `adjust`.
    fn signed_with(adjust: impl FnOnce(&mut AccessClaims)) -> String {
        let keys = keys();
        let (_, mut claims) = keys.issue(subject(), now()).expect("signs");
        adjust(&mut claims);
        encode(&Header::new(Algorithm::HS256), &claims, &keys.encoding).expect("signs")
    }

    #[test]
    fn tokens_from_the_future_or_living_too_long_are_refused() {
        let now = now();
        type Adjust = Box<dyn FnOnce(&mut AccessClaims)>;
        let cases: [(&str, Adjust); 4] = [
            (
                "nbf in the future",
                Box::new(move |c| c.nbf = Some(now + 3600)),
            ),
            (
                "iat in the future",
                Box::new(move |c| {
                    c.iat = now + 3600;
                    c.exp = now + 3600 + 900;
                }),
            ),
            (
                "exp ten years ahead",
                Box::new(move |c| c.exp = now + 10 * 365 * 86_400),
            ),
            (
                "exp one hour past the lifetime",
                Box::new(move |c| c.exp = c.iat + 900 + 3600),
            ),
        ];
        for (what, adjust) in cases {
            let verdict = keys().verify(&signed_with(adjust));
            assert!(
                matches!(verdict, Err(AuthError::InvalidToken)),
                "{what}: {verdict:?}"
            );
        }
        let within_leeway = signed_with(move |c| {
            c.nbf = Some(now + 2);
            c.iat = now + 2;
            c.exp = now + 2 + 900;
        });
        keys()
            .verify(&within_leeway)
            .expect("clock skew within the leeway is accepted");
    }

    #[test]
    fn issued_tokens_verify_with_their_claims() {
        let (token, claims) = keys().issue(subject(), now()).unwrap();
        assert_eq!(keys().verify(&token).unwrap(), claims);
        assert_eq!(claims.role, Some(Role::Editor));
    }

    #[test]
    fn rejects_expired_foreign_and_unsigned_tokens() {
        let (expired, _) = keys().issue(subject(), now() - 2000).unwrap();
        assert!(keys().verify(&expired).is_err());

        let other_audience = JwtKeys::new(
            b"0123456789abcdef0123456789abcdef",
            "tidewatch",
            "other",
            900,
        );
        let (foreign, _) = other_audience.issue(subject(), now()).unwrap();
        assert!(keys().verify(&foreign).is_err());

        let other_secret = JwtKeys::new(
            b"ffffffffffffffffffffffffffffffff",
            "tidewatch",
            "tidewatch-api",
            900,
        );
        let (forged, _) = other_secret.issue(subject(), now()).unwrap();
        assert!(keys().verify(&forged).is_err());

        let (good, _) = keys().issue(subject(), now()).unwrap();
        let payload = good.split('.').nth(1).unwrap();
        let unsigned = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
        assert!(keys().verify(&unsigned).is_err());
    }

    #[test]
    fn generated_secret_persists_across_loads() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create_secret(None, dir.path()).unwrap();
        let second = load_or_create_secret(None, dir.path()).unwrap();
        assert_eq!(first, second);
        assert!(first.len() >= 32);
        assert_eq!(
            load_or_create_secret(Some("configured-secret-configured-secret"), dir.path()).unwrap(),
            b"configured-secret-configured-secret"
        );
    }
}
