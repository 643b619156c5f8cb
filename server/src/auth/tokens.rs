//! Access tokens: HS256 JWTs with explicit `iss`, `aud`, `exp`, `nbf` and `iat`, all required
//! and validated. Only HS256 is accepted, so `alg: none` and algorithm confusion are refused.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

use crate::domain::{Role, UserId};

/// The JWT body. It is serialised, but only ever crosses the wire as an opaque signed string.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    role: String,
    iss: String,
    aud: String,
    iat: u64,
    nbf: u64,
    exp: u64,
}

/// What a valid token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessClaims {
    pub user: UserId,
    pub role: Role,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the access token has expired")]
    Expired,
    #[error("the access token is not valid")]
    Invalid,
}

pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl_secs: u64,
}

impl TokenKeys {
    pub fn new(secret: &[u8], issuer: &str, audience: &str, ttl_secs: u64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        // We issue and check our own tokens on one clock: no skew to forgive.
        validation.leeway = 0;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: issuer.into(),
            audience: audience.into(),
            ttl_secs,
        }
    }

    pub fn ttl_secs(&self) -> u64 {
        self.ttl_secs
    }

    /// `now` is seconds since the Unix epoch.
    pub fn issue(&self, user: UserId, role: Role, now: u64) -> anyhow::Result<String> {
        let claims = Claims {
            sub: user.0.to_string(),
            role: role.as_str().into(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now,
            nbf: now,
            exp: now + self.ttl_secs,
        };
        Ok(jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?)
    }

    pub fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })?;
        let user = data.claims.sub.parse().map(UserId).map_err(|_| TokenError::Invalid)?;
        let role = Role::parse(&data.claims.role).ok_or(TokenError::Invalid)?;
        Ok(AccessClaims { user, role })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    fn keys() -> TokenKeys {
        TokenKeys::new(b"0123456789abcdef0123456789abcdef", "iss", "aud", 900)
    }

    #[test]
    fn issue_then_verify() {
        let k = keys();
        let t = k.issue(UserId(7), Role::Admin, now()).unwrap();
        assert_eq!(k.verify(&t), Ok(AccessClaims { user: UserId(7), role: Role::Admin }));
    }

    #[test]
    fn refuses_expired_future_and_foreign_tokens() {
        let k = keys();
        let old = k.issue(UserId(1), Role::User, now() - 901).unwrap();
        assert_eq!(k.verify(&old), Err(TokenError::Expired));
        let future = k.issue(UserId(1), Role::User, now() + 60).unwrap();
        assert_eq!(k.verify(&future), Err(TokenError::Invalid));
        let other = TokenKeys::new(b"another secret, another secret!!", "iss", "aud", 900);
        let foreign = other.issue(UserId(1), Role::User, now()).unwrap();
        assert_eq!(k.verify(&foreign), Err(TokenError::Invalid));
        let wrong_aud = TokenKeys::new(b"0123456789abcdef0123456789abcdef", "iss", "x", 900);
        assert_eq!(k.verify(&wrong_aud.issue(UserId(1), Role::User, now()).unwrap()), Err(TokenError::Invalid));
        let wrong_iss = TokenKeys::new(b"0123456789abcdef0123456789abcdef", "x", "aud", 900);
        assert_eq!(k.verify(&wrong_iss.issue(UserId(1), Role::User, now()).unwrap()), Err(TokenError::Invalid));
    }
}
