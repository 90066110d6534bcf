//! Password hashing with argon2id. Hashing is deliberately slow, so it runs on the
//! blocking pool, never on an actix worker thread.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use super::AuthError;
use crate::domain::Password;

/// Hashes a new password into a PHC string (`$argon2id$v=19$…`).
pub async fn hash_password(password: &Password) -> Result<String, AuthError> {
    let password = password.expose().to_owned();
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| AuthError::Internal(format!("hashing password: {e}")))
    })
    .await
    .map_err(|e| AuthError::Internal(format!("hashing task: {e}")))?
}

/// Checks a password against a stored hash. With no stored hash (unknown user) it still
/// spends the same time on a dummy hash, so response time does not reveal which emails exist.
pub async fn verify_password(
    candidate: &str,
    stored_hash: Option<&str>,
) -> Result<bool, AuthError> {
    let candidate = candidate.to_owned();
    let stored = stored_hash.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let dummy;
        let hash_text = match &stored {
            Some(hash) => hash.as_str(),
            None => {
                dummy = dummy_hash();
                dummy.as_str()
            }
        };
        let parsed = PasswordHash::new(hash_text)
            .map_err(|e| AuthError::Internal(format!("stored password hash: {e}")))?;
        let matches = Argon2::default()
            .verify_password(candidate.as_bytes(), &parsed)
            .is_ok();
        Ok(matches && stored.is_some())
    })
    .await
    .map_err(|e| AuthError::Internal(format!("verifying task: {e}")))?
}

fn dummy_hash() -> String {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY
        .get_or_init(|| {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(b"tidewatch-timing-equaliser", &salt)
                .expect("hashing a constant cannot fail")
                .to_string()
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_only_their_password() {
        let password = Password::parse("correct horse battery").unwrap();
        let hash = hash_password(&password).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", Some(&hash))
            .await
            .unwrap());
        assert!(!verify_password("wrong horse battery", Some(&hash))
            .await
            .unwrap());
        assert!(!verify_password("correct horse battery", None)
            .await
            .unwrap());
    }
}
