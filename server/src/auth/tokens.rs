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

/// A download link's body: who may fetch which path (with its query), until when.
#[derive(Debug, Serialize, Deserialize)]
struct LinkClaims {
    sub: String,
    path: String,
    iss: String,
    aud: String,
    iat: u64,
    nbf: u64,
    exp: u64,
}

/// How long a download link works.
pub const LINK_TTL_SECS: u64 = 60;

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
    link_validation: Validation,
    issuer: String,
    audience: String,
    ttl_secs: u64,
}

/// Links are signed with the same key for another audience: neither kind passes for the other.
fn link_audience(audience: &str) -> String {
    format!("{audience}:link")
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
        let mut link_validation = validation.clone();
        link_validation.set_audience(&[link_audience(audience)]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            link_validation,
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
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map_err(token_error)?;
        let user = data.claims.sub.parse().map(UserId).map_err(|_| TokenError::Invalid)?;
        let role = Role::parse(&data.claims.role).ok_or(TokenError::Invalid)?;
        Ok(AccessClaims { user, role })
    }

    /// A download link: `user` may GET `path` (exactly: the path and its query) for
    /// `LINK_TTL_SECS`, without an `Authorization` header (a browser saving a file sends none).
    pub fn issue_link(&self, user: UserId, path: &str, now: u64) -> anyhow::Result<String> {
        let claims = LinkClaims {
            sub: user.0.to_string(),
            path: path.into(),
            iss: self.issuer.clone(),
            aud: link_audience(&self.audience),
            iat: now,
            nbf: now,
            exp: now + LINK_TTL_SECS,
        };
        Ok(jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?)
    }

    /// Who a link for `path` was made for; invalid for any other path.
    pub fn verify_link(&self, token: &str, path: &str) -> Result<UserId, TokenError> {
        let data =
            jsonwebtoken::decode::<LinkClaims>(token, &self.decoding, &self.link_validation).map_err(token_error)?;
        if data.claims.path != path {
            return Err(TokenError::Invalid);
        }
        data.claims.sub.parse().map(UserId).map_err(|_| TokenError::Invalid)
    }
}

fn token_error(e: jsonwebtoken::errors::Error) -> TokenError {
    match e.kind() {
        ErrorKind::ExpiredSignature => TokenError::Expired,
        _ => TokenError::Invalid,
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

    #[test]
    fn links_open_one_path_for_a_minute_and_are_not_access_tokens() {
        let k = keys();
        let path = "/api/admin/cdrs.csv?number=%2B44";
        let link = k.issue_link(UserId(3), path, now()).unwrap();
        assert_eq!(k.verify_link(&link, path), Ok(UserId(3)));
        assert_eq!(k.verify_link(&link, "/api/admin/cdrs.csv"), Err(TokenError::Invalid), "another query");
        assert_eq!(k.verify(&link), Err(TokenError::Invalid), "a link is no access token");
        let access = k.issue(UserId(3), Role::Admin, now()).unwrap();
        assert_eq!(k.verify_link(&access, path), Err(TokenError::Invalid), "an access token is no link");
        let old = k.issue_link(UserId(3), path, now() - LINK_TTL_SECS - 1).unwrap();
        assert_eq!(k.verify_link(&old, path), Err(TokenError::Expired));
    }
}
