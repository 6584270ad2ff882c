//! Amministrazione, Registro accessi, Informazioni and the demo, over HTTP.
//!
//! Each test starts the real router on 127.0.0.1:0 with a fresh database and
//! drives it with reqwest (cookies on, redirects off, so that every
//! redirect is checked).

mod support;

use casellario_domain::access::Role;
use casellario_server::{AppState, Config, auth, demo};
use casellario_store::EnteId;
use casellario_store::portal::{AccountId, NewAccess, NewAccount};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

const PW: &str = "Prova-Password-2026";

struct App {
    base: String,
    state: AppState,
    _dir: tempfile::TempDir,
}

async fn app() -> App {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = Config {
        db: dir.path().join("t.db"),
        login_per_minute: 10_000,
        ..Config::default()
    };
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

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

impl App {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn ente(&self, codice: &str, belfiore: &str) -> EnteId {
        let (c, b) = (codice.to_string(), belfiore.to_string());
        self.state
            .db
            .run(move |s| Ok(support::comune(s, &c, &b, &format!("Comune {c}"))?))
            .await
            .expect("ente")
    }

    async fn account(&self, username: &str, role: Role, ente: Option<EnteId>) -> AccountId {
        let hash = auth::hash_password(PW).expect("hash");
        let u = username.to_string();
        self.state
            .db
            .run(move |s| {
                Ok(s.create_account(&NewAccount {
                    username: &u,
                    nome: &format!("Persona {u}"),
                    role,
                    ente_id: ente,
                    password_hash: &hash,
                    must_change: false,
                })?)
            })
            .await
            .expect("account")
    }

    /// Posts the login form; returns the response (a redirect on success).
    async fn login_as(&self, c: &reqwest::Client, user: &str, pw: &str) -> reqwest::Response {
        let page = c
            .get(self.url("/login"))
            .send()
            .await
            .expect("login page")
            .text()
            .await
            .expect("text");
        let token = csrf_in(&page);
        c.post(self.url("/login"))
            .form(&[
                ("_csrf", token.as_str()),
                ("username", user),
                ("password", pw),
                ("next", "/"),
            ])
            .send()
            .await
            .expect("login")
    }

    async fn signed_in(&self, user: &str) -> reqwest::Client {
        let c = client();
        let r = self.login_as(&c, user, PW).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "login of {user}");
        c
    }

    async fn get(&self, c: &reqwest::Client, path: &str) -> (StatusCode, String) {
        let r = c.get(self.url(path)).send().await.expect("get");
        let st = r.status();
        (st, r.text().await.expect("text"))
    }

    /// The CSRF token of a signed-in page.
    async fn csrf(&self, c: &reqwest::Client) -> String {
        let (st, page) = self.get(c, "/informazioni").await;
        assert_eq!(st, StatusCode::OK);
        csrf_in(&page)
    }

    async fn post(
        &self,
        c: &reqwest::Client,
        path: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, String, Option<String>) {
        let token = self.csrf(c).await;
        let mut f: Vec<(&str, &str)> = vec![("_csrf", token.as_str())];
        f.extend_from_slice(form);
        let r = c.post(self.url(path)).form(&f).send().await.expect("post");
        let st = r.status();
        let loc = r
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        (st, r.text().await.expect("text"), loc)
    }

    async fn audit_actions(&self) -> Vec<String> {
        self.state
            .db
            .run(|s| Ok(s.list_audit(1000, None)?))
            .await
            .expect("audit")
            .into_iter()
            .map(|e| e.action)
            .collect()
    }
}

