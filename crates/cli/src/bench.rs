//! `casellario bench`: the ingestion benchmark. Generates a PS_PSA_SINA flow
//! and, in the same run, times the baseline — `xmllint --noout --stream
//! --schema`, the validation INPS and the enti run today — then
//! `casellario validate` and `casellario import` (fresh, durable database) on
//! the same file, and prints records/s, ratios to the baseline and peak
//! memory (VmHWM of each child process).

use crate::CliError;
use casellario_domain::FlowType;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

const PS_XSD: &str = include_str!("../../../schemas/PS_PSA_SINA201812.xsd");

/// Environment variable asking a `casellario` process to print its peak RSS on exit.
pub const PEAK_ENV: &str = "CASELLARIO_PEAK_RSS";

/// Prints `peak_rss_kb=N` on standard error (Linux: VmHWM of /proc/self/status).
pub fn report_peak_rss() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .map(|v| v.trim().trim_end_matches("kB").trim());
    if let Some(kb) = kb {
        eprintln!("peak_rss_kb={kb}");
    }
}

struct Run {
    secs: f64,
    peak_kb: Option<u64>,
    ok: bool,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn timed(cmd: &mut Command) -> Result<Run, CliError> {
    let start = Instant::now();
    let out = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).output()?;
    let secs = start.elapsed().as_secs_f64();
    let err = String::from_utf8_lossy(&out.stderr);
    let peak_kb = err
        .lines()
        .find_map(|l| l.strip_prefix("peak_rss_kb="))
        .and_then(|v| v.trim().parse().ok())
        .or_else(|| {
            // GNU time's "%M" line (xmllint runs under /usr/bin/time when present).
            err.lines()
                .rev()
                .find_map(|l| l.strip_prefix("maxrss_kb="))
                .and_then(|v| v.trim().parse().ok())
        });
    Ok(Run {
        secs,
        peak_kb,
        ok: out.status.success(),
    })
}

fn mb(kb: Option<u64>) -> String {
    kb.map(|k| format!("{:.1} MB", k as f64 / 1024.0))
        .unwrap_or_else(|| "n/d".into())
}

pub fn run(records: u64, runs: usize, seed: u64) -> Result<u8, CliError> {
    let runs = runs.max(1);
    let dir = tempfile::tempdir()?;
    let flow = dir.path().join("bench.xml");
    let xsd = dir.path().join("PS_PSA_SINA201812.xsd");
    std::fs::write(&xsd, PS_XSD)?;
    let opts = casellario_gen::GenOptions {
        tipo: FlowType::PsPsaSina,
        records,
        seed,
        ..casellario_gen::GenOptions::default()
    };
    let t = Instant::now();
    casellario_gen::write_xml(
        &opts,
        BufWriter::with_capacity(1 << 20, File::create(&flow)?),
    )?;
    let gen_secs = t.elapsed().as_secs_f64();
    let size = std::fs::metadata(&flow)?.len();
    println!(
        "casellario bench — {records} record PS_PSA_SINA, {:.1} MB, generati in {gen_secs:.2} s",
        size as f64 / 1e6
    );
    println!(
        "macchina: {} core; mediana di {runs} esecuzioni",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    println!();

    let exe = std::env::current_exe()?;
    let xmllint = which("xmllint");
    let gnu_time = Path::new("/usr/bin/time").exists();

    let mut rows: Vec<(String, f64, Option<u64>)> = Vec::new();
    let mut all_ok = true;

    let baseline = if let Some(x) = &xmllint {
        let mut secs = Vec::new();
        let mut peak = None;
        for _ in 0..runs {
            let mut c = if gnu_time {
                let mut c = Command::new("/usr/bin/time");
                c.args(["-f", "maxrss_kb=%M"]).arg(x);
                c
            } else {
                Command::new(x)
            };
            c.args(["--noout", "--stream", "--schema"])
                .arg(&xsd)
                .arg(&flow);
            let r = timed(&mut c)?;
            all_ok &= r.ok;
            secs.push(r.secs);
            peak = peak.max(r.peak_kb);
        }
        let s = median(secs);
        rows.push((
            "xmllint --noout --stream --schema (baseline)".into(),
            s,
            peak,
        ));
        Some(s)
    } else {
        println!("!!! xmllint non trovato: nessun confronto (installare libxml2-utils)");
        None
    };

    let mut measure =
        |label: &str, args: &dyn Fn(&Path) -> Vec<std::ffi::OsString>| -> Result<f64, CliError> {
            let mut secs = Vec::new();
            let mut peak = None;
            for i in 0..runs {
                let db = dir.path().join(format!("bench-{i}-{}.db", label.len()));
                let mut c = Command::new(&exe);
                c.args(args(&db)).env(PEAK_ENV, "1");
                let r = timed(&mut c)?;
                all_ok &= r.ok;
                secs.push(r.secs);
                peak = peak.max(r.peak_kb);
                for ext in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
                }
            }
            let s = median(secs);
            rows.push((label.to_string(), s, peak));
            Ok(s)
        };
    let f = flow.clone();
    let v = measure("casellario validate", &|_| {
        vec![
            "validate".into(),
            f.clone().into(),
            "--format".into(),
            "json".into(),
        ]
    })?;
    let i = measure("casellario import (database nuovo, durevole)", &|db| {
        vec![
            "import".into(),
            f.clone().into(),
            "--format".into(),
            "json".into(),
            "--db".into(),
            db.into(),
        ]
    })?;

    println!(
        "{:<48} {:>9} {:>14} {:>10} {:>12}",
        "comando", "tempo", "record/s", "× xmllint", "picco RSS"
    );
    for (label, secs, peak) in &rows {
        let rate = records as f64 / secs;
        let ratio = baseline
            .map(|b| format!("{:.2}×", b / secs))
            .unwrap_or_else(|| "n/d".into());
        println!(
            "{label:<48} {secs:>8.3}s {rate:>14.0} {ratio:>10} {:>12}",
            mb(*peak)
        );
    }
    println!();
    if !all_ok {
        println!(
            "ATTENZIONE: almeno un comando è terminato con errore (il flusso generato dovrebbe essere valido)."
        );
    }
    if let Some(b) = baseline {
        let check = |name: &str, ratio: f64, need: f64| {
            println!(
                "{name}: {ratio:.2}× xmllint (richiesto ≥ {need}×) — {}",
                if ratio >= need { "OK" } else { "NON RAGGIUNTO" }
            );
        };
        check("validate", b / v, 3.0);
        check("import", b / i, 1.5);
    }
    for (label, _, peak) in rows.iter().filter(|r| r.0.starts_with("casellario")) {
        if let Some(k) = peak {
            println!(
                "{label}: picco {} (richiesto < 200 MB) — {}",
                mb(Some(*k)),
                if *k < 200 * 1024 {
                    "OK"
                } else {
                    "NON RAGGIUNTO"
                }
            );
        }
    }
    let _ = std::io::stdout().flush();
    Ok(if all_ok { 0 } else { 1 })
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}
