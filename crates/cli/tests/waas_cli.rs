//! `casellario waas endpoint` and `casellario waas poll` end to end, against
//! the fake comune: the summary in Italian, exit status 0, then 1 on a fault.

use std::process::Command;

use casellario_fakecomune::{FakeConfig, start};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_casellario"))
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = bin().args(args).output().expect("run casellario");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn waas_endpoint_then_poll_from_the_command_line() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let comune = rt
        .block_on(start(FakeConfig {
            token: Some("segreto-cli".into()),
            codice_ente: "H501".into(),
            denominazione: "Comune di Roma".into(),
        }))
        .expect("fake comune");
    let ids = comune.publish_generated(130, 5, 2);
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("c.db");
    let db = db.to_str().expect("utf-8 path");
    let url = comune.base_url();

    let (code, _, err) = run(&[
        "waas",
        "endpoint",
        "--ente",
        "H501",
        "--url",
        &url,
        "--token-env",
        "CASELLARIO_TEST_WAAS_TOKEN",
        "--intervallo",
        "60",
        "--db",
        db,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("Endpoint WaaS dell'ente H501 registrato"),
        "{err}"
    );
    assert!(!err.contains("segreto-cli"));

    // The variable is not set: a fault, exit status 1, nothing acquired.
    let (code, out, err) = run(&["waas", "poll", "--ente", "H501", "--db", db]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("WAAS_CREDENZIALE_ASSENTE"), "{out}");

    let out = bin()
        .args(["waas", "poll", "--ente", "H501", "--db", db])
        .env("CASELLARIO_TEST_WAAS_TOKEN", "segreto-cli")
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("130 flussi nuovi (OK 130)"), "{text}");
    assert!(text.contains("esiti consegnati 130, in attesa 0"), "{text}");
    assert!(comune.stats().esiti_exactly_once().is_ok());
    assert_eq!(comune.stats().published, ids);

    // The comune goes away: WAAS_IRRAGGIUNGIBILE (or its timeout), exit 1.
    comune.set_offline(true);
    let out = bin()
        .args(["waas", "poll", "--ente", "H501", "--db", db])
        .env("CASELLARIO_TEST_WAAS_TOKEN", "segreto-cli")
        .env("CASELLARIO_WAAS_TIMEOUT_MS", "2000")
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("Guasto WAAS_"), "{text}");

    // An unknown ente: the poll does not start (exit 2).
    let (code, _, err) = run(&["waas", "poll", "--ente", "Z999", "--db", db]);
    assert_eq!(code, 2);
    assert!(err.contains("WAAS_ENTE_SCONOSCIUTO"), "{err}");
    rt.block_on(comune.shutdown());
}
