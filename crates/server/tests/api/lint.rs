//! Lints an OpenAPI document with Spectral and the project's ModI ruleset
//! (`modi.spectral.yaml` beside this file, custom functions in `functions/`).
//! Included by test files with `#[path = "api/lint.rs"] mod lint;` (or `mod
//! lint;` from `tests/api.rs`).
//!
//! Spectral is found as `$SPECTRAL`, then `spectral` on `PATH`, then
//! `npx --no-install spectral` (npm `@stoplight/spectral-cli`). Without it the
//! lint is skipped loudly, unless `CASELLARIO_REQUIRE_EXTERNAL=1` (CI), where
//! it fails.

#![allow(dead_code)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The ModI ruleset.
pub fn ruleset_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api/modi.spectral.yaml")
}

fn required() -> bool {
    std::env::var("CASELLARIO_REQUIRE_EXTERNAL").is_ok_and(|v| v == "1")
}

fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// The command that runs Spectral, if there is one.
pub fn spectral() -> Option<Vec<OsString>> {
    if let Some(p) = std::env::var_os("SPECTRAL") {
        return Some(vec![p]);
    }
    if let Some(p) = on_path("spectral") {
        return Some(vec![p.into_os_string()]);
    }
    let npx = on_path("npx")?;
    let probe = Command::new(&npx)
        .args(["--no-install", "spectral", "--version"])
        .output()
        .ok()?;
    probe.status.success().then(|| {
        vec![
            npx.into_os_string(),
            "--no-install".into(),
            "spectral".into(),
        ]
    })
}

/// Whether Spectral can run. When it cannot, prints a loud SKIP for `test`
/// and returns false, or panics under `CASELLARIO_REQUIRE_EXTERNAL=1`.
pub fn spectral_or_skip(test: &str) -> bool {
    if spectral().is_some() {
        return true;
    }
    assert!(
        !required(),
        "CASELLARIO_REQUIRE_EXTERNAL=1 but Spectral is missing \
         (npm install -g @stoplight/spectral-cli)"
    );
    eprintln!(
        "\n!!! SKIPPED {test}: Spectral not found \
         (npm install -g @stoplight/spectral-cli, or set SPECTRAL) !!!\n"
    );
    false
}

/// Lints `doc_json` (an OpenAPI document as JSON) with the ModI ruleset,
/// failing on warnings too. `Err` carries Spectral's report (one line per
/// finding, with the rule's name), or why Spectral could not run. Without
/// Spectral: `Ok` after a loud SKIP, or a panic under
/// `CASELLARIO_REQUIRE_EXTERNAL=1`.
pub fn lint_openapi(doc_json: &str) -> Result<(), String> {
    if !spectral_or_skip("lint_openapi") {
        return Ok(());
    }
    let cmd = spectral().ok_or("Spectral scomparso")?;
    let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
    let doc = dir.path().join("openapi.json");
    std::fs::write(&doc, doc_json).map_err(|e| format!("{}: {e}", doc.display()))?;
    let out = Command::new(&cmd[0])
        .args(&cmd[1..])
        .arg("lint")
        .arg("--ruleset")
        .arg(ruleset_path())
        .args(["--fail-severity", "warn", "-f", "text"])
        .arg(&doc)
        .output()
        .map_err(|e| format!("spectral: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    // Exit 1: findings; anything else: Spectral itself failed (a broken
    // ruleset included), which must not pass either.
    Err(format!(
        "spectral lint ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}
