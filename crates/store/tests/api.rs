//! What the cooperation API keeps: clients and revocations, the signing
//! key, idempotency keys, the API's view of submissions, access-log rows
//! by API clients; all append-only; and the migration of an existing
//! access log.
#![allow(clippy::unwrap_used)]

use casellario_domain::access::EnteKind;
use casellario_store::api::NewApiClient;
use casellario_store::portal::{EnteAttrs, NewAccess};
use casellario_store::{Store, StoreError};

fn ente(store: &mut Store, codice: &str) -> i64 {
    store
        .create_ente(
            codice,
            &EnteAttrs {
                denominazione: codice,
                belfiore: "H501",
                tipo: EnteKind::Comune,
                attivo: true,
            },
            None,
        )
        .unwrap()
}

fn client<'a>(id: &'a str, ente: i64, scopes: &'a [&'a str]) -> NewApiClient<'a> {
    NewApiClient {
        client_id: id,
        ente_id: ente,
        secret_hash: &[7u8; 32],
        scopes,
        label: "gestionale",
        created_by: None,
    }
}

#[test]
fn clients_are_created_listed_and_revoked_by_new_rows() {
    let mut store = Store::open_in_memory().unwrap();
    let e1 = ente(&mut store, "E1");
    let e2 = ente(&mut store, "E2");
    store
        .create_api_client(&client("c1", e1, &["flussi:invio", "ricevute:lettura"]))
        .unwrap();
    store
        .create_api_client(&client("c2", e2, &["record:lettura"]))
        .unwrap();
    assert!(matches!(
        store.create_api_client(&client("c1", e2, &["record:lettura"])),
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.create_api_client(&client("c3", e2, &[])),
        Err(StoreError::Invalid(_))
    ));
    let c1 = store.api_client("c1").unwrap().unwrap();
    assert_eq!(c1.ente_codice, "E1");
    assert_eq!(c1.scopes, ["flussi:invio", "ricevute:lettura"]);
    assert_eq!(c1.secret_hash, [7u8; 32]);
    assert_eq!(c1.revoked_at_ms, None);
    assert_eq!(store.list_api_clients(Some(e1)).unwrap().len(), 1);
    assert_eq!(store.list_api_clients(None).unwrap().len(), 2);
    assert!(store.revoke_api_client("c1", Some(3)).unwrap());
    assert!(!store.revoke_api_client("c1", Some(3)).unwrap());
    assert!(
        store
            .api_client("c1")
            .unwrap()
            .unwrap()
            .revoked_at_ms
            .is_some()
    );
    assert!(
        store
            .api_client("c2")
            .unwrap()
            .unwrap()
            .revoked_at_ms
            .is_none()
    );
    assert!(matches!(
        store.revoke_api_client("nessuno", None),
        Err(StoreError::Invalid(_))
    ));
}

#[test]
fn the_signing_key_is_chosen_once() {
    let mut store = Store::open_in_memory().unwrap();
    assert_eq!(store.api_signing_key(&[1u8; 32]).unwrap(), [1u8; 32]);
    assert_eq!(store.api_signing_key(&[2u8; 32]).unwrap(), [1u8; 32]);
}