fn csrf_in(page: &str) -> String {
    let at = page.find("name=\"_csrf\" value=\"").expect("a _csrf field") + 20;
    page[at..at + page[at..].find('"').expect("end")].to_string()
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

#[tokio::test]
async fn admin_creates_ente_and_operator_who_must_change_password() {
    let app = app().await;
    app.account("capo", Role::Amministratore, None).await;
    let admin = app.signed_in("capo").await;
    let (st, page) = app.get(&admin, "/amministrazione").await;
    assert_eq!(st, StatusCode::OK);
    assert!(page.contains("Nessun ente registrato"), "{page}");

    // A Belfiore code that is no comune is refused next to its field.
    let bad = [
        ("codice", "G479"),
        ("denominazione", "Comune di Pesaro"),
        ("belfiore", "X999"),
        ("tipo", "comune"),
    ];
    let (st, page, _) = app.post(&admin, "/amministrazione/enti", &bad).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("non corrisponde a nessun comune italiano in vigore"));
    assert!(page.contains("id=\"belfiore-error\""));
    assert!(page.contains("aria-invalid=\"true\""));
    // A codice that would not make a valid flow name.
    let (st, page, _) = app
        .post(
            &admin,
            "/amministrazione/enti",
            &[
                ("codice", "G4-79"),
                ("denominazione", "Comune di Pesaro"),
                ("belfiore", "G479"),
                ("tipo", "comune"),
            ],
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("solo lettere e cifre"));

    let good = [
        ("codice", "g479"),
        ("denominazione", "Comune di Pesaro"),
        ("belfiore", "g479"),
        ("tipo", "comune"),
    ];
    let (st, _, loc) = app.post(&admin, "/amministrazione/enti", &good).await;
    assert_eq!(st, StatusCode::SEE_OTHER);
    let loc = loc.expect("location");
    assert!(loc.starts_with("/amministrazione/enti/"), "{loc}");
    let (st, page) = app.get(&admin, &loc).await;
    assert_eq!(st, StatusCode::OK);
    assert!(page.contains("Ente registrato"));
    assert!(page.contains("Pesaro (PU)"));
    let ente_id: i64 = loc
        .trim_start_matches("/amministrazione/enti/")
        .split('?')
        .next()
        .and_then(|s| s.parse().ok())
        .expect("id");
    // Same codice again: conflict, in Italian, next to the field.
    let (st, page, _) = app.post(&admin, "/amministrazione/enti", &good).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("Esiste già un ente con il codice G479"));

    // Deactivating makes a new revision.
    let (st, _, _) = app
        .post(
            &admin,
            &format!("/amministrazione/enti/{ente_id}"),
            &[
                ("denominazione", "Comune di Pesaro (PU)"),
                ("belfiore", "G479"),
                ("tipo", "comune"),
            ],
        )
        .await;
    assert_eq!(st, StatusCode::SEE_OTHER);
    let e = app
        .state
        .db
        .run(move |s| Ok(s.ente_profile(ente_id)?))
        .await
        .expect("profile")
        .expect("ente");
    assert!(!e.attivo);
    assert_eq!(e.denominazione, "Comune di Pesaro (PU)");

    // An operator without an ente is refused.
    let (st, page, _) = app
        .post(
            &admin,
            "/amministrazione/utenti",
            &[
                ("username", "mario.rossi"),
                ("nome", "Mario Rossi"),
                ("ruolo", "operatore"),
                ("ente", ""),
                ("password_modo", "genera"),
            ],
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("deve appartenere a un ente"), "{page}");
    // A typed password that breaks the policy is refused too.
    let id = ente_id.to_string();
    let (st, page, _) = app
        .post(
            &admin,
            "/amministrazione/utenti",
            &[
                ("username", "mario.rossi"),
                ("nome", "Mario Rossi"),
                ("ruolo", "operatore"),
                ("ente", &id),
                ("password_modo", "scegli"),
                ("password", "corta"),
            ],
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("almeno 12 caratteri"));

    let (st, page, _) = app
        .post(
            &admin,
            "/amministrazione/utenti",
            &[
                ("username", "Mario.Rossi"),
                ("nome", "Mario Rossi"),
                ("ruolo", "operatore"),
                ("ente", &id),
                ("password_modo", "genera"),
            ],
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert!(page.contains("mostrata una sola volta"));
    let needle = "id=\"password-generata\">";
    let at = page.find(needle).expect("password") + needle.len();
    let password = page[at..at + page[at..].find('<').expect("end")].to_string();
    assert!(auth::password_problem(&password, "mario.rossi").is_none());

    // The operator signs in, and must change the password first.
    let op = client();
    let r = app.login_as(&op, "mario.rossi", &password).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/password");
    let r = op.get(app.url("/")).send().await.expect("get");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/password");

    let actions = app.audit_actions().await;
    for a in [
        "ente.creazione",
        "ente.modifica",
        "account.creazione",
        "login",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }
}

