//! A bounded load test of the PSTN gateway's media path.
//!
//! `cargo run -p e2e --release --bin pstn-load -- --calls N --seconds S`
//! (defaults 100 and 20; at most 1000 calls and 120 s; the run ends within S + 60 s whatever
//! happens: a watchdog thread ends sipp and the process at S + 58 s).
//!
//! In this one process: the gateway (`gateway::Gateway`, on its own tokio runtime whose threads
//! are named `gw`) and N fake browsers (str0m, one task per call, on a runtime named
//! `browsers`). Outside it: sipp's built-in `uas` scenario as the carrier, with `-rtp_echo`.
//! Every call dials through the gateway, connects ICE/DTLS, and sends a 20 ms PCMU frame every
//! 20 ms that sipp echoes back; the tool measures setup time, loss, jitter and round trip, the
//! process's CPU over the media phase (split by thread name) and its RSS before, at the peak
//! and 5 s after every call ended.
//!
//! The run: dial at `--rate` calls per second (default max(50, N/10), so dialing takes at most
//! 10 s); the setup phase ends when every call has its first echo or failed, or 10 s after the
//! last dial; then the media phase lasts S seconds with every call sending; then each call is
//! hung up (`Command::Hangup`), and 5 s after the last `Ended` the memory is read again.
//! Everything stays on 127.0.0.1.

// Timings, rates and percentages, not money.
#![allow(clippy::float_arithmetic)]

mod pstn_load;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use protocol::gateway::{Command, Event};
use pstn_load::browser::{self, CallResult, Phase};
use pstn_load::carrier::{self, Carrier};
use pstn_load::stats::{self, CpuSample, Drops, Histogram, mean, ms, quantile};
use tokio::sync::{mpsc, watch};

const MAX_CALLS: usize = 1000;
const MAX_SECONDS: u64 = 120;
/// Dialing takes at most this long (the rate is raised if needed).
const MAX_RAMP: Duration = Duration::from_secs(10);
/// Calls not set up this long after the last dial count as failed.
const SETUP_GRACE: Duration = Duration::from_secs(10);
/// After the media phase, echoes still in flight come back before the hang-ups.
const DRAIN: Duration = Duration::from_millis(300);
/// How long the calls have for their `Ended` after the hang-ups.
const TEARDOWN: Duration = Duration::from_secs(5);
/// When memory is read again after the calls ended.
const SETTLE: Duration = Duration::from_secs(5);
/// The watchdog's margin: the process ends at S + this, whatever happens.
const WATCHDOG: Duration = Duration::from_secs(58);

#[derive(Debug, Clone)]
struct Args {
    calls: usize,
    seconds: u64,
    rate: Option<f64>,
    gateway_threads: usize,
    browser_threads: usize,
}

const USAGE: &str = "usage: pstn-load [--calls N (1..=1000, 100)] [--seconds S (1..=120, 20)] \
                     [--rate CALLS_PER_S] [--gateway-threads 2] [--browser-threads 1]";

