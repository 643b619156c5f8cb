//! The one place where failures become HTTP responses.
//!
//! Handlers return `Result<_, ApiError>`. Each variant documents its status and stable code
//! (`protocol::api::codes`). Internal errors are logged here with the request's span and never
//! shown to the client.

use std::collections::BTreeMap;

use axum::{
    extract::rejection::{JsonRejection, PathRejection, QueryRejection},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use protocol::api::{ErrorBody, ErrorDetail, codes};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 422 `validation`: the body parsed but some fields are wrong; `fields` says which and why.
    #[error("some fields are invalid")]
    Validation(BTreeMap<String, String>),
    /// 400 `bad_request`: the request itself is malformed (syntax, types, missing fields).
    #[error("{0}")]
    BadRequest(String),
    /// 415 `unsupported_media_type`
    #[error("expected a JSON body with Content-Type: application/json")]
    UnsupportedMediaType,
    /// 413 `payload_too_large`
    #[error("the request body is too large")]
    PayloadTooLarge,
    /// 401 `unauthenticated`: no usable credentials.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// 401 `token_expired`: the access token was valid but is past its expiry; refresh it.
    #[error("the access token has expired")]
    TokenExpired,
    /// 401 `invalid_credentials`: the same answer for an unknown email and a wrong password.
    #[error("invalid email or password")]
    InvalidCredentials,
    /// 403 `account_disabled`
    #[error("this account has been disabled by an administrator")]
    AccountDisabled,
    /// 403 `forbidden`
    #[error("{0}")]
    Forbidden(&'static str),
    /// 404 `not_found`
    #[error("{0}")]
    NotFound(&'static str),
    /// 409 `email_taken`
    #[error("an account with this email already exists")]
    EmailTaken,
    /// 409 `conflict`
    #[error("{0}")]
    Conflict(&'static str),
    /// 409 `conflict`, with the reason for each key (a file's rows that clash with what exists).
    #[error("{0}")]
    Conflicts(String, BTreeMap<String, String>),
    /// 409 `under_review`: a card payment of this account was disputed.
    #[error("this account is under review after a disputed card payment; contact support")]
    UnderReview,
    /// 503 `payments_unavailable`: no payment provider is configured.
    #[error("card top-ups are not configured on this server; an administrator can credit your account")]
    PaymentsUnavailable,
    /// 502 `payment_provider_error`: the payment provider failed or refused; logged.
    #[error("the payment provider could not be reached; nothing was charged, try again")]
    PaymentProvider(anyhow::Error),
    /// 429 `rate_limited`, with `Retry-After`.
    #[error("too many attempts; try again in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// 500 `internal`: logged, never shown.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn field(name: &str, reason: impl Into<String>) -> Self {
        Self::Validation([(name.to_string(), reason.into())].into())
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::Validation(_) => (StatusCode::UNPROCESSABLE_ENTITY, codes::VALIDATION),
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, codes::BAD_REQUEST),
            Self::UnsupportedMediaType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, codes::UNSUPPORTED_MEDIA_TYPE),
            Self::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, codes::PAYLOAD_TOO_LARGE),
            Self::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, codes::UNAUTHENTICATED),
            Self::TokenExpired => (StatusCode::UNAUTHORIZED, codes::TOKEN_EXPIRED),
            Self::InvalidCredentials => (StatusCode::UNAUTHORIZED, codes::INVALID_CREDENTIALS),
            Self::AccountDisabled => (StatusCode::FORBIDDEN, codes::ACCOUNT_DISABLED),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, codes::FORBIDDEN),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, codes::NOT_FOUND),
            Self::EmailTaken => (StatusCode::CONFLICT, codes::EMAIL_TAKEN),
            Self::Conflict(_) | Self::Conflicts(..) => (StatusCode::CONFLICT, codes::CONFLICT),
            Self::UnderReview => (StatusCode::CONFLICT, codes::UNDER_REVIEW),
            Self::PaymentsUnavailable => (StatusCode::SERVICE_UNAVAILABLE, codes::PAYMENTS_UNAVAILABLE),
            Self::PaymentProvider(_) => (StatusCode::BAD_GATEWAY, codes::PAYMENT_PROVIDER_ERROR),
            Self::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, codes::RATE_LIMITED),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, codes::INTERNAL),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            Self::Internal(err) => {
                tracing::error!(error = ?err, "request failed");
                "something went wrong on our side".to_string()
            }
            Self::PaymentProvider(err) => {
                tracing::error!(error = ?err, "payment provider failed");
                self.to_string()
            }
            other => other.to_string(),
        };
        let fields = match &self {
            Self::Validation(fields) | Self::Conflicts(_, fields) => fields.clone(),
            _ => BTreeMap::new(),
        };
        let body = ErrorBody { error: ErrorDetail { code: code.to_string(), message, fields } };
        let mut response = (status, axum::Json(body)).into_response();
        if let Self::RateLimited { retry_after_secs } = self {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => Self::UnsupportedMediaType,
            JsonRejection::BytesRejection(_) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Self::PayloadTooLarge
            }
            // `body_text` says what is wrong and where ("missing field `email` at line 1 column 2").
            other => Self::BadRequest(format!("invalid JSON body: {}", other.body_text())),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::BadRequest(format!("invalid query string: {}", rejection.body_text()))
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::BadRequest(format!("invalid path: {}", rejection.body_text()))
    }
}

impl From<crate::storage::StorageError> for ApiError {
    fn from(err: crate::storage::StorageError) -> Self {
        Self::Internal(err.into())
    }
}
