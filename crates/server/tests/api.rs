//! The cooperation API over HTTP: tokens, scopes, revocation, submissions
//! (XML and JSON), idempotency, receipts by id and by cursor, records of
//! the caller's ente only, limits, problem+json on every error path, the
//! OpenAPI document, and the administration of credentials in the portal.
#![allow(clippy::unwrap_used)]

mod support;

use casellario_domain::FlowType;
use casellario_domain::access::{EnteKind, Role};
use casellario_gen::{GenOptions, write_xml};
use casellario_server::api::auth::{SCOPES, new_credentials, secret_hash};
use casellario_server::{AppState, Config, auth};
use casellario_store::EnteId;
use casellario_store::api::NewApiClient;
use casellario_store::portal::{EnteAttrs, NewAccount};
use reqwest::StatusCode;
use serde_json::Value;

struct App {
    base: String,
    state: AppState,
    _dir: tempfile::TempDir,
}

async fn app_with(f: impl FnOnce(&mut Config)) -> App {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = Config {
        db: dir.path().join("t.db"),
        login_per_minute: 10_000,
        api_rate_per_second: 10_000,
        api_rate_burst: 10_000,
        ..Config::default()
    };
    f(&mut cfg);
    let state = AppState::new(cfg).expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let st = state.clone();
    tokio::spawn(async move {
        let _ = casellario_server::serve_on(listener, st).await;
    });
    App {
        base,
        state,
        _dir: dir,
    }
}

