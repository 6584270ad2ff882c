//! Trasmissione flussi over HTTP: upload → job → receipt, filters,
//! downloads (CSV for Italian spreadsheets, JSON valid against
//! `docs/ricevuta.schema.json`), limits, CSRF, and isolation between enti.

mod support;

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use casellario_domain::FlowType;
use casellario_domain::access::Role;
use casellario_gen::{GenOptions, write_xml};
use casellario_server::{AppState, Config, auth, router};
use casellario_store::portal::NewAccount;
use serde_json::Value;
use tower::ServiceExt;

struct App {
    router: Router,
    state: AppState,
    spool: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

/// A multipart field: name, file name (for files), content.
type Part<'a> = (&'a str, Option<&'a str>, &'a [u8]);

struct User {
    cookie: String,
    csrf: String,
}

fn app(max_upload: u64) -> App {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = dir.path().join("spool");
    std::fs::create_dir(&spool).expect("spool dir");
    let cfg = Config {
        db: dir.path().join("t.db"),
        max_upload_bytes: max_upload,
        spool_dir: Some(spool.clone()),
        // Answer with the progress page at once, so that it is exercised;
        // the browser test covers the direct answer with the receipt.
        receipt_wait_ms: 0,
        ..Config::default()
    };
    let state = AppState::new(cfg).expect("state");
    App {
        router: router(state.clone()),
        state,
        spool,
        _dir: dir,
    }
}

impl App {
    /// An ente and a signed-in person of `role` in it (None: no ente).
    async fn user(&self, ente: Option<&str>, username: &str, role: Role) -> User {
        let token = auth::random_token(32);
        let csrf = auth::random_token(16);
        let (ente, username, t, c) = (
            ente.map(str::to_string),
            username.to_string(),
            token.clone(),
            csrf.clone(),
        );
        self.state
            .db
            .run(move |s| {
                let ente_id = match ente {
                    Some(codice) => Some(match s.ente_profile_by_codice(&codice)? {
                        Some(e) => e.id,
                        None => support::comune(s, &codice, &codice, &format!("Comune {codice}"))?,
                    }),
                    None => None,
                };
                let id = s.create_account(&NewAccount {
                    username: &username,
                    nome: &username,
                    role,
                    ente_id,
                    // Never used to sign in: the session is made directly.
                    password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA",
                    must_change: false,
                })?;
                let expires = jiff::Timestamp::now().as_millisecond() + 3_600_000;
                s.create_session(&auth::token_hash(&t), id, &c, expires)?;
                Ok(())
            })
            .await
            .expect("user");
        User {
            cookie: format!("casellario={token}"),
            csrf,
        }
    }

    async fn send(&self, req: Request<Body>) -> (StatusCode, HeaderMap, Vec<u8>) {
        let resp = self.router.clone().oneshot(req).await.expect("response");
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body");
        (status, headers, body.to_vec())
    }

    async fn get(&self, u: &User, path: &str) -> (StatusCode, HeaderMap, Vec<u8>) {
        let req = Request::get(path)
            .header(header::COOKIE, &u.cookie)
            .body(Body::empty())
            .expect("request");
        self.send(req).await
    }

    async fn page(&self, u: &User, path: &str) -> String {
        let (st, _, body) = self.get(u, path).await;
        let text = String::from_utf8(body).expect("utf8");
        assert_eq!(st, StatusCode::OK, "GET {path}: {text}");
        text
    }

