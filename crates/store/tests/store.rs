//! Integration tests of the register's invariants.

#![allow(clippy::unwrap_used)]

use casellario_domain::{
    Category, Channel, CodiceEsito, Esito, FlowType, Profile, Severity, Violation,
};
use casellario_store::{
    CancelReason, FlowBegin, FlowFinish, FlowTx, LiveRecord, NewFlow, NewOutcome, NewVersion,
    ReceiptRow, Store, StoreError,
};

fn meta<'a>(ente: &'a str, nome: &'a str, tipo: FlowType) -> NewFlow<'a> {
    NewFlow {
        nome,
        tipo,
        channel: Channel::Upload,
        profile: Profile::Strict,
        ente_codice: ente,
        ente_denominazione: Some("Comune di Prova"),
        ente_belfiore: "H501",
        cf_operatore: "RSSMRA80A01H501U",
        source_name: Some("upload.xml"),
    }
}

fn key(n: u8) -> [u8; 16] {
    [n; 16]
}

fn version(pos: u64, k: u8, h: u8) -> NewVersion<'static> {
    NewVersion {
        pos,
        key: key(k),
        content_hash: [h; 16],
        subject: "RSSMRA80A01H501U",
        codice_prestazione: Some("A1.01"),
        protocollo: Some("P-1"),
        data_riferimento: Some("2025-01-01"),
        payload: b"payload",
    }
}

fn finish(record_count: u64, duplicati: u64, scartati: u64, avvisi: u64) -> FlowFinish {
    FlowFinish {
        content_sha256: [7; 32],
        size_bytes: 1234,
        record_count,
        accettati: record_count - duplicati - scartati,
        duplicati,
        scartati,
        avvisi,
        codice_esito: if scartati > 0 {
            CodiceEsito::DatiNonTrovati
        } else {
            CodiceEsito::Ok
        },
        flow_violations: Vec::new(),
    }
}

fn violation(severity: Severity) -> Violation {
    Violation {
        rule: "PS_QUOTE_SOMMA".into(),
        category: Category::Dominio,
        severity,
        field: "PrestazioniSociali/@ImportoMensile".into(),
        message: "importo non coerente".into(),
        line: Some(12),
    }
}

fn begin<'a>(store: &'a mut Store, m: &NewFlow<'_>) -> FlowTx<'a> {
    match store.begin_flow(m).unwrap() {
        FlowBegin::New(tx) => tx,
        FlowBegin::Existing(s) => panic!("flow {} already exists", s.nome),
    }
}

/// Commits a flow of `n` plain accepted versions with keys 1..=n.
fn simple_flow(store: &mut Store, ente: &str, nome: &str, tipo: FlowType, keys: &[u8]) -> i64 {
    let mut tx = begin(store, &meta(ente, nome, tipo));
    for (i, &k) in keys.iter().enumerate() {
        tx.insert_version(&version(i as u64 + 1, k, k)).unwrap();
    }
    tx.commit(&finish(keys.len() as u64, 0, 0, 0)).unwrap().id
}

fn receipt(store: &Store, flow: i64) -> Vec<ReceiptRow> {
    let mut rows = Vec::new();
    store
        .for_each_receipt_row(flow, &mut |r| {
            rows.push(r);
            Ok(())
        })
        .unwrap();
    rows
}

fn live(store: &Store, ente: &str, tipo: FlowType) -> Vec<LiveRecord> {
    let mut rows = Vec::new();
    store
        .for_each_live(ente, tipo, &mut |r| {
            rows.push(r);
            Ok(())
        })
        .unwrap();
    rows
}

