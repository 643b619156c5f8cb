//! sipp (Debian `sip-tester`) as a carrier or a PSTN caller, and a tiny RTP peer that stands in
//! for the far end's media: it echoes what it gets and remembers the telephone-events.
//!
//! Everything stays on loopback: sipp always gets `-i 127.0.0.1 -mi 127.0.0.1`, one call
//! (`-m 1`) and a global timeout.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::net::UdpSocket;
use tokio::process::{Child, Command};

/// A free UDP port on loopback (bound, read, released).
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr()).map(|a| a.port()).unwrap_or(0)
}

pub struct Sipp {
    child: Child,
    name: String,
}

impl Sipp {
    /// A UAS (carrier) on `127.0.0.1:port`, answering media on `mport`.
    pub fn uas(scenario: &str, port: u16, mport: u16) -> Result<Sipp> {
        Self::spawn(scenario, port, Some(mport), &[])
    }

    /// A carrier's registrar (no media) on `127.0.0.1:port`.
    pub fn registrar(scenario: &str, port: u16) -> Result<Sipp> {
        Self::spawn(scenario, port, None, &[])
    }

    /// A UAS (carrier) over TCP on `127.0.0.1:port`.
    pub fn uas_tcp(scenario: &str, port: u16, mport: u16) -> Result<Sipp> {
        Self::spawn(scenario, port, Some(mport), &["-t", "t1"])
    }

    /// A UAC calling `service` (the Request-URI user) at `target`.
    pub fn uac(scenario: &str, port: u16, mport: u16, target: SocketAddr, service: &str) -> Result<Sipp> {
        Self::spawn(scenario, port, Some(mport), &["-s", service, &target.to_string()])
    }

    fn spawn(scenario: &str, port: u16, mport: Option<u16>, extra: &[&str]) -> Result<Sipp> {
        let mport = mport.map(|p| p.to_string());
        let media = mport.as_deref().map_or(vec![], |p| vec!["-set", "mport", p]);
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("sipp").join(scenario);
        let log = crate::artifacts_dir().join(format!("sipp-{scenario}.log"));
        let out = std::fs::File::create(&log)?;
        let child = Command::new("sipp")
            .arg("-sf")
            .arg(&file)
            .args(["-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", &port.to_string()])
            .args(["-m", "1", "-timeout", "90s", "-nostdin"])
            .args(media)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .context("starting sipp (Debian package sip-tester)")?;
        Ok(Sipp { child, name: scenario.into() })
    }

    /// Waits for sipp to end; its scenario passed when it exits 0.
    pub async fn passed(mut self, within: Duration) -> Result<()> {
        let status = tokio::time::timeout(within, self.child.wait())
            .await
            .with_context(|| format!("sipp {} still running after {within:?}", self.name))??;
        if !status.success() {
            bail!("sipp {} failed ({status}); see target/e2e-artifacts/sipp-{}.log", self.name, self.name);
        }
        Ok(())
    }
}

#[derive(Debug, Default, Clone)]
pub struct MediaStats {
    pub packets: u64,
    /// RFC 4733 events as they started (one per digit: 0-9, 10 = *, 11 = #).
    pub events: Vec<u8>,
    pub payload_types: Vec<u8>,
}

/// The far end's RTP: echoes every packet back to where it came from.
pub struct MediaPeer {
    pub port: u16,
    stats: Arc<Mutex<MediaStats>>,
    task: tokio::task::JoinHandle<()>,
}

impl MediaPeer {
    pub async fn start() -> Result<MediaPeer> {
        let socket = UdpSocket::bind("127.0.0.1:0").await?;
        let port = socket.local_addr()?.port();
        let stats = Arc::new(Mutex::new(MediaStats::default()));
        let s = stats.clone();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            let mut last_event_ts = None;
            while let Ok((n, from)) = socket.recv_from(&mut buf).await {
                if n < 12 {
                    continue;
                }
                let pt = buf[1] & 0x7f;
                let ts = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
                {
                    let mut st = s.lock().unwrap_or_else(|p| p.into_inner());
                    st.packets += 1;
                    if !st.payload_types.contains(&pt) {
                        st.payload_types.push(pt);
                    }
                    // telephone-event: one event per RTP timestamp (RFC 4733 §2.5.1.3).
                    if pt == 101 && n >= 16 && last_event_ts != Some(ts) {
                        last_event_ts = Some(ts);
                        st.events.push(buf[12]);
                    }
                }
                let _ = socket.send_to(&buf[..n], from).await;
            }
        });
        Ok(MediaPeer { port, stats, task })
    }

    pub fn stats(&self) -> MediaStats {
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for MediaPeer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
