//! The carrier: sipp's built-in `uas` scenario (180, then 200 with SDP pointing at sipp's media
//! port; 200 to the BYE) with `-rtp_echo`, which sends every RTP packet back to its source.
//!
//! Loopback only (`-i 127.0.0.1 -mi 127.0.0.1`), at most `calls` calls (`-m`), and a global
//! `-timeout`. The child is held in a shared slot so the watchdog thread can end it too.

use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The sipp child, shared with the watchdog.
pub type Slot = Arc<Mutex<Option<Child>>>;

pub struct Carrier {
    pub sip_port: u16,
    pub media_port: u16,
    pub pid: u32,
    pub log: PathBuf,
    slot: Slot,
}

/// A free loopback UDP port `p` with `p + 2` free too (sipp's echo also binds the port + 2).
fn free_media_port() -> Result<u16> {
    for _ in 0..50 {
        let a = UdpSocket::bind("127.0.0.1:0")?;
        let p = a.local_addr()?.port();
        if p < 65_000 && UdpSocket::bind(("127.0.0.1", p + 2)).is_ok() {
            return Ok(p);
        }
    }
    bail!("no free pair of UDP ports for sipp's RTP echo")
}

fn free_port() -> Result<u16> {
    Ok(UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Carrier {
    pub fn start(calls: usize, timeout: Duration, slot: Slot) -> Result<Carrier> {
        let sip_port = free_port()?;
        let media_port = free_media_port()?;
        let dir = e2e::artifacts_dir();
        let dir = dir.canonicalize().unwrap_or(dir);
        let log = dir.join("pstn-load-sipp.log");
        let errors = dir.join("pstn-load-sipp-errors.log");
        let out = std::fs::File::create(&log)?;
        let child = Command::new("sipp")
            .args(["-sn", "uas", "-i", "127.0.0.1", "-mi", "127.0.0.1"])
            .args(["-p", &sip_port.to_string(), "-mp", &media_port.to_string(), "-rtp_echo"])
            .args(["-m", &calls.to_string(), "-timeout", &format!("{}s", timeout.as_secs()), "-nostdin"])
            .arg("-trace_err")
            .arg("-error_file")
            .arg(&errors)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .context("starting sipp (Debian package sip-tester)")?;
        let pid = child.id();
        *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(child);
        let carrier = Carrier { sip_port, media_port, pid, log, slot };
        // sipp binds its ports at once; give it a moment and make sure it is still there.
        std::thread::sleep(Duration::from_millis(300));
        if let Some(status) = carrier.try_wait() {
            bail!("sipp exited at start ({status}); see {}", carrier.log.display());
        }
        Ok(carrier)
    }

    fn try_wait(&self) -> Option<ExitStatus> {
        let mut slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
        slot.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    /// Waits up to `within` for sipp to exit by itself (it does after `-m` calls), then ends it.
    /// Its exit status, or `None` when it had to be killed.
    pub async fn finish(self, within: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + within;
        while Instant::now() < until {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        kill(&self.slot);
        None
    }
}

/// Ends sipp if it still runs (by its own handle: this child only).
pub fn kill(slot: &Slot) {
    let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(child) = slot.as_mut()
        && child.try_wait().ok().flatten().is_none()
    {
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Carrier {
    fn drop(&mut self) {
        kill(&self.slot);
    }
}
