//! Login throttling: per client IP and per account, so neither a single host nor a botnet
//! aimed at one account can guess passwords quickly.

use std::{net::IpAddr, num::NonZeroU32};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock};

use super::error::ApiError;

pub struct LoginLimiter {
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    per_account: DefaultKeyedRateLimiter<String>,
}

impl LoginLimiter {
    pub fn new(per_ip_per_minute: u32, per_account_per_minute: u32) -> Self {
        let quota = |n: u32| Quota::per_minute(NonZeroU32::new(n.max(1)).expect("max(1)"));
        Self {
            per_ip: RateLimiter::keyed(quota(per_ip_per_minute)),
            per_account: RateLimiter::keyed(quota(per_account_per_minute)),
        }
    }

    /// Spends one attempt for this IP and this account, or says how long to wait.
    pub fn check(&self, ip: IpAddr, account: &str) -> Result<(), ApiError> {
        // Forget keys whose buckets are full again, so the maps stay small.
        if self.per_ip.len() > 10_000 || self.per_account.len() > 10_000 {
            self.per_ip.retain_recent();
            self.per_account.retain_recent();
        }
        let clock = governor::clock::DefaultClock::default();
        let wait = |not_until: governor::NotUntil<_>| ApiError::RateLimited {
            retry_after_secs: not_until.wait_time_from(clock.now()).as_secs().max(1),
        };
        self.per_ip.check_key(&ip).map_err(wait)?;
        self.per_account.check_key(&account.to_string()).map_err(wait)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_account_limit_applies_across_ips() {
        let l = LoginLimiter::new(100, 2);
        let a: IpAddr = [127, 0, 0, 1].into();
        let b: IpAddr = [127, 0, 0, 2].into();
        assert!(l.check(a, "x@example.com").is_ok());
        assert!(l.check(b, "x@example.com").is_ok());
        let err = l.check(a, "x@example.com").unwrap_err();
        assert!(matches!(err, ApiError::RateLimited { retry_after_secs } if retry_after_secs >= 1));
        assert!(l.check(a, "y@example.com").is_ok(), "another account is not affected");
    }
}
