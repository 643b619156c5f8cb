//! What the load tool reads about itself (CPU and memory from `/proc`) and the small
//! statistics it computes (a fixed latency histogram, percentiles).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// CPU time (user + system) of a process or a thread, from a `/proc/.../stat` line.
fn cpu_ticks(stat: &str) -> Option<(String, u64)> {
    // `pid (comm) state ppid ...`: comm may hold spaces and parentheses, so split at the last ')'.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_string();
    let fields: Vec<&str> = stat.get(close + 2..)?.split_whitespace().collect();
    // After the comm: field 3 (state) is index 0, so utime (14) is 11 and stime (15) is 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((comm, utime + stime))
}

/// Clock ticks per second for `/proc` CPU times (`getconf CLK_TCK`, 100 on Linux).
pub fn clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .filter(|t| *t > 0)
        .unwrap_or(100)
}

/// One reading of this process's CPU time: the total (which includes threads that have ended)
/// and the live threads' times grouped by thread name.
#[derive(Debug, Clone, Default)]
pub struct CpuSample {
    pub total: u64,
    pub by_thread_name: BTreeMap<String, u64>,
}

impl CpuSample {
    pub fn now() -> CpuSample {
        let total = std::fs::read_to_string("/proc/self/stat").ok().and_then(|s| cpu_ticks(&s)).map_or(0, |(_, t)| t);
        let mut by_thread_name = BTreeMap::new();
        if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
            for entry in dir.flatten() {
                let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
                if let Some((comm, ticks)) = cpu_ticks(&stat) {
                    *by_thread_name.entry(comm).or_insert(0) += ticks;
                }
            }
        }
        CpuSample { total, by_thread_name }
    }

    /// Ticks spent since `earlier` by threads whose name starts with `prefix`.
    pub fn threads_since(&self, earlier: &CpuSample, prefix: &str) -> u64 {
        let sum = |s: &CpuSample| s.by_thread_name.iter().filter(|(k, _)| k.starts_with(prefix)).map(|(_, v)| v).sum();
        let (now, then): (u64, u64) = (sum(self), sum(earlier));
        now.saturating_sub(then)
    }
}

/// CPU ticks of another process (sipp), if it still runs.
pub fn process_ticks(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).ok().and_then(|s| cpu_ticks(&s)).map(|(_, t)| t)
}

/// A `kB` line of `/proc/self/status` (`VmRSS`, `VmHWM`).
pub fn status_kb(key: &str) -> u64 {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else { return 0 };
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':')?.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The soft limit on open files, from `/proc/self/limits`.
pub fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Every UDP socket of the machine (`/proc/net/udp`, IPv4): inode → (local port, receive
/// drops). `drops` counts datagrams the kernel threw away for that socket, mostly because its
/// receive buffer was full: the reader did not keep up.
pub fn udp_sockets() -> HashMap<u64, (u16, u64)> {
    let Ok(table) = std::fs::read_to_string("/proc/net/udp") else { return HashMap::new() };
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let port = u16::from_str_radix(f.get(1)?.rsplit(':').next()?, 16).ok()?;
            let inode = f.get(9)?.parse().ok()?;
            let drops = f.get(12)?.parse().ok()?;
            Some((inode, (port, drops)))
        })
        .collect()
}

/// The socket inodes a process holds (`"self"` or a pid).
pub fn socket_inodes(pid: &str) -> HashSet<u64> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return HashSet::new() };
    dir.flatten()
        .filter_map(|e| {
            let link = std::fs::read_link(e.path()).ok()?;
            link.to_str()?.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
        })
        .collect()
}

/// Receive drops per socket at one instant, with who owns each socket.
#[derive(Debug, Clone, Default)]
pub struct Drops {
    /// inode → (port, drops, ours)
    sockets: HashMap<u64, (u16, u64, bool)>,
}