#[tokio::test]
async fn referente_manages_only_the_operators_of_their_own_ente() {
    let app = app().await;
    let a = app.ente("G479", "G479").await;
    let b = app.ente("A944", "A944").await;
    let admin = app.account("capo", Role::Amministratore, None).await;
    let ref_a = app.account("ref.a", Role::Referente, Some(a)).await;
    let op_a = app.account("op.a", Role::Operatore, Some(a)).await;
    let ref_b = app.account("ref.b", Role::Referente, Some(b)).await;
    let op_b = app.account("op.b", Role::Operatore, Some(b)).await;
    let r = app.signed_in("ref.a").await;

    // The list holds the own ente's accounts only.
    let resp = r
        .get(app.url("/amministrazione"))
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), "/amministrazione/utenti");
    let (st, page) = app.get(&r, "/amministrazione/utenti").await;
    assert_eq!(st, StatusCode::OK);
    assert!(page.contains("op.a"));
    assert!(!page.contains("op.b") && !page.contains("ref.b") && !page.contains("capo"));

    // Never another role, never another ente.
    for (role, ente) in [
        ("amministratore", ""),
        ("referente", ""),
        ("auditor", ""),
        ("operatore", &*b.to_string()),
    ] {
        let (st, _, _) = app
            .post(
                &r,
                "/amministrazione/utenti",
                &[
                    ("username", "nuovo.utente"),
                    ("nome", "Nuovo Utente"),
                    ("ruolo", role),
                    ("ente", ente),
                    ("password_modo", "genera"),
                ],
            )
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{role} {ente}");
    }
    let created = app
        .state
        .db
        .run(|s| Ok(s.account_by_username("nuovo.utente")?))
        .await
        .expect("lookup");
    assert!(created.is_none());

    // Enti are the administrator's.
    for path in [
        format!("/amministrazione/enti/{a}"),
        "/amministrazione/enti/nuovo".to_string(),
    ] {
        let (st, _) = app.get(&r, &path).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{path}");
    }

    // Other accounts answer 404, request by request, guessed ids included.
    let others = [
        op_b.to_string(),
        ref_b.to_string(),
        admin.to_string(),
        ref_a.to_string(),
        "999999".into(),
        "0".into(),
        "-1".into(),
        "abc".into(),
    ];
    for id in &others {
        let (st, _) = app.get(&r, &format!("/amministrazione/utenti/{id}")).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "GET {id}");
        let (st, _, _) = app
            .post(
                &r,
                &format!("/amministrazione/utenti/{id}"),
                &[("nome", "Preso"), ("ruolo", "operatore")],
            )
            .await;
        assert_eq!(st, StatusCode::NOT_FOUND, "POST {id}");
        let (st, _, _) = app
            .post(&r, &format!("/amministrazione/utenti/{id}/password"), &[])
            .await;
        assert_eq!(st, StatusCode::NOT_FOUND, "reset {id}");
    }
    let untouched = app
        .state
        .db
        .run(move |s| Ok(s.account(op_b)?))
        .await
        .expect("lookup")
        .expect("op.b");
    assert_eq!(untouched.nome, "Persona op.b");
    assert!(untouched.attivo);

    // Own operators: create, edit, deactivate, reset.
    let (st, page, _) = app
        .post(
            &r,
            "/amministrazione/utenti",
            &[
                ("username", "op.nuovo"),
                ("nome", "Operatore Nuovo"),
                ("password_modo", "genera"),
            ],
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{page}");
    let acc = app
        .state
        .db
        .run(|s| Ok(s.account_by_username("op.nuovo")?))
        .await
        .expect("lookup")
        .expect("created");
    assert_eq!(
        (acc.role, acc.ente_id, acc.must_change),
        (Role::Operatore, Some(a), true)
    );

    let (st, _, loc) = app
        .post(
            &r,
            &format!("/amministrazione/utenti/{op_a}"),
            &[("nome", "Operatore A rinominato")],
        )
        .await;
    assert_eq!(st, StatusCode::SEE_OTHER);
    assert_eq!(
        loc.as_deref(),
        Some(&*format!("/amministrazione/utenti/{op_a}?esito=modificato"))
    );
    let (st, page, _) = app
        .post(&r, &format!("/amministrazione/utenti/{op_a}/password"), &[])
        .await;
    assert_eq!(st, StatusCode::OK);
    assert!(page.contains("Password reimpostata"));
    let acc = app
        .state
        .db
        .run(move |s| Ok(s.account(op_a)?))
        .await
        .expect("lookup")
        .expect("op.a");
    assert_eq!(acc.nome, "Operatore A rinominato");
    assert!(!acc.attivo && acc.must_change);

    // A forged form is refused before anything else.
    let r2 = r
        .post(app.url(&format!("/amministrazione/utenti/{op_a}")))
        .form(&[("_csrf", "falso"), ("nome", "x"), ("attivo", "si")])
        .send()
        .await
        .expect("post");
    assert_eq!(r2.status(), StatusCode::FORBIDDEN);
    assert!(
        r2.text()
            .await
            .expect("text")
            .contains("Il modulo è scaduto")
    );
}

