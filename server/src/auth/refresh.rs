//! Refresh tokens: 256 random bits, given to the browser once, stored only as a SHA-256 hash.
//!
//! Each login starts a *family*. Using a token rotates it: the old one is marked used and a new
//! one in the same family is issued. Presenting a used token again means it was stolen (or the
//! client is confused), so the whole family is revoked.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// What the client holds.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What the database holds.
pub fn digest(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// A family id: random, so it says nothing about the user or the time.
pub fn new_family() -> String {
    crate::ids::random(16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_distinct_and_digests_stable() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(digest(&a), digest(&a));
        assert_ne!(digest(&a), digest(&b));
    }
}