#[test]
fn commit_then_read_back() {
    let mut store = Store::open_in_memory().unwrap();
    let m = meta("E1", "flow-1", FlowType::PsPsaSina);
    let mut tx = begin(&mut store, &m);
    let flow_id = tx.flow_id();
    let v1 = tx.insert_version(&version(1, 1, 10)).unwrap();
    let v2 = tx.insert_version(&version(2, 2, 20)).unwrap();
    let mut fin = finish(2, 0, 0, 0);
    fin.flow_violations = vec![violation(Severity::Avviso)];
    let summary = tx.commit(&fin).unwrap();

    assert_eq!(summary.id, flow_id);
    assert_eq!(summary.nome, "flow-1");
    assert_eq!(summary.tipo, FlowType::PsPsaSina);
    assert_eq!(summary.channel, Channel::Upload);
    assert_eq!(summary.profile, Profile::Strict);
    assert_eq!(summary.ente_codice, "E1");
    assert_eq!(summary.cf_operatore, "RSSMRA80A01H501U");
    assert_eq!(summary.content_sha256, [7; 32]);
    assert_eq!(
        (summary.size_bytes, summary.record_count, summary.accettati),
        (1234, 2, 2)
    );
    assert_eq!(summary.flow_violations, fin.flow_violations);
    assert_eq!(summary.source_name.as_deref(), Some("upload.xml"));
    assert!(summary.learnt_at_ms > 1_700_000_000_000);

    assert_eq!(store.flow(flow_id).unwrap().as_ref(), Some(&summary));
    assert_eq!(
        store.find_flow("E1", "flow-1").unwrap().as_ref(),
        Some(&summary)
    );
    assert_eq!(store.find_flow("E2", "flow-1").unwrap(), None);
    assert_eq!(store.flow(flow_id + 1).unwrap(), None);

    let ente = store.ente("E1").unwrap().unwrap();
    assert_eq!(ente.denominazione.as_deref(), Some("Comune di Prova"));
    assert_eq!(ente.belfiore, "H501");
    assert_eq!(store.list_enti().unwrap(), vec![ente]);
    assert_eq!(store.ente("E2").unwrap(), None);

    let c = store.counts().unwrap();
    assert_eq!(
        (c.flows, c.versions, c.cancellations, c.live, c.outcomes),
        (1, 2, 0, 2, 0)
    );
    assert_eq!(store.live_count("E1", FlowType::PsPsaSina).unwrap(), 2);
    assert_eq!(store.live_count("E1", FlowType::Sinba).unwrap(), 0);
    assert_eq!(store.live_count("nobody", FlowType::Sinba).unwrap(), 0);

    let rows = receipt(&store, flow_id);
    assert_eq!(
        rows.iter().map(|r| r.ref_id).collect::<Vec<_>>(),
        vec![Some(v1), Some(v2)]
    );
    assert!(
        rows.iter()
            .all(|r| r.esito == Esito::Accettato && r.codice == CodiceEsito::Ok)
    );

    let l = live(&store, "E1", FlowType::PsPsaSina);
    assert_eq!(l.len(), 2);
    assert_eq!((l[0].version_id, l[0].flow_id, l[0].pos), (v1, flow_id, 1));
    assert_eq!((l[0].key, l[0].content_hash), (key(1), [10; 16]));
    assert_eq!(l[0].payload, b"payload");
    assert_eq!(l[0].subject, "RSSMRA80A01H501U");
    assert_eq!(l[0].learnt_at_ms, summary.learnt_at_ms);
}

#[test]
fn dropping_the_transaction_rolls_back() {
    let mut store = Store::open_in_memory().unwrap();
    {
        let mut tx = begin(&mut store, &meta("E1", "flow-1", FlowType::PsPsaSina));
        tx.insert_version(&version(1, 1, 1)).unwrap();
        tx.insert_outcome(&NewOutcome {
            pos: 2,
            esito: Esito::Scartato,
            codice: CodiceEsito::RichiestaInvalida,
            violations: &[violation(Severity::Errore)],
            ref_id: None,
        })
        .unwrap();
    }
    assert_eq!(store.counts().unwrap(), Default::default());
    assert_eq!(store.find_flow("E1", "flow-1").unwrap(), None);
    assert_eq!(
        store.ente("E1").unwrap(),
        None,
        "the ente registration is rolled back too"
    );
    // The name is free again.
    let id = simple_flow(&mut store, "E1", "flow-1", FlowType::PsPsaSina, &[1]);
    assert_eq!(store.flow(id).unwrap().unwrap().record_count, 1);
}

#[test]
fn a_failed_commit_rolls_back() {
    let mut store = Store::open_in_memory().unwrap();
    let mut tx = begin(&mut store, &meta("E1", "flow-1", FlowType::PsPsaSina));
    tx.insert_version(&version(1, 1, 1)).unwrap();
    // Position 2 has no row: the receipt could not have record_count rows.
    let err = tx.commit(&finish(2, 0, 0, 0)).unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err}");
    assert_eq!(store.counts().unwrap(), Default::default());

    // Counters that disagree with the outcome rows.
    let mut tx = begin(&mut store, &meta("E1", "flow-1", FlowType::PsPsaSina));
    tx.insert_outcome(&NewOutcome {
        pos: 1,
        esito: Esito::Scartato,
        codice: CodiceEsito::RichiestaInvalida,
        violations: &[],
        ref_id: None,
    })
    .unwrap();
    let err = tx.commit(&finish(1, 0, 0, 0)).unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err}");

    // Rows beyond record_count.
    let mut tx = begin(&mut store, &meta("E1", "flow-1", FlowType::PsPsaSina));
    tx.insert_version(&version(1, 1, 1)).unwrap();
    tx.insert_version(&version(3, 3, 3)).unwrap();
    assert!(tx.commit(&finish(2, 0, 0, 0)).is_err());
    assert_eq!(store.counts().unwrap(), Default::default());
    assert_eq!(store.list_enti().unwrap(), vec![]);
}

