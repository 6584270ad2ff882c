//! End-to-end tests in a real browser: the server runs in-process on a
//! random port, headless Chromium is driven through ChromeDriver
//! (WebDriver, fantoccini), every main page is checked with axe-core
//! (vendored in `tests/e2e/axe.min.js`, MPL-2.0) and screenshotted into
//! `$CARGO_TARGET_TMPDIR/screenshots/`.
//!
//! Needs `chromium` and `chromedriver` (Debian: `chromium`,
//! `chromium-driver`). Without them the test is skipped loudly, unless
//! `CASELLARIO_REQUIRE_EXTERNAL=1` (CI), where it fails.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use casellario_domain::access::{EnteKind, Role};
use casellario_server::{AppState, Config, auth};
use casellario_store::portal::{EnteAttrs, NewAccount};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

const AXE: &str = include_str!("e2e/axe.min.js");
const PASSWORD: &str = "Prova-Password-2026";

const CF: &str = "RSSMRA80A01H501U";

/// A PS/PSA benefit whose shares sum to 60 + `quota_utente`.
fn ps_fields(quota_utente: &str) -> Value {
    json!({
        "cf_operatore": CF,
        "b_CodiceFiscale": CF,
        "a_Cognome": "Rossi", "a_Nome": "Mario", "a_AnnoNascita": "1980",
        "a_LuogoNascita": "H501", "a_Genere": "1", "a_CodiceCittadinanza": "380",
        "r1_CodiceNazione": "380", "r1_CodiceRegione": "08", "r1_CodiceComune": "058091",
        "p_TipoOperazione": "I", "p_CodicePrestazione": "A1.04",
        "p_DenominazionePrestazione": "Contributo economico",
        "p_ProtocolloDomanda": "PROT-2025-1", "p_CaratterePrestazione": "1",
        "p_PresenzaProvaMezzi": "4", "p_PresaCarico": "2",
        "p_DataInizioPrestazione": "2025-01-01", "p_DataFinePrestazione": "2025-12-31",
        "p_PeriodoErogazione": "12", "p_ImportoMensile": "100,00",
        "p_ImportoQuotaEnte": "60", "p_ImportoQuotaUtente": quota_utente,
    })
}

/// Sets form controls by name as a person would (then fires `change`, so
/// the page's conditional fields react).
async fn fill(c: &Client, fields: &Value) {
    c.execute(
        "for (const [k, v] of Object.entries(arguments[0])) {
             const el = document.getElementsByName(k)[0];
             if (!el) throw new Error('no field ' + k);
             el.value = v;
             el.dispatchEvent(new Event('change', {bubbles: true}));
         }",
        vec![fields.clone()],
    )
    .await
    .expect("fill form");
}

/// Types `text` into the control with id `id`, as a person would.
async fn type_in(c: &Client, id: &str, text: &str) {
    c.find(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("no #{id}: {e}"))
        .send_keys(text)
        .await
        .expect("type");
}

async fn submit(c: &Client, css: &str) {
    let button = c.find(Locator::Css(css)).await.expect("submit button");
    // Long forms: bring the button to the middle of the window first.
    c.execute(
        "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});",
        vec![serde_json::to_value(&button).expect("element")],
    )
    .await
    .expect("scroll");
    button.click().await.expect("click");
}

async fn wait_text(c: &Client, needle: &str) {
    for _ in 0..200 {
        if let Ok(body) = c.source().await
            && body.contains(needle)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "page never showed {needle:?}: {}",
        c.source().await.unwrap_or_default()
    );
}

fn find_program(env: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Ok(p) = std::env::var(env) {
        return Some(PathBuf::from(p));
    }
    candidates.iter().map(PathBuf::from).find(|p| p.exists())
}

fn required() -> bool {
    std::env::var("CASELLARIO_REQUIRE_EXTERNAL").is_ok_and(|v| v == "1")
}

