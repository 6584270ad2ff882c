//! The register killed with SIGKILL in the middle of a WaaS poll, then run
//! again: every flow the comune published is acquired and stored exactly
//! once, and every outcome reaches the comune. A real process kill, unlike
//! the server's restart test (which aborts the poll task in process).

use std::process::Command;
use std::time::{Duration, Instant};

use casellario_fakecomune::{FakeConfig, Fault, start};
use casellario_store::Store;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_casellario"))
}

#[test]
fn a_poll_killed_mid_way_loses_nothing_and_stores_nothing_twice() {
    // Kills at several points: fetching a page, storing it, delivering.
    let mut seen = Vec::new();
    for after_ms in [0, 30, 70, 110, 160] {
        let (acquired, repeated) = kill_then_resume(after_ms);
        seen.push(format!(
            "+{after_ms} ms: {acquired} acquisiti, {repeated} esiti ripetuti"
        ));
    }
    eprintln!("kill durante il poll, poi ripresa — {}", seen.join("; "));
}

/// One run: the poll killed `after_ms` after its fourth page was answered,
/// then run again to the end. Returns the flows acquired at the kill and
/// the outcomes the comune received twice.
fn kill_then_resume(after_ms: u64) -> (usize, usize) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let comune = rt
        .block_on(start(FakeConfig::new("H501", "Comune di Roma")))
        .expect("fake comune");
    let n = 1500;
    let ids = comune.publish_generated(n, 17, 3);
    // Slow pages, so the kill lands while the poll is walking the log.
    for _ in 0..8 {
        comune.inject(Fault::Delay { ms: 150 });
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("c.db");
    let db_arg = db.to_str().expect("utf-8 path");
    let url = comune.base_url();
    let out = bin()
        .args(["waas", "endpoint", "--ente", "H501", "--url", &url])
        .args(["--intervallo", "60", "--db", db_arg])
        .output()
        .expect("run");
    assert!(out.status.success(), "{out:?}");

    let mut child = bin()
        .args(["waas", "poll", "--ente", "H501", "--db", db_arg])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn poll");
    // Four pages answered: with the poller's read-ahead, two or three are
    // committed and the next is being stored or fetched.
    let t0 = Instant::now();
    while comune.stats().flussi_log.len() < 4 {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "the poll never got going"
        );
        assert!(
            child.try_wait().expect("wait").is_none(),
            "the poll ended before the kill"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(after_ms));
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");

    let acquired_at_kill = {
        let s = Store::open(&db).expect("store after the kill");
        let ente = s.ente("H501").expect("ente").expect("H501 registered").id;
        s.waas_acquisitions(ente, 100_000)
            .expect("acquisitions")
            .len()
    };
    assert!(
        (100..n).contains(&acquired_at_kill),
        "killed mid-way: {acquired_at_kill} of {n} acquired"
    );

    let out = bin()
        .args(["waas", "poll", "--ente", "H501", "--db", db_arg])
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!(
            "{} flussi nuovi (OK {})",
            n - acquired_at_kill,
            n - acquired_at_kill
        )),
        "{acquired_at_kill} acquired before the kill: {text}"
    );
    assert!(text.contains("in attesa 0"), "{text}");

    // The register: each published flow acquired once and stored once.
    let s = Store::open(&db).expect("store");
    let ente = s.ente("H501").expect("ente").expect("H501").id;
    let acq = s.waas_acquisitions(ente, 100_000).expect("acquisitions");
    let mut names: Vec<&str> = acq.iter().map(|a| a.id_flusso.as_str()).collect();
    names.sort_unstable();
    let mut want: Vec<&str> = ids.iter().map(String::as_str).collect();
    want.sort_unstable();
    assert_eq!(
        names, want,
        "acquisitions are the published flows, once each"
    );
    assert_eq!(s.counts().expect("counts").flows as usize, n);

    // The comune: an outcome for every flow. Outcomes acknowledged by the
    // comune in the instant before the kill, and not yet recorded, are sent
    // again (at least once, as documented); such a repeat is the same outcome.
    let st = comune.stats();
    assert!(st.invalid_requests.is_empty(), "{:?}", st.invalid_requests);
    assert!(st.anomalies.is_empty(), "{:?}", st.anomalies);
    let mut repeated = 0;
    for id in &ids {
        let seen = st.esiti.get(id).map(Vec::as_slice).unwrap_or_default();
        assert!(!seen.is_empty(), "no outcome for {id}");
        assert_eq!(seen[0].codice_esito, "OK", "{id}: {:?}", seen[0]);
        if seen.len() > 1 {
            repeated += 1;
            for again in &seen[1..] {
                assert_eq!(
                    (&again.codice_esito, &again.id_acquisizione_siuss),
                    (&seen[0].codice_esito, &seen[0].id_acquisizione_siuss),
                    "{id}: a repeated outcome must be the same outcome"
                );
            }
        }
    }
    // At most the deliveries of two pages can be unrecorded at a kill.
    assert!(repeated <= 200, "{repeated} outcomes repeated");
    rt.block_on(comune.shutdown());
    (acquired_at_kill, repeated)
}
