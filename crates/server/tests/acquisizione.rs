//! Acquisizione (invio puntuale) and Consultazione over HTTP: forms, errors
//! next to their fields, receipts, search, record page, cancellation,
//! correction, access log, and isolation between enti.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use casellario_domain::access::{EnteKind, Role};
use casellario_server::{AppState, Config, auth};
use casellario_store::portal::{EnteAttrs, NewAccount, RecordQuery};
use tower::ServiceExt;

const CF: &str = "RSSMRA80A01H501U";

struct App {
    router: Router,
    state: AppState,
    _dir: tempfile::TempDir,
}

struct User {
    cookie: String,
    csrf: String,
    ente: i64,
}

async fn app() -> App {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = Config {
        db: dir.path().join("t.db"),
        ..Config::default()
    };
    let state = AppState::new(cfg).expect("state");
    App {
        router: casellario_server::router(state.clone()),
        state,
        _dir: dir,
    }
}

/// An ente with one operator, signed in (session created directly).
async fn operator(app: &App, codice: &'static str, belfiore: &'static str) -> User {
    let token = auth::random_token(32);
    let csrf = auth::random_token(32);
    let (t, c) = (token.clone(), csrf.clone());
    let ente = app
        .state
        .db
        .run(move |s| {
            let ente = s.create_ente(
                codice,
                &EnteAttrs {
                    denominazione: &format!("Comune {codice}"),
                    belfiore,
                    tipo: EnteKind::Comune,
                    attivo: true,
                },
                None,
            )?;
            let id = s.create_account(&NewAccount {
                username: &format!("op-{codice}").to_lowercase(),
                nome: "Operatore di prova",
                role: Role::Operatore,
                ente_id: Some(ente),
                password_hash: "x",
                must_change: false,
            })?;
            let exp = jiff::Timestamp::now().as_millisecond() + 3_600_000;
            s.create_session(&auth::token_hash(&t), id, &c, exp)?;
            Ok(ente)
        })
        .await
        .expect("setup");
    User {
        cookie: format!("{}={token}", auth::cookie_name(false)),
        csrf,
        ente,
    }
}