#[test]
fn positions_must_increase() {
    let mut store = Store::open_in_memory().unwrap();
    let mut tx = begin(&mut store, &meta("E1", "flow-1", FlowType::PsPsaSina));
    assert!(matches!(
        tx.insert_version(&version(0, 1, 1)),
        Err(StoreError::Invalid(_))
    ));
    tx.insert_version(&version(2, 1, 1)).unwrap();
    assert!(matches!(
        tx.insert_version(&version(2, 2, 1)),
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        tx.insert_version(&version(1, 2, 1)),
        Err(StoreError::Invalid(_))
    ));
}

#[test]
fn exactly_once_per_ente_and_name() {
    let mut store = Store::open_in_memory().unwrap();
    let first = simple_flow(&mut store, "E1", "flow-1", FlowType::PsPsaSina, &[1, 2]);
    match store
        .begin_flow(&meta("E1", "flow-1", FlowType::Sinba))
        .unwrap()
    {
        FlowBegin::Existing(s) => {
            assert_eq!(s.id, first);
            assert_eq!(s.record_count, 2);
        }
        FlowBegin::New(_) => panic!("same (ente, nome) must be refused"),
    }
    // The store is usable again (the Existing path rolled back).
    let other = simple_flow(&mut store, "E2", "flow-1", FlowType::PsPsaSina, &[1]);
    assert_ne!(other, first);
    assert_eq!(store.counts().unwrap().flows, 2);
    assert_eq!(store.list_enti().unwrap().len(), 2);
}

#[test]
fn live_by_key_follows_cancellations() {
    let mut store = Store::open_in_memory().unwrap();
    let mut tx = begin(&mut store, &meta("E1", "flow-1", FlowType::PsPsaSina));
    assert_eq!(tx.live_by_key(&key(1)).unwrap(), None);
    let v1 = tx.insert_version(&version(1, 1, 10)).unwrap();
    let found = tx.live_by_key(&key(1)).unwrap().unwrap();
    assert_eq!((found.version_id, found.content_hash), (v1, [10; 16]));
    tx.insert_cancellation(v1, 2, CancelReason::Cancellazione)
        .unwrap();
    assert_eq!(tx.live_by_key(&key(1)).unwrap(), None);
    let v3 = tx.insert_version(&version(3, 1, 30)).unwrap();
    tx.commit(&finish(3, 0, 0, 0)).unwrap();

    let mut tx = begin(&mut store, &meta("E1", "flow-2", FlowType::PsPsaSina));
    let found = tx.live_by_key(&key(1)).unwrap().unwrap();
    assert_eq!((found.version_id, found.content_hash), (v3, [30; 16]));
    // Two live versions with one key: the newest wins.
    let v4 = tx.insert_version(&version(1, 1, 40)).unwrap();
    assert_eq!(tx.live_by_key(&key(1)).unwrap().unwrap().version_id, v4);
    tx.commit(&finish(1, 0, 0, 0)).unwrap();

    // Scoped to the ente and the flow type.
    let mut tx = begin(&mut store, &meta("E2", "flow-1", FlowType::PsPsaSina));
    assert_eq!(tx.live_by_key(&key(1)).unwrap(), None);
    drop(tx);
    let mut tx = begin(&mut store, &meta("E1", "flow-3", FlowType::Sinba));
    assert_eq!(tx.live_by_key(&key(1)).unwrap(), None);
}