fn parse_args() -> Result<Args> {
    let mut args = Args { calls: 100, seconds: 20, rate: None, gateway_threads: 2, browser_threads: 1 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value\n{USAGE}"));
        match flag.as_str() {
            "--calls" => args.calls = value()?.parse().context("--calls")?,
            "--seconds" => args.seconds = value()?.parse().context("--seconds")?,
            "--rate" => args.rate = Some(value()?.parse().context("--rate")?),
            "--gateway-threads" => args.gateway_threads = value()?.parse().context("--gateway-threads")?,
            "--browser-threads" => args.browser_threads = value()?.parse().context("--browser-threads")?,
            "-h" | "--help" => bail!("{USAGE}"),
            other => bail!("unknown argument {other}\n{USAGE}"),
        }
    }
    ensure!((1..=MAX_CALLS).contains(&args.calls), "--calls must be 1..={MAX_CALLS}");
    ensure!((1..=MAX_SECONDS).contains(&args.seconds), "--seconds must be 1..={MAX_SECONDS}");
    ensure!((1..=8).contains(&args.gateway_threads) && (1..=8).contains(&args.browser_threads), "threads: 1..=8");
    if let Some(r) = args.rate {
        ensure!(r.is_finite() && r > 0.0, "--rate must be positive");
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e:#}");
            return ExitCode::from(2);
        }
    };
    if std::env::var_os("RUST_LOG").is_some() {
        server::telemetry::init(&server::config::Settings::default().log);
    }
    let started = Instant::now();
    let sipp: carrier::Slot = Default::default();

    // Whatever happens below, the process ends by S + 58 s, and sipp with it.
    let hard_stop = started + Duration::from_secs(args.seconds) + WATCHDOG;
    let slot = sipp.clone();
    std::thread::Builder::new()
        .name("watchdog".into())
        .spawn(move || {
            while Instant::now() < hard_stop {
                std::thread::sleep(Duration::from_millis(200));
            }
            eprintln!(
                "pstn-load: watchdog: the run is still going at S + {} s; ending sipp and exiting",
                WATCHDOG.as_secs()
            );
            carrier::kill(&slot);
            std::process::exit(3);
        })
        .ok();

    let runtimes = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.gateway_threads)
        .thread_name("gw")
        .enable_all()
        .build()
        .and_then(|gw| {
            let browsers = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(args.browser_threads)
                .thread_name("browsers")
                .enable_all()
                .build()?;
            Ok((gw, browsers))
        });
    let (gw_rt, browser_rt) = match runtimes {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pstn-load: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = browser_rt.block_on(run(args, gw_rt.handle().clone(), sipp.clone()));
    carrier::kill(&sipp);
    browser_rt.shutdown_background();
    gw_rt.shutdown_background();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pstn-load: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// CPU and sipp readings at one instant.
struct Snapshot {
    at: Instant,
    cpu: CpuSample,
    sipp: Option<u64>,
    drops: Drops,
}

impl Snapshot {
    fn take(sipp_pid: u32) -> Snapshot {
        Snapshot {
            at: Instant::now(),
            cpu: CpuSample::now(),
            sipp: stats::process_ticks(sipp_pid),
            drops: Drops::now(sipp_pid),
        }
    }
}

async fn run(args: Args, gw_rt: tokio::runtime::Handle, sipp_slot: carrier::Slot) -> Result<()> {
    let n = args.calls;
    let seconds = Duration::from_secs(args.seconds);
    if let Some(limit) = stats::open_files_limit() {
        ensure!(limit >= 4 * n as u64 + 200, "the open-files limit ({limit}) is too low for {n} calls");
    }

    // The carrier first, so the gateway's INVITEs find it. Its timeout is S + 30 s.
    let carrier = Carrier::start(n, seconds + Duration::from_secs(30), sipp_slot)?;
    let sipp_addr = SocketAddr::from(([127, 0, 0, 1], carrier.sip_port));

    // The gateway, on its own runtime.
    let (events_tx, mut events_rx) = mpsc::unbounded_channel::<Event>();
    let config = gateway::Config {
        sip_bind: "127.0.0.1:0".parse()?,
        webrtc_bind: "127.0.0.1:0".parse()?,
        media_timeout: Duration::from_secs(30),
        ..gateway::Config::default()
    };
    let gw = gw_rt.spawn(gateway::Gateway::start(config, events_tx)).await?.context("starting the gateway")?;
    let (commands, mut command_rx) = mpsc::unbounded_channel::<Command>();
    let g = gw.clone();
    gw_rt.spawn(async move {
        while let Some(cmd) = command_rx.recv().await {
            g.command(cmd);
        }
    });

    // Events to their call.
    let mut inboxes = Vec::with_capacity(n);
    let mut senders = Vec::with_capacity(n);
    for _ in 0..n {
        let (tx, rx) = mpsc::unbounded_channel::<Event>();
        senders.push(Some(tx));
        inboxes.push(rx);
    }
    tokio::spawn(async move {
        while let Some(ev) = events_rx.recv().await {
            let id = match &ev {
                Event::Media { call_id, .. }
                | Event::Progress { call_id, .. }
                | Event::Answered { call_id }
                | Event::Ended { call_id, .. } => call_id,
                Event::Incoming { .. } | Event::AttemptStarted { .. } | Event::AttemptFailed { .. } => continue,
            };
            let Some(slot) =
                id.strip_prefix("load-").and_then(|i| i.parse::<usize>().ok()).and_then(|i| senders.get_mut(i))
            else {
                continue;
            };
            // After its Ended a call hears nothing more; its channel goes (so RSS "after" is the gateway's).
            let last = matches!(ev, Event::Ended { .. });
            if let Some(tx) = slot {
                let _ = tx.send(ev);
            }
            if last {
                *slot = None;
            }
        }
    });

    // RSS: before, and the largest seen while running (sampled) besides the kernel's VmHWM.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_before = stats::status_kb("VmRSS");
    let rss_max = Arc::new(AtomicU64::new(rss_before));
    let m = rss_max.clone();
    let sampler = tokio::spawn(async move {
        loop {
            m.fetch_max(stats::status_kb("VmRSS"), Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });

    let rate = args.rate.unwrap_or(50.0).max(n as f64 / MAX_RAMP.as_secs_f64());
    println!(
        "pstn-load: {n} calls x {} s, dialed at {rate:.0}/s; gateway SIP {} WebRTC {}, carrier sipp at {sipp_addr} \
         (RTP echo on :{}), pid {}",
        args.seconds,
        gw.sip_addr,
        gw.webrtc_addr,
        carrier.media_port,
        std::process::id()
    );

    let shared = Arc::new(browser::Shared {
        epoch: Instant::now(),
        commands: commands.clone(),
        trunk: browser::trunk(sipp_addr),
        rtt: Histogram::new(),
        send_late: Histogram::new(),
        ports: Default::default(),
        settled: AtomicUsize::new(0),
    });
    let (phase_tx, phase_rx) = watch::channel(Phase::Setup);

    // Setup: dial at the rate; each call sends as soon as it is connected.
    let first_dial = tokio::time::Instant::now();
    let gap = Duration::from_secs_f64(1.0 / rate);
    let mut handles = Vec::with_capacity(n);
    for (i, inbox) in inboxes.into_iter().enumerate() {
        tokio::time::sleep_until(first_dial + gap.mul_f64(i as f64)).await;
        let idx = u32::try_from(i)?;
        handles.push(tokio::spawn(browser::run(shared.clone(), idx, inbox, phase_rx.clone())));
    }
    let setup_deadline = Instant::now() + SETUP_GRACE;
    while shared.settled.load(Ordering::Relaxed) < n && Instant::now() < setup_deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Media phase: S seconds with every call that is up sending.
    let t0 = Snapshot::take(carrier.pid);
    let media_end = t0.at + seconds;
    let _ = phase_tx.send(Phase::Media { end: media_end });
    tokio::time::sleep_until(media_end.into()).await;
    let t1 = Snapshot::take(carrier.pid);
    let rss_media_end = stats::status_kb("VmRSS");

    // Teardown: hang every call up and wait for the Ended events.
    tokio::time::sleep(DRAIN).await;
    let teardown_deadline = Instant::now() + TEARDOWN;
    let _ = phase_tx.send(Phase::Teardown { deadline: teardown_deadline });
    for i in 0..n {
        let _ = commands.send(Command::Hangup { call_id: format!("load-{i}") });
    }
    let mut results = Vec::with_capacity(n);
    for h in handles {
        match tokio::time::timeout_at((teardown_deadline + Duration::from_secs(1)).into(), h).await {
            Ok(Ok(r)) => results.push(r),
            Ok(Err(e)) => results.push(CallResult { error: Some(format!("call task: {e}")), ..Default::default() }),
            Err(_) => results.push(CallResult { error: Some("call task did not end".into()), ..Default::default() }),
        }
    }
    let ended_at = Instant::now();

    // 5 s after the last call ended: what is left.
    tokio::time::sleep(SETTLE).await;
    let rss_after = stats::status_kb("VmRSS");
    let hwm = stats::status_kb("VmHWM");
    sampler.abort();
    let gateway_calls_left = gw.active_calls();
    let sipp_pid = carrier.pid;
    let sipp_log = carrier.log.clone();
    let (sipp_media, sipp_sip) = (carrier.media_port, carrier.sip_port);
    let sipp_status = carrier.finish(Duration::from_secs(5)).await;
    gw.shutdown();

    let report = Report {
        args: &args,
        results: &results,
        shared: &shared,
        t0: &t0,
        t1: &t1,
        ended_after_media: ended_at.saturating_duration_since(media_end),
        rss: [rss_before, rss_max.load(Ordering::Relaxed), hwm, rss_media_end, rss_after],
        gateway_calls_left,
        sipp: (sipp_pid, sipp_status, sipp_log),
        ports: [gw.webrtc_addr.port(), gw.sip_addr.port(), sipp_media, sipp_sip],
    };
    report.print();
    Ok(())
}

struct Report<'a> {
    args: &'a Args,
    results: &'a [CallResult],
    shared: &'a browser::Shared,
    t0: &'a Snapshot,
    t1: &'a Snapshot,
    ended_after_media: Duration,
    /// kB: before, sampled max, VmHWM, at the end of the media phase, 5 s after the calls.
    rss: [u64; 5],
    gateway_calls_left: usize,
    sipp: (u32, Option<std::process::ExitStatus>, std::path::PathBuf),
    /// The gateway's WebRTC and SIP ports, sipp's media and SIP ports.
    ports: [u16; 4],
}

fn pct(part: u64, whole: u64) -> String {
    if whole == 0 { "-".into() } else { format!("{:.3}%", part as f64 * 100.0 / whole as f64) }
}

fn mb(kb: u64) -> String {
    format!("{:.1} MB", kb as f64 / 1024.0)
}

impl Report<'_> {
    fn print(&self) {
        let n = self.results.len();
        let t0 = self.t0.at;
        // Up for the whole media phase: the first echo before it began, no Ended before its end.
        let up = |r: &&CallResult| r.first_echo_at.is_some_and(|at| at <= t0) && !r.ended_early;
        let active: Vec<&CallResult> = self.results.iter().filter(up).collect();
        let set_up = self.results.iter().filter(|r| r.first_echo_at.is_some_and(|at| at <= t0)).count();
        let dropped =
            self.results.iter().filter(|r| r.first_echo_at.is_some_and(|at| at <= t0) && r.ended_early).count();

        println!();
        println!("== pstn-load report: {n} calls, media phase {} s ==", self.args.seconds);
        println!(
            "NOTE: the gateway, the {n} fake browsers (str0m) and this tool share ONE process; sipp (the carrier \
             and its RTP echo) is another. CPU is split by thread name below."
        );
        println!(
            "calls: set up (first echo before the media phase) {set_up} / {n}, failed to set up {}, dropped during media {dropped}",
            n - set_up
        );
        let mut why: BTreeMap<String, usize> = BTreeMap::new();
        for r in self.results {
            let stage = match r.first_echo_at {
                Some(at) if at <= t0 => "",
                Some(_) => "set up late (after the media phase began); ",
                None => "never set up; ",
            };
            let what = match (&r.ended, r.ended_early, &r.error) {
                (Some((reason, code)), true, _) => format!("ended early: {reason:?} (SIP {code:?})"),
                (_, _, Some(e)) => format!("error: {e}"),
                (Some((reason, code)), false, _) => format!("ended after hangup: {reason:?} (SIP {code:?})"),
                (None, _, None) => "no Ended".into(),
            };
            let key = format!("{stage}{what}");
            *why.entry(key).or_insert(0) += 1;
        }
        for (k, v) in &why {
            println!("  {v:>5} x {k}");
        }

        let secs = |f: fn(&CallResult) -> Option<Duration>| -> Vec<f64> {
            self.results.iter().filter_map(f).map(|d| d.as_secs_f64() * 1e3).collect()
        };
        let setup = secs(|r| r.dial_to_first_echo);
        println!(
            "setup time, dial -> first echoed packet: p50 {} ms, p95 {} ms, max {} ms (n = {})",
            ms(quantile(&setup, 0.5)),
            ms(quantile(&setup, 0.95)),
            ms(quantile(&setup, 1.0)),
            setup.len()
        );
        for (label, v) in [
            ("dial -> gateway's SDP answer", secs(|r| r.dial_to_media)),
            ("dial -> ICE+DTLS connected", secs(|r| r.dial_to_connected)),
            ("dial -> Answered (sipp's 200)", secs(|r| r.dial_to_answered)),
        ] {
            println!("  {label}: p50 {} ms, p95 {} ms", ms(quantile(&v, 0.5)), ms(quantile(&v, 0.95)));
        }

        // Packets: every call that got an echo, from its first echoed frame on.
        let echoing: Vec<&CallResult> = self.results.iter().filter(|r| r.first_echo_counter.is_some()).collect();
        let (mut sent, mut lost, mut down_exp, mut down_lost) = (0u64, 0u64, 0u64, 0u64);
        let (mut dup, mut reord, mut misrouted, mut other, mut before, mut send_err) = (0, 0, 0, 0, 0, 0);
        for r in &echoing {
            let (s, l) = r.round_trip().unwrap_or_default();
            sent += s;
            lost += l;
            down_exp += r.down_expected;
            down_lost += r.down_lost();
            dup += r.duplicates;
            reord += r.reordered;
            misrouted += r.misrouted;
            other += r.other_packets;
            before += r.first_echo_counter.unwrap_or_default();
            send_err += r.send_errors;
        }
        let up_lost = lost.saturating_sub(down_lost);
        println!("packets (the {} calls with an echo, from each one's first echoed frame on):", echoing.len());
        println!("  round trip: browsers sent {sent}, got back {}, lost {lost} ({})", sent - lost, pct(lost, sent));
        println!(
            "  browser -> gateway -> sipp echo -> gateway: lost {up_lost} ({}) [round trip minus the last hop; \
             includes echoes still queued {} ms after the media phase]",
            pct(up_lost, sent),
            DRAIN.as_millis()
        );
        println!(
            "  gateway -> browser: lost {down_lost} of {down_exp} ({}) [gaps in the gateway's RTP sequence numbers]",
            pct(down_lost, down_exp)
        );
        println!(
            "  duplicates {dup}, reordered {reord}, other calls' packets {misrouted} (must be 0), ringback/other {other}, \
             frames sent before the first echo {before}, tool send errors {send_err}"
        );

        let browser_ports = self.shared.ports.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let [webrtc, gw_sip, sipp_media, _] = self.ports;
        let class = |port: u16, ours: bool| -> &'static str {
            match (ours, port) {
                (true, p) if p == webrtc => "gateway WebRTC socket (every browser leg)",
                (true, p) if p == gw_sip => "gateway SIP socket",
                (true, p) if browser_ports.contains(&p) => "fake browsers' sockets",
                (true, _) => "gateway carrier-leg RTP sockets",
                (false, p) if p == sipp_media || p == sipp_media + 2 => "sipp RTP echo socket",
                (false, _) => "sipp's other sockets",
            }
        };
        println!("  kernel receive-buffer drops during the media phase (/proc/net/udp, per socket):");
        for (what, (sockets, drops)) in self.t1.drops.since(&self.t0.drops, class) {
            println!("    {what}: {drops} ({sockets} sockets)");
        }
        let late = &self.shared.send_late;
        println!(
            "  the tool's own send lag behind the 20 ms schedule: p50 {} ms, p95 {} ms, p99 {} ms, max {} ms",
            ms(late.quantile_ms(0.5)),
            ms(late.quantile_ms(0.95)),
            ms(late.quantile_ms(0.99)),
            ms(late.quantile_ms(1.0))
        );

        let jit_added: Vec<f64> = echoing.iter().map(|r| r.jitter_added_ms).collect();
        let jit_rtp: Vec<f64> = echoing.iter().map(|r| r.jitter_rtp_ms).collect();
        println!(
            "jitter of the echoed stream (RFC 3550, per call): added by the path (vs send time) mean {} ms, p95 {} ms; \
             vs RTP timestamps mean {} ms, p95 {} ms",
            ms(mean(&jit_added)),
            ms(quantile(&jit_added, 0.95)),
            ms(mean(&jit_rtp)),
            ms(quantile(&jit_rtp, 0.95))
        );
        let rtt = &self.shared.rtt;
        println!(
            "round trip (browser -> gateway -> sipp -> gateway -> browser): p50 {} ms, p95 {} ms, p99 {} ms, max {} ms \
             (n = {})",
            ms(rtt.quantile_ms(0.5)),
            ms(rtt.quantile_ms(0.95)),
            ms(rtt.quantile_ms(0.99)),
            ms(rtt.quantile_ms(1.0)),
            rtt.count()
        );
        println!(
            "  echoes later than 150 ms (too late for a conversation): {}",
            pct(rtt.count_above(Duration::from_millis(150)), rtt.count())
        );

        // CPU over the media phase.
        let ticks = stats::clock_ticks() as f64;
        let window = self.t1.at.saturating_duration_since(self.t0.at).as_secs_f64();
        let call_seconds = active.len() as f64 * window;
        let ms_of = |t: u64| t as f64 / ticks * 1e3;
        let total = self.t1.cpu.total.saturating_sub(self.t0.cpu.total);
        let gw = self.t1.cpu.threads_since(&self.t0.cpu, "gw");
        let br = self.t1.cpu.threads_since(&self.t0.cpu, "browsers");
        let per = |t: u64| if call_seconds > 0.0 { format!("{:.3}", ms_of(t) / call_seconds) } else { "-".into() };
        println!(
            "CPU over the media phase ({window:.1} s, {} calls up = {call_seconds:.0} call-seconds; {} cores):",
            active.len(),
            std::thread::available_parallelism().map_or(0, |p| p.get())
        );
        println!(
            "  whole process {:.2} s = {} ms CPU per call-second ({:.0}% of one core)",
            ms_of(total) / 1e3,
            per(total),
            ms_of(total) / 10.0 / window.max(1e-9)
        );
        println!(
            "    gateway threads (gw)         {:.2} s = {} ms per call-second ({:.0}% of one core)",
            ms_of(gw) / 1e3,
            per(gw),
            ms_of(gw) / 10.0 / window.max(1e-9)
        );
        println!(
            "    fake browsers (browsers)     {:.2} s = {} ms per call-second ({:.0}% of one core)",
            ms_of(br) / 1e3,
            per(br),
            ms_of(br) / 10.0 / window.max(1e-9)
        );
        let rest = total.saturating_sub(gw + br);
        println!("    rest of the tool (main etc.) {:.2} s", ms_of(rest) / 1e3);
        if let (Some(a), Some(b)) = (self.t0.sipp, self.t1.sipp) {
            let s = b.saturating_sub(a);
            println!(
                "  sipp (separate process)      {:.2} s = {} ms per call-second ({:.0}% of one core)",
                ms_of(s) / 1e3,
                per(s),
                ms_of(s) / 10.0 / window.max(1e-9)
            );
        }

        let [before, sampled, hwm, at_media_end, after] = self.rss;
        let leak = after as i64 - before as i64;
        println!(
            "RSS (whole process): before the calls {}, peak {} (VmHWM; sampled max {}), at the end of media {}, \
             5 s after all calls ended {}",
            mb(before),
            mb(hwm),
            mb(sampled),
            mb(at_media_end),
            mb(after)
        );
        println!(
            "  after - before = {leak} kB = {:.1} kB per call (the allocator may keep freed memory; a leak grows with N)",
            leak as f64 / n.max(1) as f64
        );
        println!(
            "gateway calls still active 5 s after the last Ended: {}; last call ended {:.1} s after the media phase",
            self.gateway_calls_left,
            self.ended_after_media.as_secs_f64()
        );
        let (pid, status, log) = &self.sipp;
        match status {
            Some(s) => println!("sipp (pid {pid}) exited: {s}; log {}", log.display()),
            None => println!("sipp (pid {pid}) had not exited 5 s later and was ended; log {}", log.display()),
        }
    }
}