impl Drops {
    pub fn now(other_pid: u32) -> Drops {
        let ours = socket_inodes("self");
        let theirs = socket_inodes(&other_pid.to_string());
        let sockets = udp_sockets()
            .into_iter()
            .filter_map(|(inode, (port, drops))| {
                let mine = ours.contains(&inode);
                (mine || theirs.contains(&inode)).then_some((inode, (port, drops, mine)))
            })
            .collect();
        Drops { sockets }
    }

    /// Drops since `earlier`, summed by `class(port, ours)`.
    pub fn since(
        &self,
        earlier: &Drops,
        class: impl Fn(u16, bool) -> &'static str,
    ) -> BTreeMap<&'static str, (usize, u64)> {
        let mut out: BTreeMap<&'static str, (usize, u64)> = BTreeMap::new();
        for (inode, (port, drops, ours)) in &self.sockets {
            let before = earlier.sockets.get(inode).map_or(0, |e| e.1);
            let e = out.entry(class(*port, *ours)).or_default();
            e.0 += 1;
            e.1 += drops.saturating_sub(before);
        }
        out
    }
}

/// Latency histogram shared by every call: 20 µs buckets up to 100 ms, then 1 ms buckets up to
/// 10 s; anything longer lands in the last bucket. Lock-free, fixed size (no per-packet memory).
pub struct Histogram {
    buckets: Vec<AtomicU64>,
}

const FINE_US: u64 = 20;
const FINE_END_US: u64 = 100_000;
const COARSE_US: u64 = 1_000;
const COARSE_END_US: u64 = 10_000_000;
const FINE_BUCKETS: u64 = FINE_END_US / FINE_US;
const COARSE_BUCKETS: u64 = (COARSE_END_US - FINE_END_US) / COARSE_US;

impl Histogram {
    pub fn new() -> Histogram {
        Histogram { buckets: (0..FINE_BUCKETS + COARSE_BUCKETS).map(|_| AtomicU64::new(0)).collect() }
    }

    pub fn record(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let i = if us < FINE_END_US {
            us / FINE_US
        } else {
            (FINE_BUCKETS + (us - FINE_END_US) / COARSE_US).min(FINE_BUCKETS + COARSE_BUCKETS - 1)
        };
        if let Some(b) = usize::try_from(i).ok().and_then(|i| self.buckets.get(i)) {
            b.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Samples above `d` (to the bucket's resolution).
    pub fn count_above(&self, d: Duration) -> u64 {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let first = if us < FINE_END_US { us / FINE_US } else { FINE_BUCKETS + (us - FINE_END_US) / COARSE_US };
        self.buckets.iter().skip(usize::try_from(first).unwrap_or(usize::MAX)).map(|b| b.load(Ordering::Relaxed)).sum()
    }

    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    /// The `q` quantile in milliseconds (the middle of its bucket), or `None` when empty.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = ((n as f64 * q).ceil() as u64).clamp(1, n);
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Ordering::Relaxed);
            if seen >= rank {
                let i = i as u64;
                let (lo, width) = if i < FINE_BUCKETS {
                    (i * FINE_US, FINE_US)
                } else {
                    (FINE_END_US + (i - FINE_BUCKETS) * COARSE_US, COARSE_US)
                };
                return Some((lo as f64 + width as f64 / 2.0) / 1000.0);
            }
        }
        None
    }
}

/// The `q` quantile of `v` (nearest rank), or `None` when empty.
pub fn quantile(v: &[f64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len());
    v.get(rank - 1).copied()
}

pub fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// `12.3` or `-` for a missing value.
pub fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.1}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_line_with_spaces_in_comm() {
        let line = "42 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 120 30 0 0 20 0 3 0";
        assert_eq!(cpu_ticks(line), Some(("a (b) c".into(), 150)));
    }

    #[test]
    fn histogram_quantiles() {
        let h = Histogram::new();
        for us in [100, 200, 300, 400, 150_000] {
            h.record(Duration::from_micros(us));
        }
        assert_eq!(h.quantile_ms(0.5), Some(0.31));
        assert_eq!(h.quantile_ms(1.0), Some(150.5));
        assert_eq!(quantile(&[3.0, 1.0, 2.0], 0.5), Some(2.0));
    }
}
