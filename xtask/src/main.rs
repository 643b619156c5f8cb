//! `cargo xtask run` and `cargo xtask test`: the README's two commands.
//!
//! Both install what a fresh machine lacks (each tool pinned and version-checked, so a warm
//! machine skips it), say what they are doing, and fail with a reason.

mod pg;
mod tools;

use std::{
    env,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Command, ExitCode, Stdio},
    time::Instant,
};

type Result<T, E = String> = std::result::Result<T, E>;

const USAGE: &str = "\
usage: cargo xtask <command>

  run [--release]   install what is missing, build the web app, start the platform on SQLite
                    (http://127.0.0.1:8080 unless CALLPLAT_HTTP__BIND says otherwise)
  test              install what is missing, then run every test: unit, integration on SQLite
                    and on a throwaway PostgreSQL cluster, and the browser end-to-end tests
";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => run(args.iter().any(|a| a == "--release")),
        Some("test") => test(),
        _ => {
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

pub fn step(what: &str) {
    println!("\n==> {what}");
}

/// Runs a command to completion with inherited output; an error names the command.
pub fn sh(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    let status = cmd.status().map_err(|e| format!("could not start {shown}: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("{shown} failed ({status})")) }
}

fn cargo() -> Command {
    let mut c = tools::command(&env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

fn build_web() -> Result<()> {
    step("building the web app (Trunk, release)");
    let t = Instant::now();
    sh(tools::command("trunk").args(["build", "--release"]).current_dir(root()))?;
    println!("    web app built in {:.0?} into web/dist", t.elapsed());
    Ok(())
}

fn run(release: bool) -> Result<()> {
    tools::ensure(false)?;
    build_web()?;
    step(if release { "building the server (release)" } else { "building the server" });
    let mut build = cargo();
    build.args(["build", "--locked", "-p", "server", "--bin", "server"]);
    if release {
        build.arg("--release");
    }
    sh(&mut build)?;
    let target = target_dir()?;
    let bin = target.join(if release { "release" } else { "debug" }).join("server");

    step("starting the platform (Ctrl-C stops it)");
    let mut server = Command::new(&bin);
    server.current_dir(root()).env("CALLPLAT_WEB_DIST", root().join("web/dist"));
    if env::var_os("ADMIN_EMAIL").is_none() {
        server.env("ADMIN_EMAIL", "admin@example.com");
    }
    // Replace this process, so Ctrl-C reaches the server alone and it shuts down gracefully.
    use std::os::unix::process::CommandExt;
    Err(format!("could not start {}: {}", bin.display(), server.exec()))
}

fn target_dir() -> Result<PathBuf> {
    let out = cargo()
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .output()
        .map_err(|e| e.to_string())?;
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| format!("cargo metadata: {e}"))?;
    meta["target_directory"].as_str().map(PathBuf::from).ok_or_else(|| "cargo metadata: no target_directory".into())
}

/// One test executable that `cargo test --no-run` built.
struct TestBinary {
    package: String,
    kind: String,
    path: PathBuf,
    manifest_dir: PathBuf,
}

#[derive(Default)]
struct Tally {
    passed: u64,
    failed: u64,
    failures: Vec<String>,
}

fn test() -> Result<()> {
    let started = Instant::now();
    tools::ensure(true)?;

    step("checking that `protocol` builds for wasm32-unknown-unknown");
    sh(cargo().args(["build", "--locked", "-p", "protocol", "--target", "wasm32-unknown-unknown"]))?;

    build_web()?;

    step("compiling every native test (one build, reused by every run below)");
    let binaries = compile_tests()?;

    let mut tally = Tally::default();
    let web_dist = root().join("web/dist");

    step("unit + integration + browser end-to-end tests, database: SQLite");
    for bin in &binaries {
        let mut extra = vec![];
        if bin.package == "e2e" {
            // One browser at a time: two cores, and each test is a whole browser session.
            extra.push("--test-threads=1".to_string());
        }
        run_test_binary(bin, &[("CALLPLAT_WEB_DIST", web_dist.as_os_str())], &extra, "sqlite", &mut tally)?;
    }

    step("starting a throwaway PostgreSQL cluster");
    let cluster = pg::Cluster::start()?;
    step("storage + API tests again, database: PostgreSQL");
    let url = cluster.url();
    for bin in binaries.iter().filter(|b| b.package == "server" && b.kind == "test") {
        run_test_binary(bin, &[("TEST_DATABASE_URL", url.as_ref())], &[], "postgres", &mut tally)?;
    }
    drop(cluster);

    println!("\n==> done in {:.0?}", started.elapsed());
    for f in &tally.failures {
        println!("    FAILED {f}");
    }
    println!("{} passed, {} failed", tally.passed, tally.failed);
    if tally.failed > 0 { Err(format!("{} test(s) failed", tally.failed)) } else { Ok(()) }
}

fn compile_tests() -> Result<Vec<TestBinary>> {
    let mut child = cargo()
        .args(["test", "--workspace", "--locked", "--no-run", "--message-format=json-render-diagnostics"])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start cargo: {e}"))?;
    let mut bins = vec![];
    for line in BufReader::new(child.stdout.take().expect("piped")).lines() {
        let line = line.map_err(|e| e.to_string())?;
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
        if msg["reason"] != "compiler-artifact" || !msg["profile"]["test"].as_bool().unwrap_or(false) {
            continue;
        }
        let Some(exe) = msg["executable"].as_str() else { continue };
        let manifest = PathBuf::from(msg["manifest_path"].as_str().unwrap_or_default());
        bins.push(TestBinary {
            package: package_of(&manifest).unwrap_or_default(),
            kind: msg["target"]["kind"][0].as_str().unwrap_or("?").to_string(),
            path: PathBuf::from(exe),
            manifest_dir: manifest.parent().map(Path::to_path_buf).unwrap_or_else(root),
        });
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if !status.success() {
        return Err("compiling the tests failed".into());
    }
    // Pure and fast first, slow browser tests last.
    bins.sort_by_key(|b| (b.package == "e2e", b.package.clone(), b.kind.clone()));
    Ok(bins)
}

fn package_of(manifest: &Path) -> Option<String> {
    manifest.parent()?.file_name()?.to_str().map(str::to_string)
}

fn run_test_binary(
    bin: &TestBinary,
    envs: &[(&str, &std::ffi::OsStr)],
    extra: &[String],
    db: &str,
    tally: &mut Tally,
) -> Result<()> {
    let label = format!("{} ({}, {db})", bin.package, bin.kind);
    println!("\n--- {label}");
    let mut cmd = Command::new(&bin.path);
    cmd.current_dir(&bin.manifest_dir).env("CARGO_MANIFEST_DIR", &bin.manifest_dir).args(extra).stdout(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().map_err(|e| format!("could not start {}: {e}", bin.path.display()))?;
    let mut saw_result = false;
    for line in BufReader::new(child.stdout.take().expect("piped")).lines() {
        let line = line.map_err(|e| e.to_string())?;
        println!("{line}");
        if let Some(name) = line.strip_prefix("test ").and_then(|l| l.strip_suffix(" ... FAILED")) {
            tally.failures.push(format!("{label}: {name}"));
        }
        if let Some(rest) = line.strip_prefix("test result: ") {
            saw_result = true;
            tally.passed += count(rest, " passed");
            tally.failed += count(rest, " failed");
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if !status.success() && !saw_result {
        // It crashed before libtest could report: count it as one failure.
        tally.failed += 1;
        tally.failures.push(format!("{label}: the test binary exited with {status}"));
    }
    Ok(())
}

/// `count("ok. 12 passed; 0 failed; …", " passed")` is 12.
fn count(summary: &str, what: &str) -> u64 {
    summary
        .split(';')
        .find_map(|part| {
            part.trim().trim_start_matches("ok. ").trim_start_matches("FAILED. ").strip_suffix(what.trim_start())
        })
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_libtest_summary() {
        let s = "FAILED. 12 passed; 3 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.00s";
        assert_eq!(super::count(s, " passed"), 12);
        assert_eq!(super::count(s, " failed"), 3);
        assert_eq!(super::count("ok. 0 passed; 0 failed", " failed"), 0);
    }
}