/// Kills ChromeDriver when the test ends, however it ends.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn start_driver(chromedriver: &Path) -> (Driver, u16) {
    let port = free_port();
    let child = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver(child);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (driver, port);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("chromedriver did not start on port {port}");
}

/// The register with two enti, an operator each, and an administrator.
async fn start_server(dir: &Path) -> SocketAddr {
    let cfg = Config {
        db: dir.join("e2e.db"),
        ..Config::default()
    };
    let state = AppState::new(cfg).expect("state");
    let hash = auth::hash_password(PASSWORD).expect("hash");
    state
        .db
        .run(move |s| {
            let attrs = |d: &'static str, b: &'static str| EnteAttrs {
                denominazione: d,
                belfiore: b,
                tipo: EnteKind::Comune,
                attivo: true,
            };
            let a = s.create_ente("G479", &attrs("Comune di Pesaro", "G479"), None)?;
            let b = s.create_ente("A944", &attrs("Comune di Bologna", "A944"), None)?;
            for (u, n, r, e) in [
                ("admin", "Amministratore", Role::Amministratore, None),
                ("op.pesaro", "Maria Bianchi", Role::Operatore, Some(a)),
                ("op.bologna", "Luca Verdi", Role::Operatore, Some(b)),
                ("auditor", "Anna Neri", Role::Auditor, None),
            ] {
                s.create_account(&NewAccount {
                    username: u,
                    nome: n,
                    role: r,
                    ente_id: e,
                    password_hash: &hash,
                    must_change: false,
                })?;
            }
            Ok(())
        })
        .await
        .expect("seed");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(casellario_server::serve_on(listener, state));
    addr
}

async fn browser(driver_port: u16, chromium: &Path, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium.to_string_lossy(),
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1280,1400",
                format!("--user-data-dir={}", profile.display()),
            ]
        }),
    );
    // Two rustls providers are compiled in (see Cargo.toml): name one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    ClientBuilder::rustls()
        .expect("tls")
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await
        .expect("webdriver session")
}

struct Run {
    base: String,
    shots: PathBuf,
    /// (page, serious+critical violations, all violations)
    axe: Vec<(String, usize, usize)>,
}

impl Run {
    /// Screenshot and axe-core check of the page the browser shows.
    async fn check_page(&mut self, c: &Client, name: &str) {
        let png = c.screenshot().await.expect("screenshot");
        std::fs::write(self.shots.join(format!("{name}.png")), png).expect("save screenshot");
        c.execute(AXE, vec![]).await.expect("inject axe");
        let result = c
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']})
                    .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                        nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))))
                    .catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]));",
                vec![],
            )
            .await
            .expect("axe run");
        let violations = result.as_array().cloned().unwrap_or_default();
        let bad: Vec<&Value> = violations
            .iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .collect();
        for v in &violations {
            eprintln!(
                "axe [{name}] {} ({}): {} — {}",
                v["id"], v["impact"], v["help"], v["nodes"]
            );
        }
        self.axe
            .push((name.to_string(), bad.len(), violations.len()));
    }

    async fn goto(&self, c: &Client, path: &str) {
        c.goto(&format!("{}{path}", self.base)).await.expect("goto");
    }
}

async fn login(run: &Run, c: &Client, user: &str) {
    run.goto(c, "/login").await;
    type_in(c, "username", user).await;
    type_in(c, "password", PASSWORD).await;
    c.find(Locator::Css("form[action='/login'] button[type=submit]"))
        .await
        .expect("login button")
        .click()
        .await
        .expect("click");
    c.wait()
        .for_element(Locator::Css("h1"))
        .await
        .expect("page after login");
}

async fn logout(c: &Client) {
    c.find(Locator::Css("form[action='/logout'] button"))
        .await
        .expect("logout button")
        .click()
        .await
        .expect("click");
    c.wait()
        .for_element(Locator::Id("username"))
        .await
        .expect("back to login");
}

async fn text(c: &Client) -> String {
    c.find(Locator::Css("main"))
        .await
        .expect("main")
        .text()
        .await
        .expect("text")
}