#[test]
fn cancellations_are_checked() {
    let mut store = Store::open_in_memory().unwrap();
    simple_flow(&mut store, "E1", "flow-1", FlowType::PsPsaSina, &[1]);
    let v_sinba = {
        let mut tx = begin(&mut store, &meta("E1", "flow-s", FlowType::Sinba));
        let v = tx.insert_version(&version(1, 9, 9)).unwrap();
        tx.commit(&finish(1, 0, 0, 0)).unwrap();
        v
    };
    let v1 = store.find_flow("E1", "flow-1").unwrap().unwrap();
    let mut v1_id = 0;
    store
        .for_each_receipt_row(v1.id, &mut |r| {
            v1_id = r.ref_id.unwrap();
            Ok(())
        })
        .unwrap();

    let mut tx = begin(&mut store, &meta("E2", "flow-x", FlowType::PsPsaSina));
    assert!(matches!(
        tx.insert_cancellation(v1_id, 1, CancelReason::Cancellazione),
        Err(StoreError::Invalid(_))
    ));
    drop(tx);
    let mut tx = begin(&mut store, &meta("E1", "flow-x", FlowType::PsPsaSina));
    assert!(matches!(
        tx.insert_cancellation(v_sinba, 1, CancelReason::Cancellazione),
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        tx.insert_cancellation(999_999, 1, CancelReason::Cancellazione),
        Err(StoreError::Invalid(_))
    ));
    tx.insert_cancellation(v1_id, 1, CancelReason::Cancellazione)
        .unwrap();
    assert!(matches!(
        tx.insert_cancellation(v1_id, 2, CancelReason::Cancellazione),
        Err(StoreError::Invalid(_))
    ));
}

#[test]
fn receipt_merges_versions_cancellations_and_outcomes() {
    let mut store = Store::open_in_memory().unwrap();
    let first = simple_flow(&mut store, "E1", "flow-1", FlowType::PsPsaSina, &[1, 2, 3]);
    let old: Vec<i64> = receipt(&store, first)
        .iter()
        .map(|r| r.ref_id.unwrap())
        .collect();

    let warn = [violation(Severity::Avviso)];
    let err = [violation(Severity::Errore)];
    let mut tx = begin(&mut store, &meta("E1", "flow-2", FlowType::PsPsaSina));
    // 1: accepted, plain.
    let v1 = tx.insert_version(&version(1, 10, 10)).unwrap();
    // 2: C record, plain.
    let c2 = tx
        .insert_cancellation(old[0], 2, CancelReason::Cancellazione)
        .unwrap();
    // 3: duplicate of a live version.
    tx.insert_outcome(&NewOutcome {
        pos: 3,
        esito: Esito::Duplicato,
        codice: CodiceEsito::Ok,
        violations: &[],
        ref_id: Some(old[1]),
    })
    .unwrap();
    // 4: rejected with violations.
    tx.insert_outcome(&NewOutcome {
        pos: 4,
        esito: Esito::Scartato,
        codice: CodiceEsito::DatiNonTrovati,
        violations: &err,
        ref_id: None,
    })
    .unwrap();
    // 5: accepted with warnings.
    let v5 = tx.insert_version(&version(5, 11, 11)).unwrap();
    tx.insert_outcome(&NewOutcome {
        pos: 5,
        esito: Esito::Accettato,
        codice: CodiceEsito::Ok,
        violations: &warn,
        ref_id: Some(v5),
    })
    .unwrap();
    // 6: replacement (new version + cancellation of the old one at one position).
    let v6 = tx.insert_version(&version(6, 3, 33)).unwrap();
    tx.insert_cancellation(old[2], 6, CancelReason::Sostituzione)
        .unwrap();
    // 7: accepted C record with warnings.
    let c7 = tx
        .insert_cancellation(v1, 7, CancelReason::Cancellazione)
        .unwrap();
    tx.insert_outcome(&NewOutcome {
        pos: 7,
        esito: Esito::Accettato,
        codice: CodiceEsito::Ok,
        violations: &warn,
        ref_id: Some(c7),
    })
    .unwrap();
    let summary = tx.commit(&finish(7, 1, 1, 2)).unwrap();
    assert_eq!(
        (
            summary.accettati,
            summary.duplicati,
            summary.scartati,
            summary.avvisi
        ),
        (5, 1, 1, 2)
    );

    let rows = receipt(&store, summary.id);
    assert_eq!(rows.len(), 7);
    let expect = |pos, esito, codice, violations: &[Violation], ref_id| ReceiptRow {
        pos,
        esito,
        codice,
        violations: violations.to_vec(),
        ref_id,
    };
    use CodiceEsito::{DatiNonTrovati, Ok as OK};
    use Esito::{Accettato, Duplicato, Scartato};
    assert_eq!(
        rows,
        vec![
            expect(1, Accettato, OK, &[], Some(v1)),
            expect(2, Accettato, OK, &[], Some(c2)),
            expect(3, Duplicato, OK, &[], Some(old[1])),
            expect(4, Scartato, DatiNonTrovati, &err, None),
            expect(5, Accettato, OK, &warn, Some(v5)),
            expect(6, Accettato, OK, &[], Some(v6)),
            expect(7, Accettato, OK, &warn, Some(c7)),
        ]
    );
    // The first flow's receipt is unchanged by later facts.
    assert_eq!(receipt(&store, first).len(), 3);

    let c = store.counts().unwrap();
    assert_eq!(
        (c.flows, c.versions, c.cancellations, c.live, c.outcomes),
        (2, 6, 3, 3, 4)
    );
    assert_eq!(store.live_count("E1", FlowType::PsPsaSina).unwrap(), 3);

    // A callback error stops the stream and is returned.
    let mut seen = 0;
    let res = store.for_each_receipt_row(summary.id, &mut |_| {
        seen += 1;
        Err(StoreError::Invalid("stop".into()))
    });
    assert!(res.is_err());
    assert_eq!(seen, 1);
    assert!(store.for_each_receipt_row(12345, &mut |_| Ok(())).is_err());
}

