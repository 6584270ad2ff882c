//! WaaS tables: current state derived from append-only facts, uniqueness of
//! acquisitions, pending outcomes, and UPDATE/DELETE refused.

use casellario_domain::CodiceEsito;
use casellario_domain::access::EnteKind;
use casellario_store::portal::EnteAttrs;
use casellario_store::waas::{
    AttemptOutcome, Credential, EndpointAttrs, NewAcquisition, NewAttempt, NewPollRun, PollTrigger,
};
use casellario_store::{Store, StoreError};

fn store_with_ente() -> (Store, i64) {
    let mut s = Store::open_in_memory().expect("store");
    let id = s
        .create_ente(
            "H501",
            &EnteAttrs {
                denominazione: "Comune di Roma",
                belfiore: "H501",
                tipo: EnteKind::Comune,
                attivo: true,
            },
            None,
        )
        .expect("ente");
    (s, id)
}

fn acq(ente: i64, id: &str, sha: u8) -> NewAcquisition<'_> {
    NewAcquisition {
        ente_id: ente,
        id_flusso: id,
        ts_flusso_ms: 1_000,
        tipo: "PS_PSA_SINA",
        sha256: [sha; 32],
        submission_id: None,
        codice_esito: CodiceEsito::Ok,
        descrizione_esito: Some("Flusso acquisito"),
        id_acquisizione_siuss: Some("7"),
    }
}

#[test]
fn current_state_is_derived_from_facts() {
    let (mut s, ente) = store_with_ente();
    assert!(s.waas_endpoint(ente).expect("read").is_none());
    for (url, cred) in [
        ("http://a/waas/v1", Credential::Token("t".into())),
        ("http://b/waas/v1", Credential::Env("WAAS_H501".into())),
    ] {
        s.set_waas_endpoint(
            ente,
            &EndpointAttrs {
                base_url: url,
                credential: cred,
                interval_secs: 60,
                enabled: true,
            },
            None,
        )
        .expect("endpoint");
    }
    let e = s.waas_endpoint(ente).expect("read").expect("endpoint");
    assert_eq!(e.base_url, "http://b/waas/v1");
    assert_eq!(e.credential, Credential::Env("WAAS_H501".into()));
    assert!(!format!("{:?}", Credential::Token("segreto".into())).contains("segreto"));
    assert_eq!(s.waas_endpoints().expect("list").len(), 1);

    assert_eq!(s.waas_cursor(ente).expect("cursor"), 0);
    s.advance_waas_cursor(ente, 10).expect("advance");
    s.advance_waas_cursor(ente, 25).expect("advance");
    assert_eq!(s.waas_cursor(ente).expect("cursor"), 25);

    let a = s
        .record_waas_acquisition(&acq(ente, "H501.PS.1", 1))
        .expect("acq");
    let b = s
        .record_waas_acquisition(&acq(ente, "H501.PS.2", 2))
        .expect("acq");
    // Same id, other content: another acquisition; same both: refused.
    s.record_waas_acquisition(&acq(ente, "H501.PS.1", 3))
        .expect("acq");
    assert!(matches!(
        s.record_waas_acquisition(&acq(ente, "H501.PS.1", 1)),
        Err(StoreError::Conflict(_))
    ));
    assert!(s.waas_acquired(ente, "H501.PS.1", &[1; 32]).expect("q"));
    assert!(!s.waas_acquired(ente, "H501.PS.1", &[9; 32]).expect("q"));

    assert_eq!(s.waas_pending_count(ente).expect("n"), 3);
    s.record_waas_deliveries(&[a.id], 204).expect("delivered");
    s.record_waas_deliveries(&[a.id, b.id], 204)
        .expect("again: kept once");
    assert_eq!(s.waas_pending_count(ente).expect("n"), 1);
    let pending = s.waas_pending_esiti(ente, 0, 100).expect("pending");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].sha256, [3; 32]);

    for outcome in [AttemptOutcome::Failed, AttemptOutcome::Failed] {
        s.record_waas_attempt(&NewAttempt {
            ente_id: ente,
            esiti: 1,
            http_status: Some(500),
            outcome,
            message: Some("WAAS_HTTP_ERRORE"),
            next_attempt_at_ms: Some(99),
        })
        .expect("attempt");
    }
    let (last, failures) = s.waas_delivery_state(ente).expect("state");
    assert_eq!(
        (last.expect("last").next_attempt_at_ms, failures),
        (Some(99), 2)
    );

    let run = NewPollRun {
        id: 0,
        ente_id: ente,
        started_at_ms: 1,
        finished_at_ms: 2,
        trigger: PollTrigger::Cli,
        pages: 1,
        new_flows: 3,
        duplicates: 0,
        esiti_delivered: 2,
        esiti_pending: 1,
        cursor_ms: 25,
        fault_code: Some("WAAS_TIMEOUT".into()),
        fault_message: Some("il comune non ha risposto".into()),
        anomalies: "[]".into(),
        not_before_ms: Some(5),
    };
    s.record_waas_poll_run(&run).expect("run");
    assert_eq!(s.waas_consecutive_faults(ente).expect("faults"), 1);
    let o = s.waas_overview().expect("overview");
    assert_eq!(o.len(), 1);
    assert_eq!(
        (o[0].cursor_ms, o[0].pending_esiti, o[0].acquisitions),
        (25, 1, 3)
    );
    assert_eq!(o[0].last_run.as_ref().map(|r| r.pages), Some(1));

    for table in [
        "waas_endpoint",
        "waas_acquisition",
        "waas_cursor",
        "waas_esito_delivery",
        "waas_delivery_attempt",
        "waas_poll_run",
    ] {
        let upd = s.execute_raw_for_tests(&format!("UPDATE {table} SET rowid = rowid"));
        assert!(upd.is_err(), "{table}: UPDATE allowed");
        let del = s.execute_raw_for_tests(&format!("DELETE FROM {table}"));
        assert!(del.is_err(), "{table}: DELETE allowed");
    }
}
