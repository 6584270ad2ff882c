//! `casellario bench --portal`: the portal's speed on a large register.
//!
//! Builds a database holding N records (default 1,000,000: ten flows of an
//! ente plus a few smaller enti), starts `serve` in-process on a free port,
//! signs in as an operator and as the administrator, and times the main
//! pages over HTTP (median and 95th percentile of repeated requests; the
//! target is a median under 50 ms). Then uploads a 100,000-record flow
//! through `POST /flussi` exactly as the browser does (multipart, then
//! following the processing page to the receipt) and compares it with
//! importing the same file with the pipeline directly — the baseline, run
//! in the same invocation.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use casellario_domain::FlowType;
use casellario_domain::access::{EnteKind, Role};
use casellario_ingest::IngestOptions;
use casellario_server::{AppState, Config, auth};
use casellario_store::Store;
use casellario_store::portal::{EnteAttrs, NewAccount, RecordQuery};

use crate::CliError;

const PASSWORD: &str = "Bench-Password-2026";
const ENTE: &str = "G479";
const REQUESTS: usize = 30;

fn gen_flow(path: &Path, records: u64, seed: u64, ente: &str) -> Result<(), CliError> {
    let opts = casellario_gen::GenOptions {
        tipo: FlowType::PsPsaSina,
        records,
        seed,
        error_rate: 0.01,
        ente_codice: Some(ente.into()),
        ente_belfiore: Some(ente.into()),
        ..casellario_gen::GenOptions::default()
    };
    casellario_gen::write_xml(
        &opts,
        BufWriter::with_capacity(1 << 20, File::create(path)?),
    )?;
    Ok(())
}

fn import(store: &mut Store, path: &Path) -> Result<casellario_ingest::FlowReport, CliError> {
    let mut o = IngestOptions::new(crate::today());
    o.source_name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    o.size_hint = Some(std::fs::metadata(path)?.len());
    let r = casellario_ingest::ingest(
        BufReader::with_capacity(1 << 20, File::open(path)?),
        &o,
        Some(store),
        None,
    )?;
    Ok(r.report)
}

fn stats(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let med = v[v.len() / 2];
    let p95 = v[((v.len() as f64 * 0.95).ceil() as usize).min(v.len()) - 1];
    (med, p95)
}

fn field<'a>(html: &'a str, name: &str) -> Option<&'a str> {
    let at = html.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &html[at + name.len() + 15..];
    rest.split('"').next()
}

struct Web {
    base: String,
    client: reqwest::blocking::Client,
}

impl Web {
    fn new(base: &str) -> Result<Web, CliError> {
        let client = reqwest::blocking::Client::builder()
            .cookie_store(true)
            .timeout(Duration::from_secs(600))
            .build()
            .map_err(|e| CliError::Msg(e.to_string()))?;
        Ok(Web {
            base: base.to_string(),
            client,
        })
    }

    fn get(&self, path: &str) -> Result<(u16, String), CliError> {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .map_err(|e| CliError::Msg(format!("GET {path}: {e}")))?;
        let status = r.status().as_u16();
        Ok((status, r.text().unwrap_or_default()))
    }

    fn login(&self, user: &str) -> Result<(), CliError> {
        let (_, page) = self.get("/login")?;
        let csrf = field(&page, "_csrf").unwrap_or_default().to_string();
        let r = self
            .client
            .post(format!("{}/login", self.base))
            .form(&[
                ("_csrf", csrf.as_str()),
                ("username", user),
                ("password", PASSWORD),
                ("next", "/"),
            ])
            .send()
            .map_err(|e| CliError::Msg(e.to_string()))?;
        let body = r.text().unwrap_or_default();
        if !body.contains("Cruscotto") {
            return Err(CliError::Msg(format!("accesso di {user} non riuscito")));
        }
        Ok(())
    }

