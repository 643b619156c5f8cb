//! Credentials: password hashes, access tokens (JWT) and refresh tokens.
//!
//! Nothing here touches the database or HTTP; `http::accounts` strings these together with
//! `storage`.

pub mod password;
pub mod refresh;
pub mod tokens;