#[test]
fn portal_in_a_real_browser() {
    let chromium = find_program(
        "CHROMIUM",
        &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
    );
    let chromedriver = find_program("CHROMEDRIVER", &["/usr/bin/chromedriver"]);
    let (Some(chromium), Some(chromedriver)) = (chromium, chromedriver) else {
        assert!(
            !required(),
            "CASELLARIO_REQUIRE_EXTERNAL=1 but chromium/chromedriver are missing"
        );
        eprintln!(
            "\n!!! SKIPPED portal_in_a_real_browser: chromium or chromedriver not found \
             (apt-get install chromium chromium-driver) !!!\n"
        );
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let dir = tempfile::tempdir().expect("tempdir");
        let addr = start_server(dir.path()).await;
        let (_driver, port) = start_driver(&chromedriver);
        let profile = dir.path().join("chromium-profile");
        let c = browser(port, &chromium, &profile).await;
        let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
        std::fs::create_dir_all(&shots).expect("screenshot dir");
        let mut run = Run {
            base: format!("http://{addr}"),
            shots,
            axe: Vec::new(),
        };

        // Not signed in: every page leads to the login page.
        run.goto(&c, "/").await;
        c.wait()
            .for_element(Locator::Id("username"))
            .await
            .expect("login page");
        run.check_page(&c, "01-accesso").await;

        // A wrong password: the Italian message, no session.
        type_in(&c, "username", "op.pesaro").await;
        type_in(&c, "password", "sbagliata").await;
        c.find(Locator::Css("form[action='/login'] button"))
            .await
            .expect("b")
            .click()
            .await
            .expect("c");
        c.wait()
            .for_element(Locator::Css(".alert-danger"))
            .await
            .expect("error shown");
        assert!(
            text(&c)
                .await
                .contains("Nome utente o password non corretti")
        );

        login(&run, &c, "op.pesaro").await;
        assert!(text(&c).await.contains("Comune di Pesaro"));
        run.check_page(&c, "02-cruscotto-ente").await;

        // Acquisizione: a form with an error, the message by the field, the
        // correction typed in, the receipt.
        run.goto(&c, "/acquisizione").await;
        run.check_page(&c, "03-acquisizione").await;
        run.goto(&c, "/acquisizione/ps").await;
        fill(&c, &ps_fields("30")).await;
        submit(&c, "main form[method=post] button[type=submit]").await;
        let err = c
            .wait()
            .for_element(Locator::Id("p_ImportoQuotaEnte-error"))
            .await
            .expect("error by the field");
        assert!(
            err.text()
                .await
                .expect("text")
                .contains("La somma delle quote")
        );
        assert!(c.find(Locator::Css(".error-summary")).await.is_ok());
        run.check_page(&c, "04-acquisizione-errore").await;
        let quota = c
            .find(Locator::Id("p_ImportoQuotaUtente"))
            .await
            .expect("field");
        quota.clear().await.expect("clear");
        quota.send_keys("40").await.expect("type");
        submit(&c, "main form[method=post] button[type=submit]").await;
        wait_text(&c, "Dati acquisiti").await;
        run.check_page(&c, "05-acquisizione-ricevuta").await;

        // Trasmissione flussi: upload a generated flow with injected errors,
        // follow it to its receipt, keep only the rejected, download the CSV.
        let flow_file = dir.path().join("flusso-con-errori.xml");
        let stats = casellario_gen::write_xml(
            &casellario_gen::GenOptions {
                records: 300,
                seed: 7,
                error_rate: 0.1,
                ente_codice: Some("G479".into()),
                ente_belfiore: Some("G479".into()),
                ..casellario_gen::GenOptions::default()
            },
            std::io::BufWriter::new(std::fs::File::create(&flow_file).expect("create")),
        )
        .expect("generate");
        assert!(stats.injected() > 0);
        run.goto(&c, "/flussi/nuovo").await;
        run.check_page(&c, "08-trasmissione-invio").await;
        type_in(&c, "file-flusso", &flow_file.to_string_lossy()).await;
        submit(&c, "form[data-upload] button[type=submit]").await;
        wait_text(&c, "Scarica la ricevuta CSV").await;
        let receipt_url = c.current_url().await.expect("url");
        assert!(receipt_url.path().starts_with("/flussi/"), "{receipt_url}");
        run.check_page(&c, "09-ricevuta-flusso").await;
        let scartati = format!(">{}</dd>", stats.injected());
        assert!(
            c.source().await.expect("source").contains(&scartati),
            "scartati = injected errors"
        );
        run.goto(&c, &format!("{}?esito=scartato", receipt_url.path()))
            .await;
        run.check_page(&c, "09b-ricevuta-solo-scartati").await;
        let csv = c
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 fetch(arguments[0]).then(r => r.arrayBuffer()).then(b => {
                     const u = new Uint8Array(b);
                     done({bom: u[0] === 0xEF && u[1] === 0xBB && u[2] === 0xBF,
                           head: new TextDecoder().decode(u.slice(3, 200))});
                 }).catch(e => done({error: String(e)}));",
                vec![json!(format!(
                    "{}/ricevuta.csv?esito=scartato",
                    receipt_url.path()
                ))],
            )
            .await
            .expect("download");
        assert_eq!(csv["bom"], json!(true), "{csv}");
        assert!(
            csv["head"]
                .as_str()
                .unwrap_or("")
                .starts_with("\"posizione\";\"esito\";"),
            "{csv}"
        );
        run.goto(&c, "/flussi").await;
        run.check_page(&c, "08b-elenco-flussi").await;

        // Consultazione: search the person, open the record.
        run.goto(&c, "/consultazione").await;
        type_in(&c, "f-soggetto", CF).await;
        submit(&c, "form[role=search] button[type=submit]").await;
        let link = c
            .wait()
            .for_element(Locator::Css("a[href^='/consultazione/record/']"))
            .await
            .expect("a result");
        run.check_page(&c, "06-consultazione-ricerca").await;
        let record_path = link.attr("href").await.expect("attr").expect("href");
        link.click().await.expect("open record");
        wait_text(&c, "Rossi").await;
        run.check_page(&c, "07-scheda-record").await;

        for (path, name) in [
            ("/informazioni", "10-informazioni"),
            ("/informazioni/prestazioni", "13-codici-prestazione"),
            ("/informazioni/tabelle", "14-tabelle"),
            ("/informazioni/regole", "15-regole"),
            ("/informazioni/tracciato-csv", "16-tracciato-csv"),
        ] {
            run.goto(&c, path).await;
            run.check_page(&c, name).await;
        }

        run.goto(&c, "/password").await;
        run.check_page(&c, "11-cambia-password").await;

        logout(&c).await;

        // Another ente's operator cannot reach the record, even knowing its address.
        login(&run, &c, "op.bologna").await;
        run.goto(&c, &record_path).await;
        wait_text(&c, "NON_TROVATO").await;
        assert!(!text(&c).await.contains("Rossi"));
        run.check_page(&c, "12-record-di-altro-ente").await;
        run.goto(&c, &format!("/consultazione?soggetto={CF}")).await;
        assert!(!text(&c).await.contains("/consultazione/record/"));
        run.goto(&c, receipt_url.path()).await;
        wait_text(&c, "NON_TROVATO").await;
        run.goto(&c, "/").await;
        logout(&c).await;

        login(&run, &c, "admin").await;
        assert!(text(&c).await.contains("Cruscotto nazionale"));
        run.check_page(&c, "20-cruscotto-inps").await;
        for (path, name) in [
            ("/amministrazione", "21-amministrazione-enti"),
            ("/amministrazione/enti/1", "22-amministrazione-ente"),
            (
                "/amministrazione/enti/nuovo",
                "23-amministrazione-nuovo-ente",
            ),
            ("/amministrazione/utenti", "24-amministrazione-utenti"),
            (
                "/amministrazione/utenti/nuovo",
                "25-amministrazione-nuovo-utente",
            ),
        ] {
            run.goto(&c, path).await;
            run.check_page(&c, name).await;
        }

        // Credenziali API: issued in the browser, the secret shown once,
        // and the pair really obtains a token from the API.
        run.goto(&c, "/amministrazione/enti/1/credenziali").await;
        run.check_page(&c, "26-credenziali-api").await;
        type_in(&c, "etichetta", "Cartella sociale Pesaro").await;
        submit(&c, "form[action$='/credenziali'] button[type=submit]").await;
        wait_text(&c, "Copiare ora il segreto").await;
        run.check_page(&c, "27-credenziale-rilasciata").await;
        let shown = |id: &'static str| {
            let c = c.clone();
            async move {
                c.find(Locator::Id(id))
                    .await
                    .expect(id)
                    .text()
                    .await
                    .expect("text")
                    .trim()
                    .to_string()
            }
        };
        let (client_id, secret) = (shown("client-id").await, shown("client-secret").await);
        let token = reqwest::Client::new()
            .post(format!("{}/api/v1/token", run.base))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id.as_str()),
                ("client_secret", secret.as_str()),
            ])
            .send()
            .await
            .expect("token request");
        assert_eq!(token.status(), reqwest::StatusCode::OK);

        // WaaS: a comune's endpoint registered in the browser and polled
        // with "Esegui ora"; its flows and outcomes are on the page.
        let comune = casellario_fakecomune::start(casellario_fakecomune::FakeConfig::new(
            "G479",
            "Comune di Pesaro",
        ))
        .await
        .expect("fake comune");
        let published = comune.publish_generated(12, 3, 2);
        run.goto(&c, "/amministrazione/waas").await;
        run.check_page(&c, "28-waas").await;
        run.goto(&c, "/amministrazione/waas/1").await;
        type_in(&c, "url", &comune.base_url()).await;
        let every = c.find(Locator::Id("intervallo")).await.expect("interval");
        every.clear().await.expect("clear");
        every.send_keys("3600").await.expect("type");
        c.find(Locator::Id("cred-nessuna"))
            .await
            .expect("no credential")
            .click()
            .await
            .expect("choose");
        submit(
            &c,
            "form[action='/amministrazione/waas/1'] button[type=submit]",
        )
        .await;
        wait_text(&c, "Esegui ora").await;
        // The scheduler may have started the first poll already: then the
        // button is disabled and that poll does the work.
        submit(&c, "form[action$='/esegui'] button[type=submit]").await;
        assert!(
            comune
                .wait_esiti(published.len(), Duration::from_secs(60))
                .await,
            "the comune never received its outcomes"
        );
        comune.esiti_exactly_once().expect("one outcome per flow");
        run.goto(&c, "/amministrazione/waas/1").await;
        let page = text(&c).await;
        for id in &published {
            assert!(page.contains(id.as_str()), "{id} not on the page");
        }
        run.check_page(&c, "29-waas-ente").await;
        comune.shutdown().await;
        logout(&c).await;

        // The auditor reads who read whose data.
        login(&run, &c, "auditor").await;
        run.goto(&c, "/registro-accessi").await;
        assert!(
            text(&c).await.contains(CF),
            "the record read is in the access log"
        );
        run.check_page(&c, "30-registro-accessi").await;
        run.goto(&c, "/registro-accessi/eventi").await;
        run.check_page(&c, "31-registro-eventi").await;
        logout(&c).await;

        c.close().await.expect("close browser");

        eprintln!("\naxe-core (WCAG 2.1 A/AA + best practice), per page:");
        for (page, bad, all) in &run.axe {
            eprintln!("  {page:<28} serious/critical: {bad}  all: {all}");
        }
        eprintln!("screenshots in {}", run.shots.display());
        let failing: Vec<_> = run.axe.iter().filter(|(_, bad, _)| *bad > 0).collect();
        assert!(
            failing.is_empty(),
            "serious or critical accessibility violations: {failing:?}"
        );
    });
}
