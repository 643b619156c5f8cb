//! REST bodies: requests the browser sends and responses the server returns.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `POST /api/auth/signup`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SignupRequest {
    pub email: String,
    pub password: String,
    pub display_name: String,
}

/// `POST /api/auth/login`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

/// Answer to signup, login, refresh and change of password. The refresh token is never in the
/// body: it travels only in an `HttpOnly` cookie scoped to `/api/auth`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Session {
    /// A JWT for `Authorization: Bearer …`.
    pub access_token: String,
    /// Seconds until `access_token` expires.
    pub expires_in: u64,
    pub user: User,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Admin,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub disabled: bool,
    /// RFC 3339, UTC.
    pub created_at: String,
}

/// `PATCH /api/me`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UpdateProfile {
    pub display_name: String,
}

/// `POST /api/me/password`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChangePassword {
    pub current_password: String,
    pub new_password: String,
}

/// Query of `GET /api/admin/users`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct UserQuery {
    /// Matches email or display name, case-insensitively.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// 1-based.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_page: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub page: u32,
    pub per_page: u32,
}

/// `PATCH /api/admin/users/{id}`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AdminUpdateUser {
    pub disabled: bool,
}

/// An ICE server for `RTCPeerConnection`: STUN, or TURN with short-lived credentials.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// `GET /api/ice-servers`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IceServers {
    pub ice_servers: Vec<IceServer>,
    /// Seconds the TURN credentials stay valid (absent without TURN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u64>,
}

/// A person one can call: `GET /api/directory?q=` and `GET /api/contacts/recent`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Contact {
    pub id: i64,
    pub display_name: String,
    pub email: String,
    pub online: bool,
}

/// `GET /api/calls` items: the signed-in user's call history, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CallRecord {
    pub id: String,
    /// `outgoing` or `incoming`, from the signed-in user's side.
    pub direction: String,
    pub peer: Option<Contact>,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub answered_at: Option<String>,
    pub ended_at: Option<String>,
    /// Talk time in whole seconds (0 when never answered).
    pub duration_secs: u64,
    /// Stable end cause code; absent while the call is live.
    pub cause: Option<String>,
    /// The cause in words.
    pub cause_text: Option<String>,
}

/// `GET /api/me/balance`, `GET /api/admin/users/{id}/balance`. Money is in micro-units
/// (1 unit = 1 000 000), exact integers; never floats.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Balance {
    pub balance_micros: i64,
    pub credit_limit_micros: i64,
    /// What calls may spend now: balance + credit limit (− reservations of live calls).
    pub available_micros: i64,
}

/// One entry of an account's statement (`GET /api/me/ledger`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LedgerLine {
    pub id: i64,
    /// `adjustment`, `payment`, `call`, …
    pub kind: String,
    pub description: String,
    /// Positive credits the account, negative debits it.
    pub amount_micros: i64,
    /// RFC 3339, UTC.
    pub at: String,
}

/// `POST /api/admin/users/{id}/adjustments`: credit (positive) or debit (negative).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Adjustment {
    /// Decimal text, e.g. `"12.50"` or `"-3"`; up to 6 decimals.
    pub amount: String,
    /// Why; required, recorded in the ledger and the audit log.
    pub reason: String,
    /// Makes a retried request harmless: the same key is posted once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

/// `PUT /api/admin/users/{id}/credit-limit`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CreditLimit {
    /// Decimal text, ≥ 0.
    pub credit_limit: String,
}

/// `GET /healthz`, `GET /readyz`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Health {
    pub status: String,
}

/// Every error response: `{"error": {...}}` with a stable `code`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `validation`, `invalid_credentials`, `account_disabled`, …
    pub code: String,
    /// For people; may change.
    pub message: String,
    /// Per-field reasons for `validation` errors, keyed by the request field's name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
}

/// The stable error codes, so web and server cannot drift apart.
pub mod codes {
    pub const VALIDATION: &str = "validation";
    pub const BAD_REQUEST: &str = "bad_request";
    pub const UNAUTHENTICATED: &str = "unauthenticated";
    pub const TOKEN_EXPIRED: &str = "token_expired";
    pub const INVALID_CREDENTIALS: &str = "invalid_credentials";
    pub const ACCOUNT_DISABLED: &str = "account_disabled";
    pub const FORBIDDEN: &str = "forbidden";
    pub const NOT_FOUND: &str = "not_found";
    pub const CONFLICT: &str = "conflict";
    pub const EMAIL_TAKEN: &str = "email_taken";
    pub const RATE_LIMITED: &str = "rate_limited";
    pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported_media_type";
    pub const INTERNAL: &str = "internal";
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;

    #[test]
    fn error_body_shape() {
        let body = ErrorBody {
            error: ErrorDetail {
                code: codes::VALIDATION.into(),
                message: "some fields are invalid".into(),
                fields: [("email".to_string(), "not an email address".to_string())].into(),
            },
        };
        expect![[r#"{"error":{"code":"validation","message":"some fields are invalid","fields":{"email":"not an email address"}}}"#]]
            .assert_eq(&serde_json::to_string(&body).unwrap());
        let no_fields: ErrorBody = serde_json::from_str(r#"{"error":{"code":"not_found","message":"x"}}"#).unwrap();
        assert!(no_fields.error.fields.is_empty());
    }

    #[test]
    fn role_is_snake_case() {
        expect![[r#""admin""#]].assert_eq(&serde_json::to_string(&Role::Admin).unwrap());
    }
}