#[tokio::test]
async fn roles_see_only_their_sections() {
    let app = app().await;
    let a = app.ente("G479", "G479").await;
    let op = app.account("op.a", Role::Operatore, Some(a)).await;
    app.account("revisore", Role::Auditor, None).await;
    app.account("analista", Role::Analista, None).await;
    app.state
        .db
        .run(move |s| {
            s.log_access(&NewAccess {
                account_id: op,
                username: "op.a",
                ente_id: Some(a),
                subject: "RSSMRA80A01H501U",
                what: "record 1",
                purpose: "Verifica della pratica",
            })?;
            s.log_access(&NewAccess {
                account_id: op,
                username: "op.a",
                ente_id: Some(a),
                subject: "BNCGLI75C41D612Z",
                what: "ricerca",
                purpose: "Controllo",
            })?;
            Ok(())
        })
        .await
        .expect("log");

    let o = app.signed_in("op.a").await;
    for path in [
        "/amministrazione",
        "/amministrazione/utenti",
        "/amministrazione/utenti/nuovo",
        "/amministrazione/enti/nuovo",
        "/registro-accessi",
        "/registro-accessi/eventi",
    ] {
        let (st, page) = app.get(&o, path).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{path}");
        assert!(page.contains("Il proprio profilo non consente questa operazione"));
    }
    let (st, _) = app
        .get(&app.signed_in("analista").await, "/amministrazione")
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    let au = app.signed_in("revisore").await;
    let (st, page) = app.get(&au, "/registro-accessi").await;
    assert_eq!(st, StatusCode::OK);
    assert!(page.contains("Registro degli accessi ai dati personali"));
    assert!(page.contains("RSSMRA80A01H501U") && page.contains("BNCGLI75C41D612Z"));
    assert!(page.contains("Comune G479"));
    let (st, page) = app
        .get(&au, "/registro-accessi?soggetto=rssmra80a01h501u")
        .await;
    assert_eq!(st, StatusCode::OK);
    assert!(page.contains("Verifica della pratica"));
    assert!(!page.contains("BNCGLI75C41D612Z"));
    let (st, page) = app.get(&au, "/registro-accessi/eventi").await;
    assert_eq!(st, StatusCode::OK);
    assert!(page.contains("Registro degli eventi") && page.contains("login"));
    // The auditor manages nothing.
    let (st, _) = app.get(&au, "/amministrazione/utenti").await;
    assert_eq!(st, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn lockout_after_five_wrong_passwords() {
    let app = app().await;
    let a = app.ente("G479", "G479").await;
    app.account("op.a", Role::Operatore, Some(a)).await;
    let c = client();
    for _ in 0..5 {
        let r = app.login_as(&c, "op.a", "Sbagliata-Password-1").await;
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            r.text()
                .await
                .expect("text")
                .contains("Nome utente o password non corretti")
        );
    }
    let r = app.login_as(&c, "op.a", PW).await;
    assert_eq!(r.status(), StatusCode::OK, "the right password is refused");
    let page = r.text().await.expect("text");
    assert!(page.contains("Account temporaneamente bloccato"), "{page}");
    let actions = app.audit_actions().await;
    assert!(actions.iter().any(|a| a == "login.blocco"), "{actions:?}");
    assert!(actions.iter().any(|a| a == "login.bloccato"), "{actions:?}");
    assert!(!actions.iter().any(|a| a == "login"));
}

#[tokio::test]
async fn logout_invalidates_the_session_cookie() {
    let app = app().await;
    app.account("capo", Role::Amministratore, None).await;
    let c = client();
    let r = app.login_as(&c, "capo", PW).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = r
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("casellario="))
        .and_then(|v| v.split(';').next())
        .expect("session cookie")
        .to_string();
    let raw = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = raw
        .get(app.url("/amministrazione"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::OK);

    let (st, _, loc) = app.post(&c, "/logout", &[]).await;
    assert_eq!(st, StatusCode::SEE_OTHER);
    assert_eq!(loc.as_deref(), Some("/login"));
    let r = raw
        .get(app.url("/amministrazione"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).starts_with("/login"), "{}", location(&r));
}

#[tokio::test]
async fn demo_fills_an_empty_database_once() {
    let app = app().await;
    let opts = demo::DemoOptions {
        seed: 7,
        records: 40,
    };
    let d = demo::fill_with(&app.state, opts)
        .await
        .expect("demo")
        .expect("filled");
    assert_eq!(d.enti, 4);
    assert!(d.flows >= 12, "{d:?}");
    assert!(d.records >= 100, "{d:?}");
    assert_eq!(d.accounts.len(), 14);
    let (enti, counts, subs) = app
        .state
        .db
        .run(|s| {
            let enti = s.list_ente_profiles()?;
            let subs: usize = enti
                .iter()
                .map(|e| s.list_transmissions(e.id, 100, 0).map(|t| t.len()))
                .sum::<Result<usize, _>>()?;
            Ok((enti, s.counts()?, subs))
        })
        .await
        .expect("read");
    assert_eq!(enti.len(), 4);
    assert_eq!(counts.flows as usize, d.flows);
    assert!(counts.cancellations >= 2, "{counts:?}");
    assert_eq!(subs, d.flows);

    // Not twice.
    assert!(
        demo::fill_with(&app.state, opts)
            .await
            .expect("again")
            .is_none()
    );
    let again = app.state.db.run(|s| Ok(s.counts()?)).await.expect("counts");
    assert_eq!(again.flows, counts.flows);

    // Demo accounts sign in with the printed password, no change required.
    let c = client();
    let r = app
        .login_as(&c, "operatore1.pesaro", demo::DEMO_PASSWORD)
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/");
    let au = client();
    let r = app.login_as(&au, "auditor", demo::DEMO_PASSWORD).await;
    assert_eq!(location(&r), "/");
    let (st, page) = app.get(&au, "/registro-accessi").await;
    assert_eq!(st, StatusCode::OK);
    assert!(page.contains("operatore1.pesaro"));
}

#[tokio::test]
async fn demo_refuses_a_database_with_enti() {
    let app = app().await;
    app.ente("G479", "G479").await;
    let out = demo::fill_with(
        &app.state,
        demo::DemoOptions {
            seed: 1,
            records: 10,
        },
    )
    .await
    .expect("demo");
    assert!(out.is_none());
    let n = app
        .state
        .db
        .run(|s| Ok(s.account_count()?))
        .await
        .expect("n");
    assert_eq!(n, 0);
}

#[tokio::test]
async fn informazioni_pages_and_downloads() {
    let app = app().await;
    let a = app.ente("G479", "G479").await;
    app.account("op.a", Role::Operatore, Some(a)).await;

    // Static downloads need no session and are byte-identical.
    let anon = client();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for (url, file) in [
        (
            "/informazioni/xsd/PS_PSA_SINA201812.xsd",
            "schemas/PS_PSA_SINA201812.xsd",
        ),
        ("/informazioni/xsd/SINBA.xsd", "schemas/SINBA.xsd"),
        ("/informazioni/tracciato-csv.md", "docs/TRACCIATO_CSV.md"),
    ] {
        let r = anon.get(app.url(url)).send().await.expect("get");
        assert_eq!(r.status(), StatusCode::OK, "{url}");
        let body = r.bytes().await.expect("bytes");
        let want = std::fs::read(root.join(file)).expect("file");
        assert!(body[..] == want[..], "{url} differs from {file}");
    }
    let r = anon
        .get(app.url("/informazioni/xsd/../../Cargo.toml"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = anon
        .get(app.url("/informazioni/xsd/altro.xsd"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // The pages need a session.
    let r = anon
        .get(app.url("/informazioni"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    let o = app.signed_in("op.a").await;
    for (path, needles) in [
        (
            "/informazioni",
            &[
                "Manuale del portale",
                "Come leggere la ricevuta",
                "TipoOperazione",
            ][..],
        ),
        (
            "/informazioni/prestazioni?q=alloggio",
            &["A1.05", "Contributi economici per alloggio"][..],
        ),
        (
            "/informazioni/prestazioni?sezione=A3",
            &["A3.", "Strutture"][..],
        ),
        (
            "/informazioni/tabelle?codice=g479",
            &["Pesaro", "041044", "Marche", "GenereType"][..],
        ),
        ("/informazioni/tabelle?codice=Z404", &["Stati Uniti"][..]),
        (
            "/informazioni/tabelle?codice=QQQQ",
            &["Nessun comune né stato estero"][..],
        ),
        (
            "/informazioni/regole",
            &["XML_MALFORMATO", "REF_PRESTAZIONE"][..],
        ),
        (
            "/informazioni/regole?categoria=xml",
            &["XML_MALFORMATO"][..],
        ),
        (
            "/informazioni/tracciato-csv",
            &[
                "<h1 id=",
                "Tracciato CSV",
                "<table class=\"table table-sm\">",
            ][..],
        ),
    ] {
        let (st, page) = app.get(&o, path).await;
        assert_eq!(st, StatusCode::OK, "{path}");
        for n in needles {
            assert!(page.contains(n), "{path}: {n}");
        }
    }
    let (_, page) = app.get(&o, "/informazioni/prestazioni?q=alloggio").await;
    assert!(!page.contains("A3.01"));
    let (_, page) = app.get(&o, "/informazioni/regole?categoria=xml").await;
    assert!(!page.contains("REF_PRESTAZIONE"));
}
