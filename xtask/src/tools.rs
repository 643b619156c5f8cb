//! Installs what the two commands need, each pinned and checked so a warm machine skips it.
//!
//! Rust tools and npm packages go under `$CALLPLAT_TOOLS` (default `~/.cache/callplat/tools`),
//! which `command` puts first on the `PATH` of everything this process starts.

use std::{env, path::PathBuf, process::Command};

use crate::{Result, root, sh, step};

const TRUNK: &str = "0.21.14"; // 0.22 needs rustc 1.96.1
const BINARYEN: &str = "132"; // Debian's wasm-opt 108 emits wasm that Chromium rejects
/// Debian packages the tests need (the test command installs them when run as root).
const TEST_PACKAGES: &[&str] = &["chromium", "chromium-driver", "postgresql", "sip-tester"];

pub fn tools_dir() -> PathBuf {
    if let Some(dir) = env::var_os("CALLPLAT_TOOLS") {
        return PathBuf::from(dir);
    }
    let home = env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/tmp"));
    home.join(".cache/callplat/tools")
}

/// `PATH` with our tools first.
fn search_path() -> std::ffi::OsString {
    static PATH: std::sync::OnceLock<std::ffi::OsString> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let tools = tools_dir();
        let mut dirs = vec![tools.join("bin"), tools.join("node_modules/.bin")];
        dirs.extend(env::split_paths(&env::var_os("PATH").unwrap_or_default()));
        env::join_paths(dirs).unwrap_or_default()
    })
    .clone()
}

/// A command that finds our pinned tools first.
pub fn command(program: &str) -> Command {
    let mut c = Command::new(program);
    c.env("PATH", search_path())
        // Trunk would otherwise ask crates.io for a newer version on every build.
        .env("TRUNK_SKIP_VERSION_CHECK", "true");
    c
}

pub fn ensure(for_tests: bool) -> Result<()> {
    let tools = tools_dir();
    std::fs::create_dir_all(&tools).map_err(|e| format!("creating {}: {e}", tools.display()))?;
    if for_tests {
        ensure_packages(TEST_PACKAGES)?;
    }
    ensure_wasm_target()?;
    let wbg = wasm_bindgen_version()?;
    ensure_cargo_tool("wasm-bindgen", &wbg, &["wasm-bindgen-cli", "--version", &wbg])?;
    ensure_cargo_tool("trunk", TRUNK, &["--locked", "--debug", "trunk", "--version", TRUNK])?;
    ensure_wasm_opt()?;
    step("fetching crates (Trunk builds offline)");
    sh(command("cargo").args(["fetch", "--locked"]).current_dir(root()))
}

fn output_of(cmd: &str, args: &[&str]) -> Option<String> {
    let out = command(cmd).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn is_root() -> bool {
    output_of("id", &["-u"]).is_some_and(|s| s.trim() == "0")
}

pub fn ensure_packages(pkgs: &[&str]) -> Result<()> {
    let missing: Vec<&str> = pkgs
        .iter()
        .copied()
        .filter(|p| !Command::new("dpkg").args(["-s", p]).output().is_ok_and(|o| o.status.success()))
        .collect();
    if missing.is_empty() {
        println!("==> system packages present: {}", pkgs.join(", "));
        return Ok(());
    }
    if !is_root() {
        return Err(format!(
            "missing Debian packages: {0}. Install them with: sudo apt-get install -y {0}",
            missing.join(" ")
        ));
    }
    step(&format!("installing Debian packages: {}", missing.join(", ")));
    sh(Command::new("apt-get").args(["update", "-q"]))?;
    sh(Command::new("apt-get")
        .args(["install", "-y", "-q", "-o", "DPkg::Lock::Timeout=300"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

fn ensure_wasm_target() -> Result<()> {
    let installed = output_of("rustup", &["target", "list", "--installed"]).unwrap_or_default();
    if installed.lines().any(|l| l.trim() == "wasm32-unknown-unknown") {
        println!("==> rust target wasm32-unknown-unknown present");
        return Ok(());
    }
    step("adding the rust target wasm32-unknown-unknown");
    sh(command("rustup").args(["target", "add", "wasm32-unknown-unknown"]))
}

/// The CLI must be exactly the `wasm-bindgen` version in Cargo.lock, and Trunk.toml must name
/// the same one (Trunk refuses any other in offline mode).
fn wasm_bindgen_version() -> Result<String> {
    let lock = std::fs::read_to_string(root().join("Cargo.lock")).map_err(|e| format!("reading Cargo.lock: {e}"))?;
    let mut lines = lock.lines();
    let mut locked = None;
    while let Some(line) = lines.next() {
        if line == r#"name = "wasm-bindgen""#
            && let Some(v) = lines.next().and_then(|l| l.strip_prefix("version = \""))
        {
            locked = Some(v.trim_end_matches('"').to_string());
            break;
        }
    }
    let locked = locked.ok_or("Cargo.lock has no wasm-bindgen")?;
    let trunk = std::fs::read_to_string(root().join("Trunk.toml")).map_err(|e| format!("reading Trunk.toml: {e}"))?;
    if !trunk.lines().any(|l| l.replace(' ', "") == format!("wasm_bindgen=\"{locked}\"")) {
        return Err(format!("Trunk.toml's [tools] wasm_bindgen must be \"{locked}\", the version in Cargo.lock"));
    }
    Ok(locked)
}

fn ensure_cargo_tool(bin: &str, version: &str, install_args: &[&str]) -> Result<()> {
    if output_of(bin, &["--version"]).is_some_and(|v| v.split_whitespace().any(|w| w == version)) {
        println!("==> {bin} {version} present");
        return Ok(());
    }
    step(&format!("installing {bin} {version} (cargo install; a few minutes on a fresh machine)"));
    // No --locked for wasm-bindgen-cli: its published lockfile names a crate this registry lacks.
    sh(command("cargo").arg("install").arg("--root").arg(tools_dir()).args(install_args))
}

fn ensure_wasm_opt() -> Result<()> {
    if output_of("wasm-opt", &["--version"]).is_some_and(|v| v.contains(&format!("version {BINARYEN}"))) {
        println!("==> wasm-opt {BINARYEN} present");
        return Ok(());
    }
    step(&format!("installing wasm-opt {BINARYEN} (npm package binaryen@{BINARYEN})"));
    sh(command("npm")
        .args(["install", "--no-audit", "--no-fund", "--prefix"])
        .arg(tools_dir())
        .arg(format!("binaryen@{BINARYEN}")))
}
