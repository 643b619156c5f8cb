//! Input limits, shared so the browser can check a form before sending it. The server enforces
//! them regardless.

/// RFC 5321 caps a forward path at 256 octets, an address at 254.
pub const EMAIL_MAX: usize = 254;
pub const PASSWORD_MIN: usize = 10;
/// Long enough for any passphrase, short enough that hashing it is no denial of service.
pub const PASSWORD_MAX: usize = 128;
pub const DISPLAY_NAME_MAX: usize = 64;
/// Largest page an API listing returns.
pub const PAGE_MAX: u32 = 100;
/// Longest carrier name.
pub const CARRIER_NAME_MAX: usize = 64;
/// Most gateways one carrier may list.
pub const CARRIER_GATEWAYS_MAX: usize = 8;