async fn app() -> App {
    app_with(|_| {}).await
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

struct Creds {
    id: String,
    secret: String,
}

impl App {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn ente(&self, codice: &str) -> EnteId {
        let c = codice.to_string();
        self.state
            .db
            .run(move |s| Ok(support::comune(s, &c, &c, &format!("Comune {c}"))?))
            .await
            .expect("ente")
    }

    async fn client(&self, ente: EnteId, scopes: &[&'static str]) -> Creds {
        let (id, secret) = new_credentials();
        let hash = secret_hash(&secret);
        let (cid, sc) = (id.clone(), scopes.to_vec());
        self.state
            .db
            .run(move |s| {
                Ok(s.create_api_client(&NewApiClient {
                    client_id: &cid,
                    ente_id: ente,
                    secret_hash: &hash,
                    scopes: &sc,
                    label: "test",
                    created_by: None,
                })?)
            })
            .await
            .expect("client");
        Creds { id, secret }
    }

    async fn token_response(&self, form: &[(&str, &str)]) -> reqwest::Response {
        http()
            .post(self.url("/api/v1/token"))
            .form(form)
            .send()
            .await
            .expect("token")
    }

    /// The token endpoint's answer to a client's own credentials.
    async fn credentials_response(&self, c: &Creds) -> reqwest::Response {
        self.token_response(&[
            ("grant_type", "client_credentials"),
            ("client_id", &c.id),
            ("client_secret", &c.secret),
        ])
        .await
    }

    async fn token(&self, c: &Creds) -> String {
        let r = self.credentials_response(c).await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.expect("json");
        v["access_token"].as_str().expect("token").to_string()
    }

    /// An ente with a client holding every scope, and its token.
    async fn ente_with_token(&self, codice: &str) -> (EnteId, String) {
        let e = self.ente(codice).await;
        let c = self.client(e, &SCOPES).await;
        (e, self.token(&c).await)
    }

    async fn submit(
        &self,
        token: &str,
        body: Vec<u8>,
        ctype: &str,
        key: Option<&str>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut rb = http()
            .post(self.url("/api/v1/flussi"))
            .bearer_auth(token)
            .header("content-type", ctype)
            .body(body);
        if let Some(k) = key {
            rb = rb.header("idempotency-key", k);
        }
        let r = rb.send().await.expect("submit");
        let st = r.status();
        let h = r.headers().clone();
        let v = r.json().await.unwrap_or(Value::Null);
        (st, h, v)
    }

    async fn get(
        &self,
        token: &str,
        path: &str,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let r = http()
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("get");
        let st = r.status();
        let h = r.headers().clone();
        let v = r.json().await.unwrap_or(Value::Null);
        (st, h, v)
    }
}

fn gen_flow(ente: &str, records: u64, seed: u64) -> Vec<u8> {
    // One beneficiary per record keeps a one-record flow at one PrestazioniSociali.
    let opts = GenOptions {
        ente_codice: Some(ente.into()),
        ente_belfiore: Some(ente.into()),
        ..GenOptions::new(FlowType::PsPsaSina, records, seed)
    };
    let mut out = Vec::new();
    write_xml(&opts, &mut out).expect("gen");
    out
}

/// Asserts an RFC 9457 problem with this status and code.
fn assert_problem(
    st: StatusCode,
    h: &reqwest::header::HeaderMap,
    v: &Value,
    status: u16,
    code: &str,
) {
    assert_eq!(st.as_u16(), status, "{v}");
    assert_eq!(
        h.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/problem+json"),
        "{v}"
    );
    assert_eq!(v["type"], format!("urn:casellario:problema:{code}"), "{v}");
    assert_eq!(v["codice"], code);
    assert_eq!(v["status"], status);
    assert!(v["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(v["detail"].as_str().is_some_and(|t| !t.is_empty()));
}

fn receipt_validator() -> jsonschema::Validator {
    let mut schema: Value =
        serde_json::from_str(include_str!("../../../docs/ricevuta.schema.json")).expect("schema");
    // The API's receipt: the flow's receipt plus id and seq.
    schema["properties"]["id"] = serde_json::json!({"type": "integer", "minimum": 1});
    schema["properties"]["seq"] = serde_json::json!({"type": "integer", "minimum": 1});
    jsonschema::draft202012::new(&schema).expect("schema compiles")
}

fn assert_receipt(v: &Value) {
    let errors: Vec<String> = receipt_validator()
        .iter_errors(v)
        .take(5)
        .map(|e| format!("{e} (at {})", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "receipt not schema-valid: {errors:?}\n{v}"
    );
    assert!(v["id"].as_i64().is_some_and(|i| i > 0));
    assert_eq!(v["id"], v["seq"]);
}

// ------------------------------------------------------------------ tokens

#[tokio::test]
async fn token_by_form_or_basic_and_oauth_errors() {
    let app = app().await;
    let e = app.ente("E001").await;
    let c = app.client(e, &["flussi:invio", "ricevute:lettura"]).await;
    // Form.
    let r = app.credentials_response(&c).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 600);
    assert_eq!(v["scope"], "flussi:invio ricevute:lettura");
    // The token is a JWT with typ at+jwt and the expected claims.
    let t = v["access_token"].as_str().unwrap();
    let parts: Vec<&str> = t.split('.').collect();
    assert_eq!(parts.len(), 3);
    use base64::Engine;
    let dec = |s: &str| -> Value {
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(s)
                .unwrap(),
        )
        .unwrap()
    };
    let (h, claims) = (dec(parts[0]), dec(parts[1]));
    assert_eq!(h["alg"], "HS256");
    assert_eq!(h["typ"], "at+jwt");
    for k in ["iss", "aud", "sub", "iat", "exp", "jti", "scope", "ente"] {
        assert!(!claims[k].is_null(), "claim {k}: {claims}");
    }
    assert_eq!(claims["sub"], c.id.as_str());
    assert_eq!(claims["ente"], "E001");
    // Basic, with a narrower scope.
    let r = http()
        .post(app.url("/api/v1/token"))
        .basic_auth(&c.id, Some(&c.secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "ricevute:lettura"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["scope"], "ricevute:lettura");
    // A scope the client was not granted.
    let r = app
        .token_response(&[
            ("grant_type", "client_credentials"),
            ("client_id", &c.id),
            ("client_secret", &c.secret),
            ("scope", "record:lettura"),
        ])
        .await;
    let (st, h) = (r.status(), r.headers().clone());
    let v: Value = r.json().await.unwrap();
    assert_problem(st, &h, &v, 400, "SCOPE_NON_VALIDO");
    assert_eq!(v["error"], "invalid_scope");
    // Wrong secret, unknown client.
    for (id, secret) in [
        (c.id.as_str(), "0".repeat(64)),
        ("cas-nessuno", c.secret.clone()),
    ] {
        let r = app
            .token_response(&[
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_secret", &secret),
            ])
            .await;
        let (st, h) = (r.status(), r.headers().clone());
        let v: Value = r.json().await.unwrap();
        assert_problem(st, &h, &v, 401, "CLIENT_NON_VALIDO");
        assert_eq!(v["error"], "invalid_client");
    }
    // Another grant type; no grant type; not a form.
    let r = app
        .token_response(&[("grant_type", "password"), ("client_id", &c.id)])
        .await;
    let (st, h) = (r.status(), r.headers().clone());
    let v: Value = r.json().await.unwrap();
    assert_problem(st, &h, &v, 400, "GRANT_NON_SUPPORTATO");
    assert_eq!(v["error"], "unsupported_grant_type");
    let r = app.token_response(&[("client_id", c.id.as_str())]).await;
    let (st, h) = (r.status(), r.headers().clone());
    let v: Value = r.json().await.unwrap();
    assert_problem(st, &h, &v, 400, "RICHIESTA_NON_VALIDA");
    let r = http()
        .post(app.url("/api/v1/token"))
        .json(&serde_json::json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    let (st, h) = (r.status(), r.headers().clone());
    let v: Value = r.json().await.unwrap();
    assert_problem(st, &h, &v, 415, "FORMATO_NON_SUPPORTATO");
}

#[tokio::test]
async fn bad_expired_forged_and_alg_none_tokens_are_refused() {
    let app = app().await;
    let (_, good) = app.ente_with_token("E001").await;
    let (st, _, _) = app.get(&good, "/api/v1/ricevute").await;
    assert_eq!(st, StatusCode::OK);
    let key = app
        .state
        .db
        .run(|s| Ok(s.api_signing_key(&[0u8; 32])?))
        .await
        .unwrap();
    let claims: Value = {
        use base64::Engine;
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(good.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    let sign = |claims: &Value, key: &[u8], typ: Option<&str>| {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        h.typ = typ.map(str::to_string);
        jsonwebtoken::encode(&h, claims, &jsonwebtoken::EncodingKey::from_secret(key)).unwrap()
    };
    let now = jsonwebtoken::get_current_timestamp();
    let mut expired = claims.clone();
    expired["iat"] = (now - 4000).into();
    expired["exp"] = (now - 3000).into();
    let mut other_aud = claims.clone();
    other_aud["aud"] = "urn:altro".into();
    let mut no_exp = claims.clone();
    no_exp.as_object_mut().unwrap().remove("exp");
    let payload = good.split('.').nth(1).unwrap();
    let bad = [
        ("expired", sign(&expired, &key, Some("at+jwt"))),
        ("forged", sign(&claims, &[9u8; 32], Some("at+jwt"))),
        ("typ JWT", sign(&claims, &key, Some("JWT"))),
        ("other aud", sign(&other_aud, &key, Some("at+jwt"))),
        ("no exp", sign(&no_exp, &key, Some("at+jwt"))),
        // alg none: {"alg":"none","typ":"at+jwt"}, no signature.
        (
            "alg none",
            format!("eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.{payload}."),
        ),
        ("garbage", "abc.def.ghi".to_string()),
    ];
    for (what, t) in bad {
        let (st, h, v) = app.get(&t, "/api/v1/ricevute").await;
        assert_problem(st, &h, &v, 401, "NON_AUTENTICATO");
        let w = h["www-authenticate"].to_str().unwrap();
        assert!(
            w.starts_with("Bearer ") && w.contains("error=\"invalid_token\""),
            "{what}: {w}"
        );
    }
    // No Authorization header, another scheme.
    let r = http()
        .get(app.url("/api/v1/ricevute"))
        .send()
        .await
        .unwrap();
    let (st, h) = (r.status(), r.headers().clone());
    let v: Value = r.json().await.unwrap();
    assert_problem(st, &h, &v, 401, "NON_AUTENTICATO");
    assert!(
        h["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    let r = http()
        .get(app.url("/api/v1/ricevute"))
        .basic_auth("a", Some("b"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn revocation_takes_effect_at_once_and_scopes_are_enforced() {
    let app = app().await;
    let e = app.ente("E001").await;
    let reader = app.client(e, &["ricevute:lettura"]).await;
    let t = app.token(&reader).await;
    // Scope denial: this client may not submit nor read records.
    let (st, h, v) = app
        .submit(&t, gen_flow("E001", 1, 1), "application/xml", None)
        .await;
    assert_problem(st, &h, &v, 403, "AMBITO_INSUFFICIENTE");
    assert!(
        h["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
    let (st, h, v) = app.get(&t, "/api/v1/record").await;
    assert_problem(st, &h, &v, 403, "AMBITO_INSUFFICIENTE");
    let (st, _, _) = app.get(&t, "/api/v1/ricevute").await;
    assert_eq!(st, StatusCode::OK);
    // Revoked: the token stops working now, and no new token is issued.
    let id = reader.id.clone();
    app.state
        .db
        .run(move |s| Ok(s.revoke_api_client(&id, None)?))
        .await
        .unwrap();
    app.state.api.revoked(&reader.id);
    let (st, h, v) = app.get(&t, "/api/v1/ricevute").await;
    assert_problem(st, &h, &v, 401, "NON_AUTENTICATO");
    let r = app.credentials_response(&reader).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

// ------------------------------------------------------------- submissions

#[tokio::test]
async fn xml_submissions_get_receipts_and_the_one_record_rule() {
    let app = app().await;
    let (_, t) = app.ente_with_token("E001").await;
    // Accepted.
    let (st, h, v) = app
        .submit(&t, gen_flow("E001", 1, 1), "application/xml", None)
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_receipt(&v);
    assert_eq!(v["canale"], "coop");
    assert_eq!(v["codice_ente"], "E001");
    assert_eq!(v["riepilogo"]["record"], 1);
    assert_eq!(v["riepilogo"]["accettati"], 1);
    assert_eq!(v["acquisito_in_precedenza"], false);
    let id = v["id"].as_i64().unwrap();
    assert_eq!(
        h["location"].to_str().unwrap(),
        format!("/api/v1/ricevute/{id}")
    );
    assert!(h.contains_key("x-ratelimit-limit"));
    // The same receipt by id.
    let (st, _, again) = app.get(&t, &format!("/api/v1/ricevute/{id}")).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(again, v);
    // Two records in one flow: rejected whole by the channel rule.
    let (st, _, v) = app
        .submit(&t, gen_flow("E001", 2, 2), "text/xml; charset=utf-8", None)
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_receipt(&v);
    assert_eq!(v["riepilogo"]["accettati"], 0);
    assert_ne!(v["codice_esito"], "OK");
    assert!(
        v["violazioni"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["regola"] == "CANALE_UN_RECORD"),
        "{v}"
    );
    // Another ente's flow: refused, nothing stored for E002.
    let (st, _, v) = app
        .submit(&t, gen_flow("E002", 1, 3), "application/xml", None)
        .await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(v["riepilogo"]["accettati"], 0);
    // Not XML at all.
    let (st, _, v) = app
        .submit(&t, b"<<<".to_vec(), "application/xml", None)
        .await;
    assert_eq!(st, StatusCode::CREATED);
    assert_receipt(&v);
    assert_eq!(v["codice_esito"], "RICHIESTA_INVALIDA");
    // Empty body, wrong content type.
    let (st, h, v) = app.submit(&t, Vec::new(), "application/xml", None).await;
    assert_problem(st, &h, &v, 400, "RICHIESTA_NON_VALIDA");
    let (st, h, v) = app
        .submit(&t, gen_flow("E001", 1, 4), "text/plain", None)
        .await;
    assert_problem(st, &h, &v, 415, "FORMATO_NON_SUPPORTATO");
}

#[tokio::test]
async fn idempotency_by_key_and_by_content() {
    let app = app().await;
    let (e, t) = app.ente_with_token("E001").await;
    let flow = gen_flow("E001", 1, 10);
    let (st, _, first) = app
        .submit(&t, flow.clone(), "application/xml", Some("k-1"))
        .await;
    assert_eq!(st, StatusCode::CREATED);
    // Same key, same body: the same receipt, no new submission.
    let (st, h, again) = app
        .submit(&t, flow.clone(), "application/xml", Some("k-1"))
        .await;
    assert_eq!(st, StatusCode::OK);
    assert!(!h.contains_key("location"));
    assert_eq!(again, first);
    // Same key, another body: refused.
    let (st, h, v) = app
        .submit(&t, gen_flow("E001", 1, 11), "application/xml", Some("k-1"))
        .await;
    assert_problem(st, &h, &v, 422, "IDEMPOTENCY_KEY_RIUSATA");
    // Same flow (same id_flusso and content) without a key: the original receipt.
    let (st, _, v) = app.submit(&t, flow.clone(), "application/xml", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v, first);
    // ... and with a new key: the original receipt too, and the key then replays it.
    let (st, _, v) = app
        .submit(&t, flow.clone(), "application/xml", Some("k-2"))
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v, first);
    let (st, _, v) = app.submit(&t, flow, "application/xml", Some("k-2")).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v, first);
    // One submission, one record.
    let (_, _, page) = app.get(&t, "/api/v1/ricevute").await;
    assert_eq!(page["elementi"].as_array().unwrap().len(), 1);
    let n = app
        .state
        .db
        .run(move |s| Ok(s.ente_stats(e)?))
        .await
        .unwrap();
    assert_eq!(n.accettati, 1);
    // A bad key.
    let (st, h, v) = app
        .submit(
            &t,
            gen_flow("E001", 1, 12),
            "application/xml",
            Some("con spazi"),
        )
        .await;
    assert_problem(st, &h, &v, 400, "RICHIESTA_NON_VALIDA");
}

#[tokio::test]
async fn receipts_are_listed_by_cursor() {
    let app = app().await;
    let (_, t) = app.ente_with_token("E001").await;
    let (_, t2) = app.ente_with_token("E002").await;
    let mut ids = Vec::new();
    for seed in 0..5 {
        let (st, _, v) = app
            .submit(&t, gen_flow("E001", 1, 100 + seed), "application/xml", None)
            .await;
        assert_eq!(st, StatusCode::CREATED);
        ids.push(v["id"].as_i64().unwrap());
        // Another ente's submissions interleave: never listed for E001.
        app.submit(
            &t2,
            gen_flow("E002", 1, 200 + seed),
            "application/xml",
            None,
        )
        .await;
    }
    let mut seen = Vec::new();
    let mut cursor = 0;
    loop {
        let (st, _, page) = app
            .get(&t, &format!("/api/v1/ricevute?dopo={cursor}&limite=2"))
            .await;
        assert_eq!(st, StatusCode::OK);
        let items = page["elementi"].as_array().unwrap();
        for i in items {
            assert_eq!(i["canale"], "coop");
            assert_eq!(i["ricevuta"], format!("/api/v1/ricevute/{}", i["id"]));
            seen.push(i["seq"].as_i64().unwrap());
        }
        cursor = page["prossimo"].as_i64().unwrap();
        if !page["altri"].as_bool().unwrap() {
            break;
        }
    }
    assert_eq!(seen, ids);
    // An empty page keeps the cursor.
    let (_, _, page) = app
        .get(&t, &format!("/api/v1/ricevute?dopo={cursor}"))
        .await;
    assert_eq!(page["elementi"].as_array().unwrap().len(), 0);
    assert_eq!(page["prossimo"], cursor);
    // Limits.
    for q in ["limite=101", "limite=0", "dopo=-1", "limite=abc"] {
        let (st, h, v) = app.get(&t, &format!("/api/v1/ricevute?{q}")).await;
        assert_problem(st, &h, &v, 400, "RICHIESTA_NON_VALIDA");
    }
    // Another ente's receipt: 404, like one that does not exist.
    let (st, h, v) = app.get(&t2, &format!("/api/v1/ricevute/{}", ids[0])).await;
    assert_problem(st, &h, &v, 404, "NON_TROVATO");
    for bad in ["999999", "0", "-1", "abc"] {
        let (st, h, v) = app.get(&t, &format!("/api/v1/ricevute/{bad}")).await;
        assert_problem(st, &h, &v, 404, "NON_TROVATO");
    }
}

#[tokio::test]
async fn records_of_the_own_ente_only_and_access_logged() {
    let app = app().await;
    let (_, t) = app.ente_with_token("E001").await;
    let (_, t2) = app.ente_with_token("E002").await;
    let flow = gen_flow("E001", 1, 7);
    let (st, _, _) = app.submit(&t, flow.clone(), "application/xml", None).await;
    assert_eq!(st, StatusCode::CREATED);
    let text = String::from_utf8(flow).unwrap();
    let at = text.find("CodiceFiscale=\"").unwrap() + 15;
    let cf = &text[at..at + 16];
    let (st, _, page) = app
        .get(&t, &format!("/api/v1/record?codice_fiscale={cf}"))
        .await;
    assert_eq!(st, StatusCode::OK);
    let items = page["elementi"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{page}");
    assert_eq!(items[0]["soggetto"], cf);
    let id = items[0]["id"].as_i64().unwrap();
    let (st, _, rec) = app.get(&t, &format!("/api/v1/record/{id}")).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(rec["id"], id);
    assert!(rec["dati"].to_string().contains(cf), "{rec}");
    // Without a person: the ente's latest records.
    let (_, _, page) = app.get(&t, "/api/v1/record?limite=10").await;
    assert_eq!(page["elementi"].as_array().unwrap().len(), 1);
    // Another ente sees nothing of it.
    let (st, _, page) = app
        .get(&t2, &format!("/api/v1/record?codice_fiscale={cf}"))
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(page["elementi"].as_array().unwrap().len(), 0);
    let (st, h, v) = app.get(&t2, &format!("/api/v1/record/{id}")).await;
    assert_problem(st, &h, &v, 404, "NON_TROVATO");
    // Bad criteria.
    for q in ["dal=ieri", "tipo=ALTRO", "limite=500", "pagina=0"] {
        let (st, h, v) = app.get(&t, &format!("/api/v1/record?{q}")).await;
        assert_problem(st, &h, &v, 400, "RICHIESTA_NON_VALIDA");
    }
    // Every read naming the person is in the access log, by its client
    // (E002's search too: it named the person).
    let subject = cf.to_string();
    let rows = app
        .state
        .db
        .run(move |s| Ok(s.list_access(Some(&subject), 10, None)?))
        .await
        .unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(
        rows.iter()
            .all(|r| r.api_client.is_some() && r.account_id.is_none())
    );
    let whats: Vec<&str> = rows.iter().map(|r| r.what.as_str()).collect();
    assert_eq!(whats, ["ricerca", &format!("record {id}"), "ricerca"]);
}

// ------------------------------------------------------------------ limits

#[tokio::test]
async fn body_over_the_limit_is_413() {
    let app = app_with(|c| c.api_max_body_bytes = 4096).await;
    let (_, t) = app.ente_with_token("E001").await;
    let mut big = gen_flow("E001", 1, 1);
    big.extend(std::iter::repeat_n(b' ', 5000));
    let (st, h, v) = app.submit(&t, big, "application/xml", None).await;
    assert_problem(st, &h, &v, 413, "RICHIESTA_TROPPO_GRANDE");
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let app = app_with(|c| {
        c.api_rate_per_second = 1;
        c.api_rate_burst = 2;
    })
    .await;
    let (_, t) = app.ente_with_token("E001").await;
    let (st, h, _) = app.get(&t, "/api/v1/ricevute").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(h["x-ratelimit-limit"], "1");
    assert_eq!(h["x-ratelimit-remaining"], "1");
    app.get(&t, "/api/v1/ricevute").await;
    let (st, h, v) = app.get(&t, "/api/v1/ricevute").await;
    assert_problem(st, &h, &v, 429, "TROPPE_RICHIESTE");
    let wait: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    assert_eq!(h["x-ratelimit-remaining"], "0");
    assert!(h.contains_key("x-ratelimit-reset"));
    // Another client of the same ente has its own budget.
    let e2 = app.ente("E002").await;
    let c2 = app.client(e2, &SCOPES).await;
    let t2 = app.token(&c2).await;
    let (st, _, _) = app.get(&t2, "/api/v1/ricevute").await;
    assert_eq!(st, StatusCode::OK);
}

#[tokio::test]
async fn every_error_path_is_problem_json() {
    let app = app().await;
    let (_, t) = app.ente_with_token("E001").await;
    // A route that does not exist (under /api/v1 and elsewhere under /api).
    for p in ["/api/v1/nessuno", "/api/v2/flussi", "/api"] {
        let (st, h, v) = app.get(&t, p).await;
        assert_problem(st, &h, &v, 404, "NON_TROVATO");
    }
    // A wrong method.
    let r = http()
        .delete(app.url("/api/v1/flussi"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    let (st, h) = (r.status(), r.headers().clone());
    let v: Value = r.json().await.unwrap();
    assert_problem(st, &h, &v, 405, "METODO_NON_CONSENTITO");
    assert!(h.contains_key("allow"));
    let r = http().get(app.url("/api/v1/token")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    // A wrong query type.
    let (st, h, v) = app.get(&t, "/api/v1/record?pagina=x").await;
    assert_problem(st, &h, &v, 400, "RICHIESTA_NON_VALIDA");
    // Status answers as a problem too.
    let r = http().get(app.url("/api/v1/status")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], 200);
    // The portal's own pages keep their HTML errors.
    let r = http().get(app.url("/nessuna-pagina")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
}

#[tokio::test]
async fn openapi_document_is_served_and_complete() {
    let app = app().await;
    let r = http()
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let doc: Value = r.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["info"]["x-api-id"].is_string());
    assert!(doc["info"]["x-summary"].is_string());
    assert!(doc["info"]["contact"]["email"].is_string());
    assert!(doc["info"]["termsOfService"].is_string());
    assert_eq!(
        doc["servers"][0]["url"],
        format!("http://{}/api/v1", app.state.cfg.listen)
    );
    let sec = &doc["components"]["securitySchemes"];
    assert_eq!(sec["bearer"]["scheme"], "bearer");
    assert!(
        sec["oauth2"]["flows"]["clientCredentials"]["tokenUrl"]
            .as_str()
            .unwrap()
            .ends_with("/api/v1/token")
    );
    assert!(doc["components"]["schemas"]["RicevutaApi"]["properties"]["seq"].is_object());
    assert!(doc["components"]["schemas"]["FlussoJson"].is_object());
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/token",
        "/flussi",
        "/ricevute",
        "/ricevute/{id}",
        "/record",
        "/record/{id}",
        "/status",
    ] {
        assert!(paths.contains_key(p), "{p}");
    }
    for (p, item) in paths {
        for (m, op) in item.as_object().unwrap() {
            let resps = op["responses"].as_object().unwrap();
            assert!(resps.contains_key("503"), "{m} {p}");
            assert!(op["operationId"].is_string(), "{m} {p}");
            if p != "/status" {
                assert!(resps.contains_key("429"), "{m} {p}");
                assert!(resps.contains_key("400"), "{m} {p}");
            }
        }
    }
    let too_many = &doc["components"]["responses"]["Problema429"];
    for h in [
        "Retry-After",
        "X-RateLimit-Limit",
        "X-RateLimit-Remaining",
        "X-RateLimit-Reset",
    ] {
        assert!(too_many["headers"][h].is_object(), "{h}");
    }
    assert!(doc["components"]["responses"]["Problema503"]["headers"]["Retry-After"].is_object());
}

// ------------------------------------------------------------ administration

fn csrf_in(page: &str) -> String {
    let at = page.find("name=\"_csrf\" value=\"").expect("a _csrf field") + 20;
    page[at..at + page[at..].find('"').expect("end")].to_string()
}

const PW: &str = "Prova-Password-2026";

async fn signed_in(
    app: &App,
    username: &str,
    role: Role,
    ente: Option<EnteId>,
) -> (reqwest::Client, String) {
    let hash = auth::hash_password(PW).unwrap();
    let u = username.to_string();
    app.state
        .db
        .run(move |s| {
            Ok(s.create_account(&NewAccount {
                username: &u,
                nome: "Persona",
                role,
                ente_id: ente,
                password_hash: &hash,
                must_change: false,
            })?)
        })
        .await
        .unwrap();
    let c = http();
    let page = c
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = c
        .post(app.url("/login"))
        .form(&[
            ("_csrf", csrf_in(&page).as_str()),
            ("username", username),
            ("password", PW),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = c
        .get(app.url("/informazioni"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_in(&page);
    (c, csrf)
}

fn between<'a>(page: &'a str, start: &str, end: &str) -> &'a str {
    let at = page.find(start).expect(start) + start.len();
    &page[at..at + page[at..].find(end).expect(end)]
}

#[tokio::test]
async fn administrators_and_referenti_issue_and_revoke_credentials() {
    let app = app().await;
    let e1 = app.ente("E001").await;
    let e2 = app.ente("E002").await;
    let (admin, csrf) = signed_in(&app, "amm", Role::Amministratore, None).await;
    // The ente page links to the credentials.
    let page = admin
        .get(app.url(&format!("/amministrazione/enti/{e1}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Credenziali API"));
    // Issue: the secret is shown once.
    let r = admin
        .post(app.url(&format!("/amministrazione/enti/{e1}/credenziali")))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("etichetta", "Cartella sociale"),
            ("scope", "flussi:invio"),
            ("scope", "ricevute:lettura"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let page = r.text().await.unwrap();
    let id = between(&page, "id=\"client-id\">", "<").to_string();
    let secret = between(&page, "id=\"client-secret\">", "<").to_string();
    assert_eq!(secret.len(), 64);
    let creds = Creds {
        id: id.clone(),
        secret: secret.clone(),
    };
    let t = app.token(&creds).await;
    let (st, _, _) = app.get(&t, "/api/v1/ricevute").await;
    assert_eq!(st, StatusCode::OK);
    // Listed later without the secret.
    let page = admin
        .get(app.url(&format!("/amministrazione/enti/{e1}/credenziali")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(&id) && !page.contains(&secret));
    // A form without label or scope is refused with messages.
    let r = admin
        .post(app.url(&format!("/amministrazione/enti/{e1}/credenziali")))
        .form(&[("_csrf", csrf.as_str()), ("etichetta", " ")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(page.contains("Scegliere almeno un ambito"));
    // The referente of E002 cannot see or revoke E001's credentials.
    let (referente, rcsrf) = signed_in(&app, "ref2", Role::Referente, Some(e2)).await;
    let r = referente
        .get(app.url(&format!("/amministrazione/enti/{e1}/credenziali")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = referente
        .post(app.url(&format!(
            "/amministrazione/enti/{e2}/credenziali/{id}/revoca"
        )))
        .form(&[("_csrf", rcsrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // ... but manages its own.
    let r = referente
        .post(app.url(&format!("/amministrazione/enti/{e2}/credenziali")))
        .form(&[
            ("_csrf", rcsrf.as_str()),
            ("etichetta", "Gestionale"),
            ("scope", "record:lettura"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    // Revoke: the token stops working at once.
    let r = admin
        .post(app.url(&format!(
            "/amministrazione/enti/{e1}/credenziali/{id}/revoca"
        )))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (st, _, _) = app.get(&t, "/api/v1/ricevute").await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    // Both actions audited.
    let events = app
        .state
        .db
        .run(|s| Ok(s.list_audit(50, None)?))
        .await
        .unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "api.credenziale.rilascio")
            .count(),
        2
    );
    assert!(actions.contains(&"api.credenziale.revoca"));
}

// -------------------------------------------------------------------- JSON

#[tokio::test]
async fn json_submissions_are_the_same_flow_as_xml() {
    let app = app().await;
    let (_, t) = app.ente_with_token("E001").await;
    let xml = gen_flow("E001", 1, 21);
    let json = casellario_formats::json::flow_xml_to_json(&xml).unwrap();
    let body_of = |v: &Value| serde_json::to_vec(v).unwrap();
    let body = body_of(&json);
    let (st, _, v) = app.submit(&t, body.clone(), "application/json", None).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_receipt(&v);
    assert_eq!(v["riepilogo"]["accettati"], 1);
    // The same JSON again, pretty-printed: the same flow, the original receipt.
    let pretty = serde_json::to_vec_pretty(&json).unwrap();
    let (st, _, again) = app.submit(&t, pretty, "application/json", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(again, v);
    // A JSON flow with two records: the channel rule, as in XML.
    let two = casellario_formats::json::flow_xml_to_json(&gen_flow("E001", 2, 22)).unwrap();
    let (st, _, v) = app
        .submit(&t, body_of(&two), "application/json", None)
        .await;
    assert_eq!(st, StatusCode::CREATED);
    assert!(
        v["violazioni"].to_string().contains("CANALE_UN_RECORD"),
        "{v}"
    );
    // JSON that does not map: 422 with the violations, nothing stored.
    let mut bad = json.clone();
    bad["Beneficiario"]["Sconosciuto"] = "x".into();
    let (st, h, v) = app
        .submit(&t, body_of(&bad), "application/json", None)
        .await;
    assert_problem(st, &h, &v, 422, "FLUSSO_JSON_NON_VALIDO");
    let viol = v["violazioni"].as_array().unwrap();
    assert!(!viol.is_empty());
    for x in viol {
        assert!(x["codice"].as_str().unwrap().starts_with("JSON_"), "{x}");
        assert!(x["messaggio"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(x["campo"].is_string());
    }
    let (st, h, v) = app
        .submit(&t, b"{\"a\":".to_vec(), "application/json", None)
        .await;
    assert_problem(st, &h, &v, 422, "FLUSSO_JSON_NON_VALIDO");
    // JSON that maps but breaks the published schema (a required member
    // missing): refused as the OpenAPI document says, nothing stored.
    let mut bad = json.clone();
    bad["Beneficiario"]
        .as_object_mut()
        .unwrap()
        .remove("CodiceFiscale");
    let (st, h, v) = app
        .submit(&t, body_of(&bad), "application/json", None)
        .await;
    assert_problem(st, &h, &v, 422, "FLUSSO_JSON_NON_VALIDO");
    assert_eq!(v["violazioni"][0]["codice"], "JSON_SCHEMA", "{v}");
    assert_eq!(
        v["violazioni"][0]["campo"], "/Beneficiario/CodiceFiscale",
        "{v}"
    );
    let (_, _, page) = app.get(&t, "/api/v1/ricevute").await;
    assert_eq!(page["elementi"].as_array().unwrap().len(), 2);
}

// -------------------------------------------------------------- ModI lint

#[path = "api/lint.rs"]
mod lint;

#[test]
fn generated_openapi_passes_the_modi_ruleset() {
    let doc = casellario_server::api::openapi::document("https://casellario.example.it", 1 << 20);
    // The examples of the flow are real: the JSON one is the XML one's mirror.
    let post = &doc["paths"]["/flussi"]["post"]["requestBody"]["content"];
    assert!(
        post["application/json"]["example"]["IdentificazioneFlusso"].is_object(),
        "{post}"
    );
    assert!(
        post["application/xml"]["example"]
            .as_str()
            .is_some_and(|x| x.contains("<Flusso"))
    );
    lint::lint_openapi(&serde_json::to_string_pretty(&doc).unwrap())
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn the_documents_examples_are_accepted_flows() {
    use casellario_server::api::openapi::{EXAMPLE_XML, example_json};
    for (body, ctype) in [
        (EXAMPLE_XML.as_bytes().to_vec(), "application/xml"),
        (
            serde_json::to_vec(&example_json()).unwrap(),
            "application/json",
        ),
    ] {
        let app = app().await;
        let (_, t) = app.ente_with_token("H501").await;
        let (st, _, v) = app.submit(&t, body, ctype, None).await;
        assert_eq!(st, StatusCode::CREATED, "{ctype}: {v}");
        assert_eq!(v["codice_esito"], "OK", "{ctype}: {v}");
        assert_eq!(v["riepilogo"]["accettati"], 1);
    }
}

#[tokio::test]
async fn a_deactivated_ente_transmits_nothing() {
    let app = app().await;
    let e = app.ente("E001").await;
    let c = app.client(e, &SCOPES).await;
    let t = app.token(&c).await;
    app.state
        .db
        .run(move |s| {
            Ok(s.revise_ente(
                e,
                &EnteAttrs {
                    denominazione: "Comune E001",
                    belfiore: "E001",
                    tipo: EnteKind::Comune,
                    attivo: false,
                },
                None,
            )?)
        })
        .await
        .unwrap();
    let (st, h, v) = app
        .submit(&t, gen_flow("E001", 1, 30), "application/xml", None)
        .await;
    assert_problem(st, &h, &v, 403, "ENTE_DISATTIVATO");
    // Its history stays readable; no new token is issued.
    let (st, _, _) = app.get(&t, "/api/v1/ricevute").await;
    assert_eq!(st, StatusCode::OK);
    let r = app.credentials_response(&c).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_large_receipt_is_streamed_whole() {
    let app = app_with(|c| c.api_max_body_bytes = 4 << 20).await;
    let (_, t) = app.ente_with_token("E001").await;
    // 1,200 records break the channel rule: the receipt lists each of them.
    let (st, _, v) = app
        .submit(&t, gen_flow("E001", 1200, 40), "application/xml", None)
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let id = v["id"].as_i64().unwrap();
    let (st, _, again) = app.get(&t, &format!("/api/v1/ricevute/{id}")).await;
    assert_eq!(st, StatusCode::OK);
    assert_receipt(&again);
    assert_eq!(again["record"].as_array().unwrap().len(), 1200);
    assert_eq!(again, v);
}