#[test]
fn empty_flow_has_empty_receipt() {
    let mut store = Store::open_in_memory().unwrap();
    let tx = begin(&mut store, &meta("E1", "empty", FlowType::Sinba));
    let mut fin = finish(0, 0, 0, 0);
    fin.codice_esito = CodiceEsito::RichiestaInvalida;
    fin.flow_violations = vec![violation(Severity::Errore)];
    let s = tx.commit(&fin).unwrap();
    assert_eq!(receipt(&store, s.id), vec![]);
    assert_eq!(store.flow(s.id).unwrap().unwrap().flow_violations.len(), 1);
}

#[test]
fn live_view_excludes_cancelled_and_superseded() {
    let mut store = Store::open_in_memory().unwrap();
    simple_flow(&mut store, "E1", "s-1", FlowType::Sinba, &[1, 2, 3, 4]);
    simple_flow(&mut store, "E1", "ps-1", FlowType::PsPsaSina, &[1, 2]);
    simple_flow(&mut store, "E2", "s-1", FlowType::Sinba, &[1]);
    let before: Vec<i64> = live(&store, "E1", FlowType::Sinba)
        .iter()
        .map(|r| r.version_id)
        .collect();
    assert_eq!(before.len(), 4);

    let mut tx = begin(&mut store, &meta("E1", "s-2", FlowType::Sinba));
    // Supersede key 2, cancel key 3.
    let old2 = tx.live_by_key(&key(2)).unwrap().unwrap().version_id;
    let new2 = tx.insert_version(&version(1, 2, 22)).unwrap();
    tx.insert_cancellation(old2, 1, CancelReason::Sostituzione)
        .unwrap();
    let old3 = tx.live_by_key(&key(3)).unwrap().unwrap().version_id;
    tx.insert_cancellation(old3, 2, CancelReason::Cancellazione)
        .unwrap();
    let new5 = tx.insert_version(&version(3, 5, 5)).unwrap();
    tx.commit(&finish(3, 0, 0, 0)).unwrap();

    let after: Vec<i64> = live(&store, "E1", FlowType::Sinba)
        .iter()
        .map(|r| r.version_id)
        .collect();
    assert_eq!(after, vec![before[0], before[3], new2, new5]);
    assert_eq!(store.live_count("E1", FlowType::Sinba).unwrap(), 4);
    assert_eq!(live(&store, "E1", FlowType::PsPsaSina).len(), 2);
    assert_eq!(live(&store, "E2", FlowType::Sinba).len(), 1);
    assert_eq!(live(&store, "E3", FlowType::Sinba).len(), 0);
}

#[test]
fn list_flows_pages_newest_first() {
    let mut store = Store::open_in_memory().unwrap();
    let mut e1 = Vec::new();
    for i in 0..5 {
        e1.push(simple_flow(
            &mut store,
            "E1",
            &format!("f{i}"),
            FlowType::PsPsaSina,
            &[1],
        ));
        simple_flow(
            &mut store,
            "E2",
            &format!("f{i}"),
            FlowType::PsPsaSina,
            &[1],
        );
    }
    let ids =
        |v: Vec<casellario_store::FlowSummary>| v.into_iter().map(|s| s.id).collect::<Vec<_>>();
    let page1 = ids(store.list_flows(Some("E1"), 2, None).unwrap());
    assert_eq!(page1, vec![e1[4], e1[3]]);
    let page2 = ids(store.list_flows(Some("E1"), 2, Some(e1[3])).unwrap());
    assert_eq!(page2, vec![e1[2], e1[1]]);
    let page3 = ids(store.list_flows(Some("E1"), 2, Some(e1[1])).unwrap());
    assert_eq!(page3, vec![e1[0]]);
    assert_eq!(store.list_flows(None, 100, None).unwrap().len(), 10);
    assert!(store.list_flows(Some("E9"), 10, None).unwrap().is_empty());
    let all = ids(store.list_flows(None, 3, None).unwrap());
    assert!(all.windows(2).all(|w| w[0] > w[1]));
}

