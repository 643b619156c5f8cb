//! Measures call setup on this machine: dial → ringing (the caller sees it ring) and
//! answer → first audio packet (the callee clicks Answer → the caller receives audio), over
//! `CALLS` calls between two headless browsers on loopback. Prints median, p90, min and max.
//!
//! `cargo xtask test` builds the web app first; then: `cargo run -p e2e --bin call-latency [N]`.

// Timings in milliseconds, not money.
#![allow(clippy::float_arithmetic)]

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use e2e::{Browser, Stack, with_two_browsers};

const PASSWORD: &str = "a long enough password";

/// Wall-clock milliseconds of the newest `callplat:<name>` mark in this page, if any.
async fn mark(b: &Browser, name: &str) -> Result<Option<f64>> {
    let script = format!(
        "const m = performance.getEntriesByName('callplat:{name}', 'mark'); \
         return m.length ? performance.timeOrigin + m[m.length - 1].startTime : null;"
    );
    Ok(b.client.execute(&script, vec![]).await?.as_f64())
}

async fn wait_mark(b: &Browser, name: &str) -> Result<f64> {
    for _ in 0..300 {
        if let Some(t) = mark(b, name).await? {
            return Ok(t);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("no {name} mark within 15 s")
}

fn summary(label: &str, mut v: Vec<f64>) {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    println!(
        "{label}: median {:.0} ms, p90 {:.0} ms, min {:.0} ms, max {:.0} ms (n = {})",
        at(0.5),
        at(0.9),
        v[0],
        v[v.len() - 1],
        v.len()
    );
}

#[tokio::main]
async fn main() -> Result<()> {
    let calls: usize = std::env::args().nth(1).map(|n| n.parse()).transpose()?.unwrap_or(20);
    ensure!((1..=200).contains(&calls), "between 1 and 200 calls");
    let stack = Stack::start().await?;
    stack.create_user("ada@example.com", "Ada", PASSWORD).await?;
    stack.create_user("bob@example.com", "Bob", PASSWORD).await?;
    with_two_browsers("call-latency", |a, b| async move {
        a.log_in(&stack, "ada@example.com", PASSWORD).await?;
        b.log_in(&stack, "bob@example.com", PASSWORD).await?;
        a.fill("#directory-search", "bob").await?;
        let (mut ringing, mut audio) = (vec![], vec![]);
        for i in 0..calls {
            a.client.execute("performance.clearMarks()", vec![]).await?;
            b.client.execute("performance.clearMarks()", vec![]).await?;
            a.click(r#"li.contact[data-email="bob@example.com"] button.call"#).await?;
            b.click(".incoming button.answer").await.with_context(|| format!("call {i}"))?;
            let dial = wait_mark(&a, "dial").await?;
            let rang = wait_mark(&a, "ringing").await?;
            let answer = wait_mark(&b, "answer").await?;
            let heard = wait_mark(&a, "first-audio").await?;
            ringing.push(rang - dial);
            audio.push(heard - answer);
            a.click("#hangup").await?;
            b.wait_text("#ended-reason", "ended").await?;
            a.find(r#"li.contact[data-email="bob@example.com"] button.call:not([disabled])"#).await?;
        }
        summary("dial → ringing", ringing);
        summary("answer → first audio packet", audio);
        Ok(())
    })
    .await
}