#[test]
fn idempotency_keys_are_unique_per_ente() {
    let mut store = Store::open_in_memory().unwrap();
    let e1 = ente(&mut store, "E1");
    let e2 = ente(&mut store, "E2");
    let sub = |store: &Store, e| {
        store
            .record_submission(&casellario_store::portal::NewSubmission {
                ente_id: e,
                account_id: None,
                channel: casellario_domain::Channel::Coop,
                source_name: None,
                id_flusso: Some("F"),
                tipo: None,
                flow_id: None,
                codice_esito: casellario_domain::CodiceEsito::RichiestaInvalida,
                record_count: 0,
                accettati: 0,
                duplicati: 0,
                scartati: 0,
                avvisi: 0,
                rejected_whole: true,
                already: false,
                flow_violations: &[],
                size_bytes: 3,
                sha256: [9u8; 32],
            })
            .unwrap()
    };
    let s1 = sub(&store, e1);
    let s2 = sub(&store, e2);
    store.record_idempotency(e1, "k", &[1u8; 32], s1).unwrap();
    // Another ente may use the same key.
    store.record_idempotency(e2, "k", &[2u8; 32], s2).unwrap();
    assert!(matches!(
        store.record_idempotency(e1, "k", &[3u8; 32], s1),
        Err(StoreError::Conflict(_))
    ));
    let got = store.idempotency(e1, "k").unwrap().unwrap();
    assert_eq!((got.request_sha256, got.submission_id), ([1u8; 32], s1));
    assert_eq!(store.idempotency(e1, "altra").unwrap(), None);
    // The API's view of submissions: by ente, by cursor.
    assert_eq!(store.submission_row(e1, s1).unwrap().unwrap().id, s1);
    assert_eq!(store.submission_row(e1, s2).unwrap(), None);
    let after: Vec<i64> = store
        .submissions_after(e2, 0, 10)
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(after, [s2]);
    assert!(store.submissions_after(e2, s2, 10).unwrap().is_empty());
    // A submission that stored nothing is no original of a resent flow.
    assert_eq!(store.original_submission(e1, &[9u8; 32]).unwrap(), None);
}

#[test]
fn api_tables_and_the_access_log_are_append_only() {
    let mut store = Store::open_in_memory().unwrap();
    let e1 = ente(&mut store, "E1");
    store
        .create_api_client(&client("c1", e1, &["record:lettura"]))
        .unwrap();
    store.revoke_api_client("c1", None).unwrap();
    store.api_signing_key(&[1u8; 32]).unwrap();
    store
        .log_api_access("c1", e1, "RSSMRA80A01H501U", "ricerca", "prova")
        .unwrap();
    store
        .log_access(&NewAccess {
            account_id: 1,
            username: "op",
            ente_id: Some(e1),
            subject: "RSSMRA80A01H501U",
            what: "record 1",
            purpose: "prova",
        })
        .unwrap();
    let rows = store
        .list_access(Some("RSSMRA80A01H501U"), 10, None)
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0].account_id, rows[0].api_client.as_deref()),
        (Some(1), None)
    );
    assert_eq!(
        (rows[1].account_id, rows[1].api_client.as_deref()),
        (None, Some("c1"))
    );
    for (table, col) in [
        ("api_client", "label"),
        ("api_client_revocation", "revoked_at"),
        ("api_signing_key", "created_at"),
        ("access_log", "at"),
    ] {
        for sql in [
            format!("UPDATE {table} SET {col} = {col}"),
            format!("DELETE FROM {table}"),
        ] {
            let err = store.execute_raw_for_tests(&sql).unwrap_err();
            assert!(err.to_string().contains("append-only"), "{sql}: {err}");
        }
    }
    // An access row names exactly one actor.
    assert!(
        store
            .execute_raw_for_tests(
                "INSERT INTO access_log (at, account_id, username, subject, what, purpose, api_client) \
                 VALUES (0, 1, 'x', 's', 'w', 'p', 'c1')"
            )
            .is_err()
    );
}

#[test]
fn migrating_keeps_the_access_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v2.db");
    {
        // A register as the portal left it (schema version 2).
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(include_str!("../migrations/sqlite/0001_init.sql"))
            .unwrap();
        conn.execute_batch(include_str!("../migrations/sqlite/0002_portal.sql"))
            .unwrap();
        conn.execute_batch(
            "INSERT INTO access_log (at, account_id, username, ente_id, subject, what, purpose) \
             VALUES (5, 1, 'op', NULL, 'RSSMRA80A01H501U', 'ricerca', 'prova'); \
             PRAGMA user_version = 2;",
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert!(store.schema_version().unwrap() >= 3);
    let rows = store.list_access(None, 10, None).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].at_ms, rows[0].account_id), (5, Some(1)));
    assert!(
        store
            .execute_raw_for_tests("DELETE FROM access_log")
            .is_err()
    );
}