#[test]
fn triggers_refuse_updates_and_deletes() {
    let mut store = Store::open_in_memory().unwrap();
    let mut tx = begin(&mut store, &meta("E1", "flow-1", FlowType::PsPsaSina));
    let v1 = tx.insert_version(&version(1, 1, 1)).unwrap();
    tx.insert_cancellation(v1, 2, CancelReason::Cancellazione)
        .unwrap();
    tx.insert_outcome(&NewOutcome {
        pos: 3,
        esito: Esito::Scartato,
        codice: CodiceEsito::RichiestaInvalida,
        violations: &[],
        ref_id: None,
    })
    .unwrap();
    tx.commit(&finish(3, 0, 1, 0)).unwrap();

    for table in [
        "ente",
        "flow",
        "flow_commit",
        "record_version",
        "cancellation",
        "record_outcome",
    ] {
        for sql in [
            format!("UPDATE {table} SET learnt_at = 0"),
            format!("DELETE FROM {table}"),
        ] {
            let err = store.execute_raw_for_tests(&sql).unwrap_err();
            assert!(err.to_string().contains("append-only"), "{sql}: {err}");
        }
    }
    // INSERT OR REPLACE would delete through the conflict path.
    let err = store
        .execute_raw_for_tests(&format!(
            "INSERT OR REPLACE INTO record_version (id, flow_id, pos, key, content_hash, subject, payload, learnt_at) \
             VALUES ({v1}, 1, 1, zeroblob(16), zeroblob(16), 'x', x'00', 0)"
        ))
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    let c = store.counts().unwrap();
    assert_eq!(
        (c.flows, c.versions, c.cancellations, c.outcomes),
        (1, 1, 1, 1)
    );
}

#[test]
fn file_store_persists_and_migrates_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("register.sqlite");
    let flow_id;
    {
        let mut store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), 4);
        flow_id = simple_flow(&mut store, "E1", "flow-1", FlowType::Sinba, &[1, 2, 3]);
        // An uncommitted flow leaves nothing.
        let mut tx = begin(&mut store, &meta("E1", "flow-2", FlowType::Sinba));
        tx.insert_version(&version(1, 4, 4)).unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), 4);
    assert_eq!(store.path(), Some(path.as_path()));
    let s = store.flow(flow_id).unwrap().unwrap();
    assert_eq!(s.record_count, 3);
    assert_eq!(store.find_flow("E1", "flow-2").unwrap(), None);
    assert_eq!(live(&store, "E1", FlowType::Sinba).len(), 3);
    let c = store.counts().unwrap();
    assert_eq!((c.flows, c.versions), (1, 3));
    drop(store);

    // Pragmas that live in the file, seen from a plain connection; and the
    // triggers hold for any connection.
    let raw = rusqlite::Connection::open(&path).unwrap();
    let mode: String = raw
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let page: i64 = raw.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
    assert_eq!(page, 16384);
    assert!(raw.execute("DELETE FROM record_version", []).is_err());
    assert!(raw.execute("UPDATE flow SET nome = 'x'", []).is_err());
}

#[test]
fn readers_do_not_see_an_open_flow() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("register.sqlite");
    let mut writer = Store::open(&path).unwrap();
    let reader = Store::open(&path).unwrap();
    let mut tx = begin(&mut writer, &meta("E1", "flow-1", FlowType::PsPsaSina));
    tx.insert_version(&version(1, 1, 1)).unwrap();
    assert_eq!(reader.counts().unwrap(), Default::default());
    assert_eq!(reader.ente("E1").unwrap(), None);
    tx.commit(&finish(1, 0, 0, 0)).unwrap();
    assert_eq!(reader.counts().unwrap().versions, 1);
}

#[test]
fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("register.sqlite");
    drop(Store::open(&path).unwrap());
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.pragma_update(None, "user_version", 99).unwrap();
    drop(raw);
    assert!(matches!(Store::open(&path), Err(StoreError::Migration(_))));
}

