//! Drives `wrk` (HTTP load generator) for the machine-channel benchmarks and
//! reads its figures back from a line the Lua script prints when done.

use std::path::Path;
use std::process::Command;

use crate::CliError;

/// What a wrk run measured.
#[derive(Debug, Clone, Copy)]
pub struct WrkRun {
    pub requests: u64,
    pub seconds: f64,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Responses with a status other than 2xx/3xx.
    pub bad_status: u64,
    /// Connect, read, write errors and timeouts.
    pub socket_errors: u64,
}

/// Appended to every script: prints the summary in one parseable line.
const DONE: &str = r#"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("CASELLARIO_WRK %d %.6f %.3f %.3f %d %d\n",
    summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.status, e.connect + e.read + e.write + e.timeout))
end
"#;

/// Runs `wrk` for `seconds` with `threads` threads and `connections`
/// connections; `script` is Lua (without `done`), `args` go to its `init`.
pub fn run(
    url: &str,
    script: &str,
    args: &[&str],
    threads: u32,
    connections: u32,
    seconds: u32,
    dir: &Path,
) -> Result<WrkRun, CliError> {
    let path = dir.join("bench.lua");
    std::fs::write(&path, format!("{script}\n{DONE}"))?;
    let out = Command::new("wrk")
        .arg(format!("-t{threads}"))
        .arg(format!("-c{connections}"))
        .arg(format!("-d{seconds}s"))
        .arg("--timeout")
        .arg("10s")
        .arg("-s")
        .arg(&path)
        .arg(url)
        .arg("--")
        .args(args)
        .output()
        .map_err(|e| {
            CliError::Msg(format!(
                "wrk non avviabile ({e}): installarlo (Debian: apt-get install wrk)"
            ))
        })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("CASELLARIO_WRK "))
        .ok_or_else(|| {
            CliError::Msg(format!(
                "wrk non ha prodotto il riepilogo:\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            ))
        })?;
    let f: Vec<&str> = line.split_whitespace().collect();
    let num = |i: usize| -> Result<f64, CliError> {
        f.get(i)
            .and_then(|s| s.parse::<f64>().ok())
            .ok_or_else(|| CliError::Msg(format!("riepilogo di wrk illeggibile: {line}")))
    };
    let requests = num(0)? as u64;
    let seconds = num(1)?;
    Ok(WrkRun {
        requests,
        seconds,
        per_second: if seconds > 0.0 {
            requests as f64 / seconds
        } else {
            0.0
        },
        p50_ms: num(2)?,
        p99_ms: num(3)?,
        bad_status: num(4)? as u64,
        socket_errors: num(5)? as u64,
    })
}