    /// Median and p95 of `REQUESTS` GETs of `path` (after one warm-up).
    fn time(&self, path: &str) -> Result<(f64, f64, u16), CliError> {
        let (status, _) = self.get(path)?;
        let mut v = Vec::with_capacity(REQUESTS);
        for _ in 0..REQUESTS {
            let t = Instant::now();
            let _ = self.get(path)?;
            v.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let (m, p) = stats(v);
        Ok((m, p, status))
    }

    /// Uploads like the browser's form, then follows the processing page
    /// to the receipt. Returns the receipt page.
    fn upload(&self, path: &Path) -> Result<String, CliError> {
        let (_, page) = self.get("/flussi/nuovo")?;
        let csrf = field(&page, "_csrf").unwrap_or_default().to_string();
        let file = reqwest::blocking::multipart::Part::file(path)
            .map_err(|e| CliError::Msg(e.to_string()))?;
        let form = reqwest::blocking::multipart::Form::new()
            .text("_csrf", csrf)
            .part("file", file);
        let t = Instant::now();
        let mut r = self
            .client
            .post(format!("{}/flussi", self.base))
            .multipart(form)
            .send()
            .map_err(|e| CliError::Msg(e.to_string()))?;
        let sent = t.elapsed().as_secs_f64();
        // The processing page refreshes itself until the receipt is ready.
        for _ in 0..100_000 {
            let url = r.url().path().to_string();
            let body = r.text().unwrap_or_default();
            if !url.starts_with("/flussi/lavorazione/") {
                println!(
                    "  (risposta all'invio dopo {sent:.2} s, ricevuta dopo altri {:.2} s)",
                    t.elapsed().as_secs_f64() - sent
                );
                return Ok(body);
            }
            std::thread::sleep(Duration::from_millis(20));
            r = self
                .client
                .get(format!("{}{url}", self.base))
                .send()
                .map_err(|e| CliError::Msg(e.to_string()))?;
        }
        Err(CliError::Msg(
            "elaborazione del caricamento senza fine".into(),
        ))
    }
}

pub fn run(records: u64, seed: u64) -> Result<u8, CliError> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("portale.db");
    println!("casellario bench --portal — registro di {records} record, pagine via HTTP");
    let t = Instant::now();
    let mut store = Store::open(&db)?;
    // The big ente: ten flows; three small enti beside it.
    let per_flow = (records / 10).max(1);
    let mut loaded = 0;
    let mut i = 0;
    while loaded < records {
        let n = per_flow.min(records - loaded);
        let f = dir.path().join(format!("carico-{i}.xml"));
        gen_flow(&f, n, seed + i, ENTE)?;
        import(&mut store, &f)?;
        std::fs::remove_file(&f)?;
        loaded += n;
        i += 1;
    }
    for (k, ente) in ["A944", "E506", "F205"].iter().enumerate() {
        let f = dir.path().join(format!("piccolo-{ente}.xml"));
        gen_flow(&f, 2000, seed + 100 + k as u64, ente)?;
        import(&mut store, &f)?;
    }
    let ente_id = store
        .ente(ENTE)?
        .map(|e| e.id)
        .ok_or_else(|| CliError::Msg("ente mancante".into()))?;
    store.revise_ente(
        ente_id,
        &EnteAttrs {
            denominazione: "Comune di Pesaro",
            belfiore: ENTE,
            tipo: EnteKind::Comune,
            attivo: true,
        },
        None,
    )?;
    let hash = auth::hash_password(PASSWORD).map_err(|e| CliError::Msg(e.message))?;
    for (u, r, e) in [
        ("operatore", Role::Operatore, Some(ente_id)),
        ("admin", Role::Amministratore, None),
    ] {
        store.create_account(&NewAccount {
            username: u,
            nome: u,
            role: r,
            ente_id: e,
            password_hash: &hash,
            must_change: false,
        })?;
    }
    let counts = store.counts()?;
    // A person, a record and a flow of the big ente to look at.
    let hit = store
        .search_records(ente_id, &RecordQuery::default(), 1, (records / 2) as u32)?
        .into_iter()
        .next()
        .ok_or_else(|| CliError::Msg("nessun record".into()))?;
    let flow_id = hit.flow_id;
    drop(store);
    println!(
        "caricati {} record ({} flussi) in {:.1} s",
        counts.versions,
        counts.flows,
        t.elapsed().as_secs_f64()
    );