/// A process killed mid-flow (after dirty pages spilled to the WAL) leaves
/// nothing: the test re-runs itself as a child that aborts.
#[test]
fn crash_mid_flow_leaves_nothing() {
    const CHILD: &str = "CASELLARIO_STORE_CRASH_CHILD";
    if let Some(path) = std::env::var_os(CHILD) {
        let mut store = Store::open(std::path::Path::new(&path)).unwrap();
        let mut tx = begin(&mut store, &meta("E1", "flow-2", FlowType::Sinba));
        let payload = vec![1u8; 600];
        // > 64 MiB of rows: the page cache spills uncommitted frames to the WAL.
        for pos in 1..=120_000u64 {
            let mut v = version(pos, 0, 0);
            v.key[..8].copy_from_slice(&pos.to_le_bytes());
            v.payload = &payload;
            tx.insert_version(&v).unwrap();
        }
        std::process::abort();
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("register.sqlite");
    {
        let mut store = Store::open(&path).unwrap();
        simple_flow(&mut store, "E1", "flow-1", FlowType::Sinba, &[1, 2]);
    }
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_mid_flow_leaves_nothing",
            "--test-threads=1",
        ])
        .env(CHILD, &path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success());
    let wal = std::fs::metadata(dir.path().join("register.sqlite-wal"))
        .map(|m| m.len())
        .unwrap_or(0);
    assert!(
        wal > 1_000_000,
        "expected uncommitted frames in the WAL, got {wal} bytes"
    );

    let mut store = Store::open(&path).unwrap();
    let c = store.counts().unwrap();
    assert_eq!((c.flows, c.versions), (1, 2));
    assert_eq!(store.find_flow("E1", "flow-2").unwrap(), None);
    // And the register accepts the flow again.
    simple_flow(&mut store, "E1", "flow-2", FlowType::Sinba, &[3]);
    assert_eq!(store.counts().unwrap().versions, 3);
}

#[test]
fn store_can_move_to_a_blocking_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<Store>();
    assert_send::<StoreError>();
    let store = Store::open_in_memory().unwrap();
    let counts = std::thread::spawn(move || store.counts().unwrap())
        .join()
        .unwrap();
    assert_eq!(counts.flows, 0);
}

/// Consultazione without a person walks flows newest first and pages
/// across flow boundaries; another ente's rows never appear.
#[test]
fn search_records_pages_across_flows_and_stays_in_the_ente() {
    use casellario_store::portal::RecordQuery;
    let mut store = Store::open_in_memory().unwrap();
    simple_flow(&mut store, "E1", "f1", FlowType::PsPsaSina, &[1, 2, 3]);
    simple_flow(&mut store, "E2", "g1", FlowType::PsPsaSina, &[1, 2]);
    simple_flow(&mut store, "E1", "f2", FlowType::PsPsaSina, &[4, 5]);
    let e1 = store.ente("E1").unwrap().unwrap().id;
    let all = |limit, offset| {
        store
            .search_records(e1, &RecordQuery::default(), limit, offset)
            .unwrap()
            .iter()
            .map(|h| (h.flow_nome.clone(), h.pos))
            .collect::<Vec<_>>()
    };
    let names = |v: &[(&str, u64)]| {
        v.iter()
            .map(|(n, p)| (n.to_string(), *p))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        all(10, 0),
        names(&[("f2", 2), ("f2", 1), ("f1", 3), ("f1", 2), ("f1", 1)])
    );
    assert_eq!(all(2, 1), names(&[("f2", 1), ("f1", 3)]));
    assert_eq!(all(2, 4), names(&[("f1", 1)]));
    assert!(all(2, 5).is_empty());
    let q = RecordQuery {
        codice_prestazione: Some("A9.99".into()),
        ..RecordQuery::default()
    };
    assert!(store.search_records(e1, &q, 10, 0).unwrap().is_empty());
    let q = RecordQuery {
        subject: Some("RSSMRA80A01H501U".into()),
        ..RecordQuery::default()
    };
    assert_eq!(store.search_records(e1, &q, 10, 0).unwrap().len(), 5);
}