async fn send(app: &App, req: Request<Body>) -> (StatusCode, String) {
    let resp = app.router.clone().oneshot(req).await.expect("response");
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn get(app: &App, u: &User, path: &str) -> (StatusCode, String) {
    let req = Request::get(path)
        .header(header::COOKIE, &u.cookie)
        .body(Body::empty())
        .expect("request");
    send(app, req).await
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

async fn post(app: &App, u: &User, path: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
    let mut body = format!("_csrf={}", enc(&u.csrf));
    for (k, v) in fields {
        body.push_str(&format!("&{}={}", enc(k), enc(v)));
    }
    let req = Request::post(path)
        .header(header::COOKIE, &u.cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .expect("request");
    send(app, req).await
}

/// A valid periodic benefit; `extra` overrides or adds fields.
fn ps_form<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut f = vec![
        ("cf_operatore", CF),
        ("b_CodiceFiscale", "rssmra80a01h501u"),
        ("a_Cognome", "Rossi"),
        ("a_Nome", "Mario"),
        ("a_AnnoNascita", "1980"),
        ("a_LuogoNascita", "H501"),
        ("a_Genere", "1"),
        ("a_CodiceCittadinanza", "380"),
        ("r1_CodiceNazione", "380"),
        ("r1_CodiceRegione", "08"),
        ("r1_CodiceComune", "058091"),
        ("p_TipoOperazione", "I"),
        ("p_CodicePrestazione", "A1.04"),
        (
            "p_DenominazionePrestazione",
            "Contributo per il reddito familiare",
        ),
        ("p_ProtocolloDomanda", "PROT-2025-1"),
        ("p_CaratterePrestazione", "1"),
        ("p_PresenzaProvaMezzi", "4"),
        ("p_PresaCarico", "2"),
        ("p_DataInizioPrestazione", "2025-01-01"),
        ("p_DataFinePrestazione", "2025-12-31"),
        ("p_PeriodoErogazione", "12"),
        ("p_ImportoMensile", "100,00"),
        ("p_ImportoQuotaEnte", "60"),
        ("p_ImportoQuotaUtente", "40"),
    ];
    for (k, v) in extra {
        f.retain(|(n, _)| n != k);
        f.push((k, v));
    }
    f
}

/// The first `/consultazione/record/{id}` link after `marker`.
fn record_link(body: &str, marker: &str) -> i64 {
    let from = body.find(marker).unwrap_or(0);
    let rest = &body[from..];
    let at = rest
        .find("/consultazione/record/")
        .unwrap_or_else(|| panic!("no record link after {marker:?} in {body}"));
    rest[at + "/consultazione/record/".len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .expect("id")
}

async fn live_count(app: &App, ente: i64, subject: &str) -> usize {
    let q = RecordQuery {
        subject: Some(subject.to_string()),
        ..RecordQuery::default()
    };
    app.state
        .db
        .run(move |s| Ok(s.search_records(ente, &q, 50, 0)?.len()))
        .await
        .expect("search")
}

async fn accesses(app: &App, subject: &str) -> Vec<String> {
    let subject = subject.to_string();
    app.state
        .db
        .run(move |s| Ok(s.list_access(Some(&subject), 100, None)?))
        .await
        .expect("access log")
        .into_iter()
        .map(|a| format!("{} {}", a.what, a.purpose))
        .collect()
}

async fn acquire_ps(app: &App, u: &User, extra: &[(&str, &str)]) -> i64 {
    let (st, body) = post(app, u, "/acquisizione/ps", &ps_form(extra)).await;
    assert_eq!(st, StatusCode::OK);
    assert!(body.contains("Dati acquisiti"), "not acquired: {body}");
    assert!(body.contains("badge-ok\">accettato"), "{body}");
    record_link(&body, "Esito del record")
}

#[tokio::test]
async fn ps_form_error_then_receipt_then_search() {
    let app = app().await;
    let a = operator(&app, "H501", "H501").await;

    let (st, body) = get(&app, &a, "/acquisizione/ps").await;
    assert_eq!(st, StatusCode::OK);
    for needle in [
        "<legend>Beneficiario</legend>",
        "<legend>Valutazione SINA: dati</legend>",
        "data-show-when=\"sina=1\"",
        "data-show-when=\"p_CaratterePrestazione=2|\"",
        "A1.04 — Contributi economici a integrazione del reddito familiare",
        "1 — Periodico",
        "name=\"s_InvCiv\"",
    ] {
        assert!(body.contains(needle), "form lacks {needle}");
    }

    // Shares that do not sum to the monthly amount: the form comes back with
    // the message next to the first share, and nothing is stored.
    let (st, body) = post(
        &app,
        &a,
        "/acquisizione/ps",
        &ps_form(&[("p_ImportoQuotaUtente", "30")]),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert!(body.contains("class=\"error-summary\""), "{body}");
    assert!(body.contains("href=\"#p_ImportoQuotaEnte\""), "{body}");
    let err_at = body
        .find("id=\"p_ImportoQuotaEnte-error\"")
        .expect("error next to the field");
    assert!(body[err_at..].contains("La somma delle quote"));
    let input = &body[err_at..err_at + body[err_at..].find('>').unwrap_or(0) + 600];
    assert!(input.contains("aria-invalid=\"true\""), "{input}");
    assert!(
        input.contains("aria-describedby=\"p_ImportoQuotaEnte-hint p_ImportoQuotaEnte-error\"")
    );
    // The entered values are kept.
    assert!(body.contains("value=\"Rossi\""));
    assert_eq!(live_count(&app, a.ente, CF).await, 0);

    // A value outside its XSD type is caught by the form itself.
    let (st, body) = post(
        &app,
        &a,
        "/acquisizione/ps",
        &ps_form(&[("a_AnnoNascita", "19x0")]),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert!(body.contains("id=\"a_AnnoNascita-error\""), "{body}");
    assert_eq!(live_count(&app, a.ente, CF).await, 0);

    // Corrected: receipt, and the record is found.
    let id = acquire_ps(&app, &a, &[]).await;
    let (st, body) = get(&app, &a, "/consultazione?soggetto=rssmra80a01h501u").await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        body.contains(&format!("/consultazione/record/{id}\"")),
        "{body}"
    );
    assert!(
        accesses(&app, CF)
            .await
            .contains(&"ricerca consultazione".to_string())
    );

    // The record page: labels, code labels, history, and the read is logged.
    let (st, body) = get(&app, &a, &format!("/consultazione/record/{id}")).await;
    assert_eq!(st, StatusCode::OK);
    assert!(body.contains("Importo mensile (€)"));
    assert!(body.contains("1 — Periodico"));
    assert!(body.contains("Versione 1 — inserimento (in vigore)"));
    assert!(body.contains("/annulla\" data-confirm="));
    assert!(
        accesses(&app, CF)
            .await
            .contains(&format!("record {id} consultazione"))
    );
}

#[tokio::test]
async fn sinba_form() {
    let app = app().await;
    let a = operator(&app, "H501", "H501").await;
    let (st, body) = get(&app, &a, "/acquisizione/sinba").await;
    assert_eq!(st, StatusCode::OK);
    assert!(body.contains("data-show-when=\"k_Disabilita=1\""));
    let mut f = vec![
        ("cf_operatore", CF),
        ("k_IDBeneficiario", "CART-0001"),
        ("k_AnnoNascita", "2015"),
        ("k_FasciaEtaBeneficiario", "3"),
        ("k_CodiceNazioneResidenza", "380"),
        ("k_CodiceRegioneResidenza", "08"),
        ("k_MinoreStranieroNoAcc", "2"),
        ("k_CondizioneMinore", "1"),
        ("k_LuogoVita", "1"),
        ("k_ScuolaFrequentata", "5"),
        ("k_CondizioneLavoro", "1"),
        ("k_Disabilita", "1"),
        ("k_Famiglia", "1"),
        ("k_Famiglia", "2"),
        ("k_DataPrimaSegnalazione", "03/2024"),
        ("k_FonteSegnalazione", "2"),
        ("k_ValutazioneMinore", "2"),
        ("k_ValutazioneFamigliaMinore", "12"),
        ("k_SegnalazioneAutoritaGiudiziaria", "2"),
        ("k_ProvvedimentoGiudiziario", "2"),
        ("k_Prestazioni", "A1.04"),
    ];
    // Residence in Italy without its region (an error) and a disability
    // without its type (a warning): each message sits next to its field.
    f.retain(|(k, _)| *k != "k_CodiceRegioneResidenza");
    let (st, body) = post(&app, &a, "/acquisizione/sinba", &f).await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        body.contains("id=\"k_CodiceRegioneResidenza-error\""),
        "{body}"
    );
    assert!(body.contains("manca CodiceRegioneResidenza"));
    assert!(body.contains("id=\"k_TipoDisabilita-error\""));
    assert!(
        body.contains("C&#39;è 1 errore da correggere") || body.contains("C'è 1 errore"),
        "{body}"
    );
    assert_eq!(live_count(&app, a.ente, "CART-0001").await, 0);

    // Accepted with the warnings on the receipt.
    f.push(("k_CodiceRegioneResidenza", "08"));
    let (st, body) = post(&app, &a, "/acquisizione/sinba", &f).await;
    assert_eq!(st, StatusCode::OK);
    assert!(body.contains("Dati acquisiti con avvisi"), "{body}");
    assert!(body.contains("manca TipoDisabilita"));
    let id = record_link(&body, "Esito del record");
    let (st, body) = get(&app, &a, &format!("/consultazione/record/{id}")).await;
    assert_eq!(st, StatusCode::OK);
    assert!(body.contains("CART-0001"));
    assert!(
        body.contains("1 — Madre") || body.contains("Madre"),
        "{body}"
    );
    assert!(
        accesses(&app, "CART-0001")
            .await
            .contains(&format!("record {id} consultazione"))
    );
}

#[tokio::test]
async fn cancel_and_correct() {
    let app = app().await;
    let a = operator(&app, "H501", "H501").await;

    // Cancel.
    let id = acquire_ps(&app, &a, &[]).await;
    let (st, body) = post(
        &app,
        &a,
        &format!("/consultazione/record/{id}/annulla"),
        &[("cf_operatore", CF)],
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert!(body.contains(&format!("Record {id} annullato")), "{body}");
    let (_, body) = get(&app, &a, &format!("/consultazione/record/{id}")).await;
    assert!(body.contains("Annullamento della versione 1"), "{body}");
    assert!(body.contains("badge-ko\">annullato"));
    assert!(
        !body.contains("/annulla\" data-confirm="),
        "no action on a cancelled record"
    );
    // Cancelling again is refused.
    let (st, _) = post(
        &app,
        &a,
        &format!("/consultazione/record/{id}/annulla"),
        &[("cf_operatore", CF)],
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT);

    // Correct: C of the old record and I of the new one, in one flow.
    let id = acquire_ps(&app, &a, &[("p_ProtocolloDomanda", "PROT-2025-2")]).await;
    let (st, body) = get(&app, &a, &format!("/consultazione/record/{id}/correggi")).await;
    assert_eq!(st, StatusCode::OK);
    assert!(body.contains("value=\"PROT-2025-2\""), "prefilled");
    assert!(body.contains("value=\"100.00\"") || body.contains("value=\"100\""));

    // A correction that would be rejected changes nothing.
    let (st, body) = post(
        &app,
        &a,
        &format!("/consultazione/record/{id}/correggi"),
        &ps_form(&[
            ("p_ProtocolloDomanda", "PROT-2025-2"),
            ("p_ImportoMensile", "120"),
        ]),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert!(body.contains("id=\"p_ImportoQuotaEnte-error\""), "{body}");
    let (_, page) = get(&app, &a, &format!("/consultazione/record/{id}")).await;
    assert!(page.contains("(in vigore)"));

    let (st, body) = post(
        &app,
        &a,
        &format!("/consultazione/record/{id}/correggi"),
        &ps_form(&[
            ("p_ProtocolloDomanda", "PROT-2025-2"),
            ("p_ImportoMensile", "120"),
            ("p_ImportoQuotaUtente", "60"),
        ]),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert!(body.contains(&format!("Record {id} corretto")), "{body}");
    assert!(body.contains("Cancellazione del record attuale"));
    assert!(body.contains("Inserimento del record corretto"));
    let new_id = record_link(&body, "Inserimento del record corretto");
    assert_ne!(new_id, id);
    let (_, body) = get(&app, &a, &format!("/consultazione/record/{new_id}")).await;
    assert!(body.contains("Versione 1 — inserimento"), "{body}");
    assert!(body.contains("Annullamento della versione 1"));
    assert!(body.contains("Versione 2 — inserimento (in vigore) — questa versione"));
    assert!(body.contains("120"));
}

#[tokio::test]
async fn isolation_between_enti() {
    let app = app().await;
    let a = operator(&app, "H501", "H501").await;
    let b = operator(&app, "F205", "F205").await;
    let id = acquire_ps(&app, &a, &[]).await;

    for guess in [
        id.to_string(),
        (id + 1).to_string(),
        "999999".into(),
        "abc".into(),
        "-1".into(),
    ] {
        let (st, _) = get(&app, &b, &format!("/consultazione/record/{guess}")).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "record {guess}");
        let (st, _) = get(&app, &b, &format!("/consultazione/record/{guess}/correggi")).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "correggi {guess}");
        let (st, _) = post(
            &app,
            &b,
            &format!("/consultazione/record/{guess}/annulla"),
            &[("cf_operatore", CF)],
        )
        .await;
        assert_eq!(st, StatusCode::NOT_FOUND, "annulla {guess}");
        let (st, _) = post(
            &app,
            &b,
            &format!("/consultazione/record/{guess}/correggi"),
            &ps_form(&[("p_ImportoMensile", "1")]),
        )
        .await;
        assert_eq!(st, StatusCode::NOT_FOUND, "correggi POST {guess}");
    }
    // B's searches never return A's records.
    let (st, body) = get(
        &app,
        &b,
        "/consultazione?soggetto=RSSMRA80A01H501U&annullati=1",
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert!(!body.contains("/consultazione/record/"), "{body}");
    let (_, body) = get(&app, &b, "/consultazione?annullati=1").await;
    assert!(!body.contains("/consultazione/record/"));
    // A's record is untouched and B read nothing of it.
    let (_, body) = get(&app, &a, &format!("/consultazione/record/{id}")).await;
    assert!(body.contains("(in vigore)"));
    assert_eq!(live_count(&app, a.ente, CF).await, 1);
    assert_eq!(live_count(&app, b.ente, CF).await, 0);
    // A CSRF token of another session is refused.
    let forged = User {
        cookie: b.cookie.clone(),
        csrf: a.csrf.clone(),
        ente: b.ente,
    };
    let (st, _) = post(&app, &forged, "/acquisizione/ps", &ps_form(&[])).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
}