    async fn post_multipart(
        &self,
        u: &User,
        parts: &[Part<'_>],
        xhr: bool,
    ) -> (StatusCode, HeaderMap, Vec<u8>) {
        let boundary = "----casellario-test-boundary";
        let mut body = Vec::new();
        for (name, file, data) in parts {
            body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            match file {
                Some(f) => body.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n\
                         Content-Type: application/octet-stream\r\n\r\n"
                    )
                    .as_bytes(),
                ),
                None => body.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
                ),
            }
            body.extend_from_slice(data);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let mut req = Request::post("/flussi")
            .header(header::COOKIE, &u.cookie)
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            );
        if xhr {
            req = req.header("X-Requested-With", "XMLHttpRequest");
        }
        self.send(req.body(Body::from(body)).expect("request"))
            .await
    }

    /// Uploads a file; the job page's location.
    async fn upload(&self, u: &User, name: &str, data: &[u8], tipo: &str) -> String {
        let (st, h, body) = self
            .post_multipart(
                u,
                &[
                    ("_csrf", None, u.csrf.as_bytes()),
                    ("tipo", None, tipo.as_bytes()),
                    ("file", Some(name), data),
                ],
                false,
            )
            .await;
        assert_eq!(
            st,
            StatusCode::SEE_OTHER,
            "upload: {}",
            String::from_utf8_lossy(&body)
        );
        let loc = location(&h);
        assert!(loc.starts_with("/flussi/"), "{loc}");
        loc
    }

    /// Follows a job to its receipt's location.
    async fn follow(&self, u: &User, job: &str) -> String {
        if !job.starts_with("/flussi/lavorazione/") {
            // Processed within the upload's wait: already the receipt.
            return job.to_string();
        }
        for _ in 0..1500 {
            let (st, h, body) = self.get(u, job).await;
            match st {
                StatusCode::SEE_OTHER => return location(&h),
                StatusCode::OK => {
                    let text = String::from_utf8_lossy(&body);
                    assert!(!text.contains("Flusso non elaborato"), "job failed: {text}");
                    assert!(text.contains("<progress"), "job page shows progress");
                    assert!(text.contains("http-equiv=\"refresh\""));
                }
                other => panic!("job page: {other}"),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("job {job} did not finish");
    }

    async fn upload_and_follow(&self, u: &User, name: &str, data: &[u8]) -> String {
        let job = self.upload(u, name, data, "auto").await;
        self.follow(u, &job).await
    }

    async fn flow_count(&self) -> usize {
        self.state
            .db
            .run(|s| Ok(s.list_flows(None, 1000, None)?.len()))
            .await
            .expect("flows")
    }
}

fn location(h: &HeaderMap) -> String {
    h.get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .expect("location")
        .to_string()
}

fn error_code(h: &HeaderMap) -> &str {
    h.get("x-casellario-errore")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn gen_flow(
    ente: &str,
    records: u64,
    seed: u64,
    error_rate: f64,
) -> (Vec<u8>, casellario_gen::GenStats) {
    let opts = GenOptions {
        error_rate,
        ente_codice: Some(ente.into()),
        ente_belfiore: Some(ente.into()),
        ..GenOptions::new(FlowType::PsPsaSina, records, seed)
    };
    let mut out = Vec::new();
    let stats = write_xml(&opts, &mut out).expect("gen");
    (out, stats)
}

fn schema() -> jsonschema::Validator {
    let schema: Value =
        serde_json::from_str(include_str!("../../../docs/ricevuta.schema.json")).expect("schema");
    jsonschema::draft202012::new(&schema).expect("schema compiles")
}

fn assert_schema_valid(v: &Value) {
    let errors: Vec<String> = schema()
        .iter_errors(v)
        .take(5)
        .map(|e| format!("{e} (at {})", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "receipt not schema-valid: {errors:?}");
}

/// The CSV fixture of the repository, with a valid CFOperatore (strict profile).
fn csv_fixture() -> String {
    include_str!("../../../tests/fixtures/csv/ps_example1_H501.PS.20210520.0000002.csv")
        .replace("CCCDDD25A42H199X", "CCCDDD25A42H199E")
}

/// A `;`-separated, `"`-quoted CSV with CRLF line ends, parsed.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cell.push('"');
                } else {
                    quoted = false;
                }
            } else {
                cell.push(c);
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            ';' => row.push(std::mem::take(&mut cell)),
            '\r' => {
                assert_eq!(chars.next(), Some('\n'), "CRLF line ends");
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            '\n' => panic!("bare LF in CSV"),
            _ => cell.push(c),
        }
    }
    assert!(cell.is_empty() && row.is_empty(), "CSV ends with CRLF");
    rows
}

fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_flow_upload_receipt_filters_and_downloads() {
    let app = app(16 << 20);
    let op = app.user(Some("H501"), "mario.rossi", Role::Operatore).await;

    let (st, _, body) = app.get(&op, "/flussi/nuovo").await;
    let form = String::from_utf8(body).expect("utf8");
    assert_eq!(st, StatusCode::OK);
    assert!(form.contains("data-upload"));
    let csrf_at = form.find("name=\"_csrf\"").expect("csrf field");
    let file_at = form.find("name=\"file\"").expect("file field");
    assert!(csrf_at < file_at, "the CSRF field comes first");
    assert!(form.contains("/informazioni/xsd/PS_PSA_SINA201812.xsd"));
    assert!(form.contains("/informazioni/tracciato-csv"));

    let (xml, stats) = gen_flow("H501", 240, 11, 0.15);
    let injected = stats.injected();
    assert!(injected > 5, "errors injected: {injected}");
    let receipt = app.upload_and_follow(&op, "flusso.xml", &xml).await;
    assert!(
        receipt.starts_with("/flussi/") && receipt[8..].parse::<i64>().is_ok(),
        "{receipt}"
    );

    // The receipt page; reading it is written to the access log.
    let page = app.page(&op, &receipt).await;
    assert!(page.contains("Ricevuta del flusso"));
    let reads = app
        .state
        .db
        .run(|s| Ok(s.list_access(None, 10, None)?))
        .await
        .expect("access log");
    assert!(
        reads
            .iter()
            .any(|a| a.what == "ricevuta" && a.subject.starts_with("flusso ")),
        "{reads:?}"
    );
    assert!(page.contains("DATI_NON_TROVATI") || page.contains("RICHIESTA_INVALIDA"));
    assert!(page.contains("parziale"));
    assert!(
        page.contains("240 record, in ordine di posizione"),
        "all rows counted"
    );
    // 100 rows per page, 3 pages.
    assert_eq!(count(&page, "<th scope=\"row\" class=\"num\">"), 100);
    assert!(page.contains("pagina=3"));
    let p3 = app.page(&op, &format!("{receipt}?pagina=3")).await;
    assert_eq!(count(&p3, "<th scope=\"row\" class=\"num\">"), 40);

    // Only the rejected records.
    let rejected = app.page(&op, &format!("{receipt}?esito=scartato")).await;
    let shown = count(&rejected, "<span class=\"badge badge-ko\">scartato</span>");
    assert_eq!(shown as u64, injected.min(100));
    assert!(!rejected.contains("<span class=\"badge badge-ok\">accettato</span>"));
    assert!(rejected.contains(&format!("{injected} record corrispondenti ai filtri")));

    // A rule of the select narrows further.
    let rule = {
        let at = rejected.find("<option value=\"").expect("rule options");
        let mut codes = Vec::new();
        let mut rest = &rejected[at..];
        while let Some(i) = rest.find("<option value=\"") {
            rest = &rest[i + 15..];
            let end = rest.find('"').expect("value end");
            let v = &rest[..end];
            if v.contains('_')
                && v.chars()
                    .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit())
            {
                codes.push(v.to_string());
            }
        }
        codes.into_iter().next().expect("a rule code in the select")
    };
    let by_rule = app
        .page(&op, &format!("{receipt}?esito=scartato&regola={rule}"))
        .await;
    assert!(by_rule.contains(&rule));
    assert!(count(&by_rule, "<span class=\"badge badge-ko\">scartato</span>") >= 1);

    // JSON: same shape as the CLI's receipt, counts from the generator.
    let (st, h, body) = app.get(&op, &format!("{receipt}/ricevuta.json")).await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        h.get(header::CONTENT_DISPOSITION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("attachment; filename=\"ricevuta-"))
    );
    let json: Value = serde_json::from_slice(&body).expect("json");
    assert_schema_valid(&json);
    assert_eq!(json["riepilogo"]["record"], stats.records);
    assert_eq!(json["riepilogo"]["scartati"], injected);
    assert_eq!(json["riepilogo"]["accettati"], stats.records - injected);
    assert_eq!(json["codice_ente"], "H501");
    assert_eq!(json["canale"], "upload");
    assert_eq!(json["record"].as_array().expect("records").len(), 240);
    let only_rejected: Value = serde_json::from_slice(
        &app.get(&op, &format!("{receipt}/ricevuta.json?esito=scartato"))
            .await
            .2,
    )
    .expect("json");
    assert_schema_valid(&only_rejected);
    let recs = only_rejected["record"].as_array().expect("records");
    assert_eq!(recs.len() as u64, injected);
    assert!(recs.iter().all(|r| r["esito"] == "scartato"));

    // CSV for an Italian spreadsheet.
    let (st, h, body) = app.get(&op, &format!("{receipt}/ricevuta.csv")).await;
    assert_eq!(st, StatusCode::OK);
    let cd = h
        .get(header::CONTENT_DISPOSITION)
        .and_then(|v| v.to_str().ok())
        .expect("disposition");
    assert!(
        cd.starts_with("attachment; filename=\"ricevuta-") && cd.ends_with(".csv\""),
        "{cd}"
    );
    assert!(body.starts_with(b"\xEF\xBB\xBF"), "BOM");
    let text = String::from_utf8(body[3..].to_vec()).expect("utf8");
    assert!(text.starts_with(
        "\"posizione\";\"esito\";\"codice_esito\";\"regola\";\"gravita\";\"campo\";\"messaggio\";\"riga\"\r\n"
    ));
    let rows = parse_csv(&text);
    assert!(rows.iter().all(|r| r.len() == 8), "8 columns on every row");
    let positions: std::collections::BTreeSet<&str> =
        rows[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(positions.len(), 240, "every record has at least one row");
    let rejected_positions: std::collections::BTreeSet<&str> = rows[1..]
        .iter()
        .filter(|r| r[1] == "scartato")
        .map(|r| r[0].as_str())
        .collect();
    assert_eq!(rejected_positions.len() as u64, injected);
    assert!(
        rows[1..]
            .iter()
            .filter(|r| r[1] == "scartato")
            .all(|r| !r[3].is_empty() && !r[6].is_empty()),
        "rejected rows name the rule and the message"
    );
    // No cell a spreadsheet would run as a formula.
    for r in &rows {
        for c in r {
            assert!(
                !c.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "formula-like cell {c:?}"
            );
        }
    }
    // Filtered CSV.
    let (_, _, body) = app
        .get(&op, &format!("{receipt}/ricevuta.csv?esito=scartato"))
        .await;
    let rows = parse_csv(std::str::from_utf8(&body[3..]).expect("utf8"));
    assert!(rows[1..].iter().all(|r| r[1] == "scartato"));

    // The list shows the flow.
    let list = app.page(&op, "/flussi").await;
    assert!(list.contains(&format!("href=\"{receipt}\"")));
    assert!(list.contains("parziale"));

    // The same flow again: already acquired, every record a duplicate.
    let again = app.upload_and_follow(&op, "flusso.xml", &xml).await;
    let page = app.page(&op, &again).await;
    assert!(page.contains("Ricevuta"), "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn formula_like_values_are_neutralised_in_the_csv() {
    let app = app(16 << 20);
    let op = app.user(Some("H501"), "op", Role::Operatore).await;
    let csv = csv_fixture();
    // A hostile codice fiscale: the messages quote it.
    let hostile = csv.replacen("AAABBB39M66A351C", "=HYPERLINK(\"http://x\")", 1);
    let receipt = app
        .upload_and_follow(&op, "flusso.csv", hostile.as_bytes())
        .await;
    assert!(!receipt.starts_with("/flussi/invii/"), "stored: {receipt}");
    let (_, _, body) = app.get(&op, &format!("{receipt}/ricevuta.csv")).await;
    let text = std::str::from_utf8(&body[3..]).expect("utf8");
    let rows = parse_csv(text);
    for r in &rows {
        for c in r {
            assert!(
                !c.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "formula-like cell {c:?}"
            );
        }
    }
    assert!(rows.iter().any(|r| r[1] == "scartato"), "{text}");
    // The value is quoted, its quotes doubled, inside the message cell.
    assert!(
        text.contains("\"\"=HYPERLINK(\"\"http://x\"\")\"\""),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_upload_and_xhr_answer() {
    let app = app(16 << 20);
    let op = app.user(Some("H501"), "op", Role::Operatore).await;
    let csv = csv_fixture();
    let csv = csv.as_bytes();
    let (st, h, body) = app
        .post_multipart(
            &op,
            &[
                ("_csrf", None, op.csrf.as_bytes()),
                ("file", Some("prestazioni.csv"), csv),
            ],
            true,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        h.get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"))
    );
    let v: Value = serde_json::from_slice(&body).expect("json");
    let job = v["location"].as_str().expect("location").to_string();
    assert!(job.starts_with("/flussi/"));
    let receipt = app.follow(&op, &job).await;
    assert!(
        receipt.starts_with("/flussi/") && !receipt.starts_with("/flussi/invii/"),
        "{receipt}"
    );
    let page = app.page(&op, &receipt).await;
    assert!(page.contains("H501.PS.20210520.0000002"));
    assert!(page.contains("prestazioni.csv"));
    let json: Value =
        serde_json::from_slice(&app.get(&op, &format!("{receipt}/ricevuta.json")).await.2)
            .expect("json");
    assert_schema_valid(&json);
    assert_eq!(json["riepilogo"]["record"], 3);
    assert_eq!(json["tipo"], "PS_PSA_SINA");

    // A declared type that contradicts the file is refused before anything is stored.
    let before = app.flow_count().await;
    let (st, _, body) = app
        .post_multipart(
            &op,
            &[
                ("_csrf", None, op.csrf.as_bytes()),
                ("tipo", None, b"SINBA"),
                ("file", Some("prestazioni.csv"), csv),
            ],
            false,
        )
        .await;
    let text = String::from_utf8_lossy(&body);
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text.contains("contiene un flusso PS_PSA_SINA"), "{text}");
    assert!(text.contains("aria-invalid=\"true\""));
    // No file chosen.
    let (st, _, body) = app
        .post_multipart(
            &op,
            &[("_csrf", None, op.csrf.as_bytes()), ("file", Some(""), b"")],
            false,
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(String::from_utf8_lossy(&body).contains("Scegliere il file del flusso"));
    assert_eq!(app.flow_count().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_of_another_ente_is_rejected_and_nothing_stored() {
    let app = app(16 << 20);
    let op = app.user(Some("F205"), "op.milano", Role::Operatore).await;
    let (xml, stats) = gen_flow("H501", 30, 5, 0.0);
    let receipt = app.upload_and_follow(&op, "altro.xml", &xml).await;
    assert!(receipt.starts_with("/flussi/invii/"), "{receipt}");
    assert_eq!(app.flow_count().await, 0, "nothing stored");
    let page = app.page(&op, &receipt).await;
    assert!(page.contains("respinto"));
    assert!(page.contains("Flusso respinto per intero"));
    assert!(page.contains("non è stato registrato"));
    // Every record rejected with the flow's code.
    let json: Value =
        serde_json::from_slice(&app.get(&op, &format!("{receipt}/ricevuta.json")).await.2)
            .expect("json");
    assert_schema_valid(&json);
    let recs = json["record"].as_array().expect("records");
    assert_eq!(recs.len() as u64, stats.records);
    assert!(
        recs.iter()
            .all(|r| r["esito"] == "scartato" && r["codice_esito"] == json["codice_esito"])
    );
    assert!(
        !json["violazioni"]
            .as_array()
            .expect("flow violations")
            .is_empty()
    );
    let (st, _, body) = app.get(&op, &format!("{receipt}/ricevuta.csv")).await;
    assert_eq!(st, StatusCode::OK);
    assert!(body.starts_with(b"\xEF\xBB\xBF"));
    // Listed, and linked to its receipt.
    let list = app.page(&op, "/flussi").await;
    assert!(list.contains(&format!("href=\"{receipt}\"")));
    assert!(list.contains("respinto"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_upload_is_refused_and_the_server_keeps_serving() {
    let app = app(64 << 10);
    let op = app.user(Some("H501"), "op", Role::Operatore).await;
    let (xml, _) = gen_flow("H501", 400, 3, 0.0);
    assert!(xml.len() > 64 << 10, "the flow exceeds the limit");
    let (st, h, body) = app
        .post_multipart(
            &op,
            &[
                ("_csrf", None, op.csrf.as_bytes()),
                ("file", Some("grande.xml"), &xml),
            ],
            false,
        )
        .await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(&h), "RICHIESTA_TROPPO_GRANDE");
    assert!(String::from_utf8_lossy(&body).contains("supera il limite"));
    assert_eq!(app.flow_count().await, 0);
    assert_eq!(
        std::fs::read_dir(&app.spool).expect("spool").count(),
        0,
        "the partial upload was removed"
    );
    // Still serving, and a small flow still goes through.
    app.page(&op, "/flussi").await;
    let (small, _) = gen_flow("H501", 5, 3, 0.0);
    let receipt = app.upload_and_follow(&op, "piccolo.xml", &small).await;
    assert!(!receipt.starts_with("/flussi/invii/"));
    assert_eq!(app.flow_count().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_need_a_valid_csrf_token_first() {
    let app = app(16 << 20);
    let op = app.user(Some("H501"), "op", Role::Operatore).await;
    let (xml, _) = gen_flow("H501", 5, 1, 0.0);
    let cases: Vec<Vec<Part<'_>>> = vec![
        vec![("file", Some("f.xml"), &xml)],
        vec![("_csrf", None, b"sbagliato"), ("file", Some("f.xml"), &xml)],
        vec![
            ("file", Some("f.xml"), &xml),
            ("_csrf", None, op.csrf.as_bytes()),
        ],
    ];
    for parts in cases {
        let (st, h, body) = app.post_multipart(&op, &parts, false).await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        assert_eq!(error_code(&h), "CSRF_NON_VALIDO");
        assert!(String::from_utf8_lossy(&body).contains("Il modulo è scaduto"));
    }
    assert_eq!(app.flow_count().await, 0);
    // Not signed in: to the login page.
    let req = Request::get("/flussi").body(Body::empty()).expect("req");
    let (st, h, _) = app.send(req).await;
    assert_eq!(st, StatusCode::SEE_OTHER);
    assert!(location(&h).starts_with("/login"));
    // A role without an ente has no flows page.
    let admin = app.user(None, "amm", Role::Amministratore).await;
    assert_eq!(app.get(&admin, "/flussi").await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        app.get(&admin, "/flussi/nuovo").await.0,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_never_sees_another_entes_flows() {
    let app = app(16 << 20);
    let a = app.user(Some("H501"), "op.roma", Role::Operatore).await;
    let b = app.user(Some("F205"), "op.milano", Role::Operatore).await;

    // A: a stored flow and a submission rejected whole; a finished job.
    let (xml, _) = gen_flow("H501", 20, 9, 0.2);
    let job_a = app.upload(&a, "roma.xml", &xml, "auto").await;
    let flow_a = app.follow(&a, &job_a).await;
    let (other, _) = gen_flow("F205", 5, 9, 0.0);
    let sub_a = app.upload_and_follow(&a, "sbagliato.xml", &other).await;
    assert!(sub_a.starts_with("/flussi/invii/"), "{sub_a}");
    // B's own flow.
    let (xml_b, _) = gen_flow("F205", 5, 2, 0.0);
    let flow_b = app.upload_and_follow(&b, "milano.xml", &xml_b).await;

    let own = [
        flow_a.clone(),
        format!("{flow_a}?esito=scartato"),
        format!("{flow_a}/ricevuta.csv"),
        format!("{flow_a}/ricevuta.json"),
        sub_a.clone(),
        format!("{sub_a}/ricevuta.csv"),
        format!("{sub_a}/ricevuta.json"),
    ];
    for p in &own {
        assert_eq!(app.get(&a, p).await.0, StatusCode::OK, "A reads {p}");
        let (st, h, body) = app.get(&b, p).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "B must not read {p}");
        assert_eq!(error_code(&h), "NON_TROVATO");
        assert!(!String::from_utf8_lossy(&body).contains("roma.xml"));
    }
    // A's job: a redirect for A, 404 for B.
    assert_eq!(app.get(&a, &job_a).await.0, StatusCode::SEE_OTHER);
    assert_eq!(app.get(&b, &job_a).await.0, StatusCode::NOT_FOUND);
    // Guessed ids: the same answer.
    for p in [
        "/flussi/999999",
        "/flussi/0",
        "/flussi/-1",
        "/flussi/abc",
        "/flussi/999999/ricevuta.csv",
        "/flussi/invii/999999",
        "/flussi/invii/1",
        "/flussi/invii/2",
        "/flussi/lavorazione/1",
        "/flussi/lavorazione/2",
        "/flussi/lavorazione/999",
    ] {
        assert_eq!(
            app.get(&b, p).await.0,
            StatusCode::NOT_FOUND,
            "B guesses {p}"
        );
    }
    // B's list holds only B's flow; A's holds no trace of B's.
    let list_b = app.page(&b, "/flussi").await;
    assert!(list_b.contains(&format!("href=\"{flow_b}\"")));
    assert!(!list_b.contains(&format!("href=\"{flow_a}\"")));
    assert!(!list_b.contains(&format!("href=\"{sub_a}\"")));
    assert!(!list_b.contains("roma.xml"));
    let list_a = app.page(&a, "/flussi").await;
    assert!(!list_a.contains(&format!("href=\"{flow_b}\"")));
    assert_eq!(app.get(&a, &flow_b).await.0, StatusCode::NOT_FOUND);
}