/// `Store::batch`: many flows, one COMMIT. A flow dropped inside rolls back
/// alone; readers see nothing until the batch commits; an error from the
/// closure rolls back the whole batch; a nested batch is all or nothing.
#[test]
fn batch_groups_flows_in_one_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("register.sqlite");
    let mut writer = Store::open(&path).unwrap();
    let reader = Store::open(&path).unwrap();
    writer
        .batch(|s| -> Result<(), StoreError> {
            assert!(s.in_batch());
            simple_flow(s, "E1", "flow-1", FlowType::PsPsaSina, &[1, 2]);
            {
                let mut tx = begin(s, &meta("E1", "flow-2", FlowType::PsPsaSina));
                tx.insert_version(&version(1, 3, 3)).unwrap();
                // dropped: only this flow is undone
            }
            // The same name is refused while flow-1 is pending in the batch.
            assert!(matches!(
                s.begin_flow(&meta("E1", "flow-1", FlowType::PsPsaSina))
                    .unwrap(),
                FlowBegin::Existing(_)
            ));
            simple_flow(s, "E1", "flow-3", FlowType::PsPsaSina, &[4]);
            assert_eq!(reader.counts().unwrap(), Default::default());
            Ok(())
        })
        .unwrap();
    assert!(!writer.in_batch());
    assert_eq!(reader.counts().unwrap().versions, 3);
    assert_eq!(reader.find_flow("E1", "flow-2").unwrap(), None);
    assert!(reader.find_flow("E1", "flow-3").unwrap().is_some());

    let err = writer
        .batch(|s| -> Result<(), StoreError> {
            simple_flow(s, "E1", "flow-4", FlowType::PsPsaSina, &[5]);
            Err(StoreError::Invalid("abbandonato".into()))
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)));
    assert_eq!(reader.find_flow("E1", "flow-4").unwrap(), None);
    assert_eq!(reader.counts().unwrap().versions, 3);

    writer
        .batch(|s| -> Result<(), StoreError> {
            simple_flow(s, "E1", "flow-5", FlowType::PsPsaSina, &[6]);
            let inner = s.batch(|s| -> Result<(), StoreError> {
                simple_flow(s, "E1", "flow-6", FlowType::PsPsaSina, &[7]);
                Err(StoreError::Invalid("interno".into()))
            });
            assert!(inner.is_err());
            s.batch(|s| -> Result<(), StoreError> {
                simple_flow(s, "E1", "flow-7", FlowType::PsPsaSina, &[8]);
                Ok(())
            })
        })
        .unwrap();
    assert!(reader.find_flow("E1", "flow-5").unwrap().is_some());
    assert_eq!(reader.find_flow("E1", "flow-6").unwrap(), None);
    assert!(reader.find_flow("E1", "flow-7").unwrap().is_some());
    assert_eq!(reader.counts().unwrap().versions, 5);
}

/// An unguarded flow (no savepoint of its own inside a batch) commits with
/// the batch; abandoned, it fails its batch level, which is rolled back
/// whole while the outer batch carries on.
#[test]
fn unguarded_flow_commits_with_the_batch_or_fails_it() {
    let mut store = Store::open_in_memory().unwrap();
    store
        .batch(|s| -> Result<(), StoreError> {
            let mut tx = match s
                .begin_flow_unguarded(&meta("E1", "flow-1", FlowType::PsPsaSina))
                .unwrap()
            {
                FlowBegin::New(tx) => tx,
                FlowBegin::Existing(_) => panic!("new flow expected"),
            };
            tx.insert_version(&version(1, 1, 1)).unwrap();
            tx.commit(&finish(1, 0, 0, 0)).unwrap();
            // Inner level: an abandoned unguarded flow fails it.
            let inner = s.batch(|s| -> Result<(), StoreError> {
                simple_flow(s, "E1", "flow-2", FlowType::PsPsaSina, &[2]);
                let mut tx = match s
                    .begin_flow_unguarded(&meta("E1", "flow-3", FlowType::PsPsaSina))
                    .unwrap()
                {
                    FlowBegin::New(tx) => tx,
                    FlowBegin::Existing(_) => panic!("new flow expected"),
                };
                tx.insert_version(&version(1, 3, 3)).unwrap();
                Ok(())
            });
            assert!(inner.is_err(), "the abandoned flow fails its level");
            // The name of an unguarded flow committed in the batch is taken.
            assert!(matches!(
                s.begin_flow_unguarded(&meta("E1", "flow-1", FlowType::PsPsaSina))
                    .unwrap(),
                FlowBegin::Existing(_)
            ));
            Ok(())
        })
        .unwrap();
    assert!(store.find_flow("E1", "flow-1").unwrap().is_some());
    assert_eq!(store.find_flow("E1", "flow-2").unwrap(), None);
    assert_eq!(store.find_flow("E1", "flow-3").unwrap(), None);
    assert_eq!(store.counts().unwrap().versions, 1);
    // Outside a batch it is an ordinary flow transaction.
    let id = match store
        .begin_flow_unguarded(&meta("E1", "flow-4", FlowType::PsPsaSina))
        .unwrap()
    {
        FlowBegin::New(mut tx) => {
            tx.insert_version(&version(1, 4, 4)).unwrap();
            tx.commit(&finish(1, 0, 0, 0)).unwrap().id
        }
        FlowBegin::Existing(_) => panic!("new flow expected"),
    };
    assert!(store.flow(id).unwrap().is_some());
}