    // The baseline imports into a copy of the same register: inserting into
    // a million-record index costs more than into an empty one.
    let base_db = dir.path().join("baseline.db");
    std::fs::copy(&db, &base_db)?;
    let upload_file = dir.path().join("upload-100k.xml");
    gen_flow(&upload_file, 100_000, seed + 1000, ENTE)?;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let cfg = Config {
        db: db.clone(),
        login_per_minute: 1000,
        ..Config::default()
    };
    let state = AppState::new(cfg).map_err(|e| CliError::Msg(e.to_string()))?;
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    rt.spawn(casellario_server::serve_on(listener, state));
    let base = format!("http://{addr}");

    let op = Web::new(&base)?;
    op.login("operatore")?;
    let admin = Web::new(&base)?;
    admin.login("admin")?;
    let cf = hit.subject.clone();
    let pages: Vec<(&str, &Web, String)> = vec![
        ("Cruscotto (ente con 1M record)", &op, "/".into()),
        ("Cruscotto nazionale (INPS)", &admin, "/".into()),
        ("Trasmissione flussi: elenco", &op, "/flussi".into()),
        (
            "Ricevuta di un flusso da 100.000 record",
            &op,
            format!("/flussi/{flow_id}"),
        ),
        (
            "Ricevuta: solo scartati",
            &op,
            format!("/flussi/{flow_id}?esito=scartato"),
        ),
        (
            "Consultazione: ricerca per codice fiscale",
            &op,
            format!("/consultazione?soggetto={cf}"),
        ),
        (
            "Consultazione: ricerca per codice prestazione",
            &op,
            "/consultazione?codice=A1.04".into(),
        ),
        (
            "Consultazione: scheda del record",
            &op,
            format!("/consultazione/record/{}", hit.version_id),
        ),
        (
            "Acquisizione: modulo PS/PSA",
            &op,
            "/acquisizione/ps".into(),
        ),
        (
            "Informazioni: codici prestazione",
            &op,
            "/informazioni/prestazioni".into(),
        ),
        ("Amministrazione: enti", &admin, "/amministrazione".into()),
    ];
    println!();
    println!(
        "{:<48} {:>8} {:>10} {:>10}",
        "pagina", "stato", "mediana", "p95"
    );
    let mut all_ok = true;
    for (label, web, path) in &pages {
        let (med, p95, status) = web.time(path)?;
        let ok = status == 200 && med < 50.0;
        all_ok &= ok;
        println!(
            "{label:<48} {status:>8} {med:>8.1}ms {p95:>8.1}ms{}",
            if ok { "" } else { "  ← NON RAGGIUNTO" }
        );
    }

    // Upload through the portal vs the pipeline directly, same file, same
    // register size.
    let mut bstore = Store::open(&base_db)?;
    let t = Instant::now();
    let rep = import(&mut bstore, &upload_file)?;
    let direct = t.elapsed().as_secs_f64();
    drop(bstore);
    let t = Instant::now();
    let receipt = op.upload(&upload_file)?;
    let via_web = t.elapsed().as_secs_f64();
    let accepted_shown = receipt.contains("Ricevuta") || receipt.contains("ricevuta");
    println!();
    println!(
        "caricamento di 100.000 record nel registro di {} record: import diretto {direct:.2} s ({} accettati); dal portale {via_web:.2} s — {:.2}× il tempo di import{}",
        counts.versions,
        rep.totals.accettati,
        via_web / direct,
        if accepted_shown {
            ""
        } else {
            " (ricevuta non riconosciuta!)"
        }
    );
    all_ok &= accepted_shown && via_web / direct < 1.5;
    println!(
        "pagine sotto 50 ms di mediana e caricamento entro 1,5× l'import: {}",
        if all_ok { "OK" } else { "NON RAGGIUNTO" }
    );
    let _ = std::io::stdout().flush();
    rt.shutdown_timeout(Duration::from_secs(1));
    Ok(if all_ok { 0 } else { 1 })
}
