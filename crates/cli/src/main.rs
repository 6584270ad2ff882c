//! `casellario`: the command-line shell over the register. Thin by design:
//! parsing arguments, opening files and the store, printing receipts. All
//! the work is in the library crates.

// Records are allocated by the parser thread and freed by the others: glibc's
// malloc serialises those cross-thread frees on arena locks, mimalloc does not.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod bench;
mod bench_portal;
mod export;

use casellario_domain::{Channel, Date, FlowType, Profile};
use casellario_ingest::{IngestOptions, InputFormat, Progress};
use casellario_store::Store;
use clap::{Parser, Subcommand, ValueEnum};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "casellario",
    version,
    about = "Casellario dell'assistenza (SIUSS): registro delle prestazioni sociali"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum ProfileArg {
    Strict,
    Compat,
}

#[derive(Clone, Copy, ValueEnum)]
enum ChannelArg {
    Upload,
    Coop,
    Waas,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum ReceiptFormat {
    Json,
    Text,
}

#[derive(Clone, Copy, ValueEnum)]
enum InputArg {
    Auto,
    Xml,
    Csv,
}

#[derive(Clone, Copy, ValueEnum)]
enum TipoArg {
    Ps,
    Sinba,
}

impl TipoArg {
    fn flow_type(self) -> FlowType {
        match self {
            TipoArg::Ps => FlowType::PsPsaSina,
            TipoArg::Sinba => FlowType::Sinba,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum FileFormat {
    Xml,
    Csv,
}

#[derive(clap::Args)]
struct FlowArgs {
    /// Flow file (XML per the INPS XSDs, or CSV per docs/TRACCIATO_CSV.md).
    file: PathBuf,
    /// Validation profile.
    #[arg(long, value_enum, default_value = "strict")]
    profile: ProfileArg,
    /// Channel the flow is treated as coming through.
    #[arg(long, value_enum, default_value = "upload")]
    channel: ChannelArg,
    /// Receipt format on standard output.
    #[arg(long, value_enum, default_value = "text")]
    format: ReceiptFormat,
    /// Input format (detected by default).
    #[arg(long = "input-format", value_enum, default_value = "auto")]
    input_format: InputArg,
    /// Force the flow type instead of detecting it.
    #[arg(long, value_enum)]
    tipo: Option<TipoArg>,
}

#[derive(Subcommand)]
enum Command {
    /// Validates a flow without storing anything (what an ente can run before sending).
    Validate(FlowArgs),
    /// Imports a flow into the register (registers its ente when unknown).
    Import {
        #[command(flatten)]
        flow: FlowArgs,
        /// Database file.
        #[arg(long, env = "CASELLARIO_DB", default_value = "casellario.db")]
        db: PathBuf,
    },
    /// Exports the current view of an ente as an XSD-valid flow (XML) or CSV.
    Export {
        /// Ente code (Ente/@Codice).
        #[arg(long)]
        ente: String,
        #[arg(long, value_enum, default_value = "ps")]
        tipo: TipoArg,
        #[arg(long, value_enum, default_value = "xml")]
        format: FileFormat,
        /// Output file (standard output when absent).
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Flow name (default: {ente}.{PS|SINBA}.{today}.{progressive}).
        #[arg(long)]
        nome: Option<String>,
        /// CFOperatore of the exported flow (default: the operator of the ente's latest flow).
        #[arg(long = "cf-operatore")]
        cf_operatore: Option<String>,
        #[arg(long, env = "CASELLARIO_DB", default_value = "casellario.db")]
        db: PathBuf,
    },
    /// Generates a synthetic, realistic flow.
    Gen {
        /// Number of records (PrestazioniSociali or SINBA elements).
        #[arg(long, short = 'n', default_value_t = 1000)]
        records: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, value_enum, default_value = "ps")]
        tipo: TipoArg,
        /// Fraction of records with one injected error (0.0–1.0).
        #[arg(long = "errori", default_value_t = 0.0)]
        error_rate: f64,
        /// Ente code (default: a real comune's Belfiore code chosen by the seed).
        #[arg(long)]
        ente: Option<String>,
        #[arg(long, value_enum, default_value = "xml")]
        format: FileFormat,
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Starts the portal: opens or creates the database, creates the first
    /// administrator, listens on 127.0.0.1:8080 (see casellario.toml).
    Serve {
        /// Configuration file (TOML; default: ./casellario.toml when present).
        #[arg(long, env = "CASELLARIO_CONFIG")]
        config: Option<PathBuf>,
        /// Database file (overrides the configuration).
        #[arg(long)]
        db: Option<PathBuf>,
        /// Address to listen on (overrides the configuration).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Fills an empty database with demo enti, accounts and flows
        /// (does nothing on a database that already has enti or flows).
        #[arg(long)]
        demo: bool,
    },
    /// Prints the rules catalogue (Markdown), as shipped in docs/REGOLE.md.
    Regole,
    /// WaaS: the comuni the register polls (DOMAIN.md §2.5).
    Waas {
        #[command(subcommand)]
        cmd: WaasCmd,
    },
    /// Credentials of the cooperation API.
    Client {
        #[command(subcommand)]
        cmd: ClientCmd,
    },
    /// Benchmark: xmllint's streaming XSD validation vs validate and import, on a generated flow.
    Bench {
        #[arg(long, default_value_t = 100_000)]
        records: u64,
        /// Runs per command (the median is reported).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Benchmark the portal instead: page times on a register of
        /// `--records` records, and an upload through the web vs import.
        #[arg(long)]
        portal: bool,
    },
}

#[derive(Subcommand)]
enum WaasCmd {
    /// Polls one ente now: GET /flussi until an empty page, every flow through
    /// the pipeline, then POST /esiti. Exit status 1 when the run met a fault.
    Poll {
        /// Ente code (Belfiore code of the comune).
        #[arg(long)]
        ente: String,
        /// Configuration file (timeouts, page limit, profile).
        #[arg(long, env = "CASELLARIO_CONFIG")]
        config: Option<PathBuf>,
        /// Database file (overrides the configuration).
        #[arg(long)]
        db: Option<PathBuf>,
    },
    /// Registers or changes the WaaS endpoint of an ente (a new revision).
    /// An unknown ente with a Belfiore code is registered as a comune.
    Endpoint {
        #[arg(long)]
        ente: String,
        /// Base URL of the comune's API, e.g. https://host/waas/v1.
        #[arg(long)]
        url: String,
        /// Name of the environment variable holding the bearer token.
        #[arg(long = "token-env", conflicts_with = "token")]
        token_env: Option<String>,
        /// The bearer token itself (stored in the register).
        #[arg(long)]
        token: Option<String>,
        /// Polling interval in seconds.
        #[arg(long, default_value_t = 300)]
        intervallo: u32,
        /// Register the endpoint disabled (not polled).
        #[arg(long)]
        disattivo: bool,
        #[arg(long, env = "CASELLARIO_DB", default_value = "casellario.db")]
        db: PathBuf,
    },
}

#[derive(Subcommand)]
enum ClientCmd {
    /// Issues a client of an ente's software: prints client_id and secret
    /// (shown once: only the secret's SHA-256 is stored).
    Crea {
        /// Ente code (Ente/@Codice); the ente must be registered.
        #[arg(long)]
        ente: String,
        /// Scope granted (repeatable; default: all of flussi:invio,
        /// ricevute:lettura, record:lettura).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// A name to recognise the client by.
        #[arg(long, default_value = "creata da riga di comando")]
        label: String,
        #[arg(long, env = "CASELLARIO_DB", default_value = "casellario.db")]
        db: PathBuf,
    },
}

fn main() -> ExitCode {
    let serving = std::env::args().nth(1).as_deref() == Some("serve");
    // A server logs its requests; the other commands only their warnings.
    let default_filter = if serving {
        "info,tower_http=info"
    } else {
        "warn"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(io::stderr)
        .init();
    let cli = Cli::parse();
    let code = match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("errore: {e}");
            2
        }
    };
    if std::env::var_os(bench::PEAK_ENV).is_some() {
        bench::report_peak_rss();
    }
    ExitCode::from(code)
}

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("{0}")]
    Store(#[from] casellario_store::StoreError),
    #[error("{0}")]
    Ingest(#[from] casellario_ingest::IngestError),
    #[error("{0}")]
    Msg(String),
}

fn today() -> Date {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Date::from_days((secs / 86_400) as i64)
}

fn run(cli: Cli) -> Result<u8, CliError> {
    match cli.command {
        Command::Validate(f) => process(&f, None),
        Command::Import { flow, db } => {
            let mut store = open_store(&db)?;
            process(&flow, Some(&mut store))
        }
        Command::Export {
            ente,
            tipo,
            format,
            output,
            nome,
            cf_operatore,
            db,
        } => {
            let store = open_store(&db)?;
            let out: Box<dyn Write> = match &output {
                Some(p) => Box::new(BufWriter::new(File::create(p)?)),
                None => Box::new(BufWriter::new(io::stdout().lock())),
            };
            let n = export::export(
                &store,
                &export::ExportOptions {
                    ente,
                    tipo: tipo.flow_type(),
                    csv: matches!(format, FileFormat::Csv),
                    nome,
                    cf_operatore,
                    today: today(),
                },
                out,
            )?;
            eprintln!("{n} record esportati");
            Ok(0)
        }
        Command::Gen {
            records,
            seed,
            tipo,
            error_rate,
            ente,
            format,
            output,
        } => {
            let opts = casellario_gen::GenOptions {
                tipo: tipo.flow_type(),
                records,
                seed,
                error_rate,
                ente_codice: ente,
                ..casellario_gen::GenOptions::default()
            };
            let out: Box<dyn Write> = match &output {
                Some(p) => Box::new(BufWriter::with_capacity(1 << 20, File::create(p)?)),
                None => Box::new(BufWriter::with_capacity(1 << 20, io::stdout().lock())),
            };
            let stats = match format {
                FileFormat::Xml => casellario_gen::write_xml(&opts, out)?,
                FileFormat::Csv => export::gen_csv(&opts, out)?,
            };
            let errs: Vec<String> = stats
                .errors
                .iter()
                .map(|(k, n)| format!("{}={n}", k.code()))
                .collect();
            eprintln!(
                "{} record generati ({} beneficiari), {} con errori iniettati{}",
                stats.records,
                stats.beneficiaries,
                stats.injected(),
                if errs.is_empty() {
                    String::new()
                } else {
                    format!(": {}", errs.join(", "))
                }
            );
            Ok(0)
        }
        Command::Bench {
            records,
            seed,
            portal: true,
            ..
        } => bench_portal::run(records, seed),
        Command::Bench {
            records,
            runs,
            seed,
            portal: false,
        } => bench::run(records, runs, seed),
        Command::Serve {
            config,
            db,
            listen,
            demo,
        } => serve(config, db, listen, demo),
        Command::Regole => {
            print!("{}", casellario_domain::rules::catalogue_markdown());
            Ok(0)
        }
        Command::Waas {
            cmd: WaasCmd::Poll { ente, config, db },
        } => waas_poll(&ente, config, db),
        Command::Waas {
            cmd:
                WaasCmd::Endpoint {
                    ente,
                    url,
                    token_env,
                    token,
                    intervallo,
                    disattivo,
                    db,
                },
        } => {
            use casellario_store::waas::{Credential, EndpointAttrs};
            let credential = match (token_env, token) {
                (Some(v), _) => Credential::Env(v),
                (None, Some(t)) => Credential::Token(t),
                (None, None) => Credential::None,
            };
            let parsed = reqwest::Url::parse(&url)
                .map_err(|e| CliError::Msg(format!("--url non valido: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(CliError::Msg("--url deve essere http o https".into()));
            }
            if intervallo == 0 {
                return Err(CliError::Msg("--intervallo deve essere > 0".into()));
            }
            let mut store = open_store(&db)?;
            let ente_id = match store.ente_profile_by_codice(&ente)? {
                Some(e) => e.id,
                None => {
                    let Some(c) = casellario_domain::reference::comune_by_belfiore(&ente) else {
                        return Err(CliError::Msg(format!(
                            "ente {ente} sconosciuto e non è il codice Belfiore di un comune: registrarlo dal portale"
                        )));
                    };
                    let den = format!("Comune di {}", c.name);
                    store.create_ente(
                        &ente,
                        &casellario_store::portal::EnteAttrs {
                            denominazione: &den,
                            belfiore: &ente,
                            tipo: casellario_domain::access::EnteKind::Comune,
                            attivo: true,
                        },
                        None,
                    )?
                }
            };
            let kind = credential.kind();
            store.set_waas_endpoint(
                ente_id,
                &EndpointAttrs {
                    base_url: url.trim_end_matches('/'),
                    credential,
                    interval_secs: intervallo,
                    enabled: !disattivo,
                },
                None,
            )?;
            let detail = serde_json::json!({
                "url": url, "credenziale": kind, "intervallo_secondi": intervallo,
                "attivo": !disattivo, "origine": "riga di comando",
            });
            store.audit(&casellario_store::portal::NewAuditEvent {
                account_id: None,
                username: None,
                action: "waas.endpoint",
                ente_id: Some(ente_id),
                detail: &detail.to_string(),
                ip: None,
            })?;
            eprintln!(
                "Endpoint WaaS dell'ente {ente} registrato: {url} (credenziale: {kind}, ogni {intervallo} s{})",
                if disattivo { ", disattivato" } else { "" }
            );
            Ok(0)
        }
        Command::Client {
            cmd:
                ClientCmd::Crea {
                    ente,
                    scopes,
                    label,
                    db,
                },
        } => client_create(&db, &ente, &scopes, &label),
    }
}

fn client_create(db: &Path, ente: &str, scopes: &[String], label: &str) -> Result<u8, CliError> {
    use casellario_server::api::auth::{SCOPES, new_credentials, secret_hash};
    let mut chosen: Vec<&str> = Vec::new();
    for s in scopes {
        let Some(known) = SCOPES.iter().find(|k| **k == s.as_str()) else {
            return Err(CliError::Msg(format!(
                "ambito {s:?} sconosciuto: ammessi {}",
                SCOPES.join(", ")
            )));
        };
        if !chosen.contains(known) {
            chosen.push(known);
        }
    }
    if chosen.is_empty() {
        chosen = SCOPES.to_vec();
    }
    let label = label.trim();
    if label.is_empty() || label.chars().count() > 80 {
        return Err(CliError::Msg(
            "l'etichetta deve avere da 1 a 80 caratteri".into(),
        ));
    }
    let mut store = open_store(db)?;
    let profile = store.ente_profile_by_codice(ente)?.ok_or_else(|| {
        CliError::Msg(format!(
            "ente {ente:?} non registrato: crearlo nel portale (Amministrazione) o importarne un flusso"
        ))
    })?;
    let (client_id, secret) = new_credentials();
    store.create_api_client(&casellario_store::api::NewApiClient {
        client_id: &client_id,
        ente_id: profile.id,
        secret_hash: &secret_hash(&secret),
        scopes: &chosen,
        label,
        created_by: None,
    })?;
    let detail = serde_json::json!({"client_id": client_id, "etichetta": label, "ambiti": chosen});
    store.audit(&casellario_store::portal::NewAuditEvent {
        account_id: None,
        username: Some("riga di comando"),
        action: "api.credenziale.rilascio",
        ente_id: Some(profile.id),
        detail: &detail.to_string(),
        ip: None,
    })?;
    println!("client_id: {client_id}");
    println!("client_secret: {secret}");
    println!("scope: {}", chosen.join(" "));
    eprintln!("Conservare il segreto: non sarà più mostrato.");
    Ok(0)
}

fn waas_poll(ente: &str, config: Option<PathBuf>, db: Option<PathBuf>) -> Result<u8, CliError> {
    let mut cfg = casellario_server::Config::load(config.as_deref())
        .map_err(|e| CliError::Msg(e.to_string()))?;
    if let Some(db) = db {
        cfg.db = db;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let state =
            casellario_server::AppState::new(cfg).map_err(|e| CliError::Msg(e.to_string()))?;
        let s = casellario_server::waas::poll_ente(
            &state,
            ente,
            casellario_store::waas::PollTrigger::Cli,
        )
        .await
        .map_err(|e| CliError::Msg(format!("{} {e}", e.code())))?;
        let esiti: Vec<String> = s.by_esito.iter().map(|(k, n)| format!("{k} {n}")).collect();
        println!(
            "Poll WaaS dell'ente {}: {} pagine, {} flussi nuovi{}, {} già acquisiti; esiti consegnati {}, in attesa {}; cursore {}; {:.1} s",
            s.ente_codice,
            s.pages,
            s.new_flows,
            if esiti.is_empty() { String::new() } else { format!(" ({})", esiti.join(", ")) },
            s.duplicates,
            s.esiti_delivered,
            s.esiti_pending,
            casellario_server::waas::rfc3339_ms(s.cursor_ms),
            s.elapsed.as_secs_f64()
        );
        for a in &s.anomalies {
            println!("Anomalia {}: {}", a.codice, a.messaggio);
        }
        if let Some(f) = &s.esiti_fault {
            println!("Consegna degli esiti non riuscita ({}): {}; verrà ritentata", f.code, f.message);
        }
        match &s.fault {
            Some(f) => {
                println!("Guasto {}: {}", f.code, f.message);
                Ok(1)
            }
            None => Ok(0),
        }
    })
}

fn serve(
    config: Option<PathBuf>,
    db: Option<PathBuf>,
    listen: Option<std::net::SocketAddr>,
    demo: bool,
) -> Result<u8, CliError> {
    let mut cfg = casellario_server::Config::load(config.as_deref())
        .map_err(|e| CliError::Msg(e.to_string()))?;
    if let Some(db) = db {
        cfg.db = db;
    }
    if let Some(l) = listen {
        cfg.listen = l;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let state =
            casellario_server::AppState::new(cfg).map_err(|e| CliError::Msg(e.to_string()))?;
        let admin_pw = std::env::var("CASELLARIO_ADMIN_PASSWORD").ok();
        match casellario_server::bootstrap_admin(&state, admin_pw).await {
            Ok(Some(pw)) => {
                // Printed once, on the terminal that started the server.
                eprintln!("Creato l'amministratore iniziale.");
                eprintln!("  utente:   admin");
                eprintln!("  password: {pw}");
                eprintln!("  (da cambiare al primo accesso; non verrà mostrata di nuovo)");
            }
            Ok(None) => {}
            Err(e) => return Err(CliError::Msg(e.message)),
        }
        if demo {
            let started = std::time::Instant::now();
            match casellario_server::demo::fill(&state).await {
                Ok(Some(d)) => {
                    eprintln!(
                        "Dati dimostrativi caricati in {:.1} s: {} enti, {} flussi, {} record ({} scartati).",
                        started.elapsed().as_secs_f64(),
                        d.enti,
                        d.flows,
                        d.records,
                        d.scartati
                    );
                    eprintln!("Utenti dimostrativi (password per tutti: {}):", d.password);
                    for a in &d.accounts {
                        eprintln!(
                            "  {:<22} {:<16} {}{}",
                            a.username,
                            a.role.label(),
                            a.nome,
                            a.ente.as_deref().map(|e| format!(" — {e}")).unwrap_or_default()
                        );
                    }
                }
                Ok(None) => eprintln!(
                    "--demo: il database contiene già enti o flussi, dati dimostrativi non caricati."
                ),
                Err(e) => return Err(CliError::Msg(e.message)),
            }
        }
        eprintln!(
            "Casellario in ascolto su http://{} (database {})",
            state.cfg.listen,
            state.db.path().display()
        );
        casellario_server::serve(state)
            .await
            .map_err(|e| CliError::Msg(e.to_string()))?;
        Ok(0)
    })
}

fn open_store(db: &Path) -> Result<Store, CliError> {
    Store::open(db).map_err(CliError::from)
}

fn process(f: &FlowArgs, store: Option<&mut Store>) -> Result<u8, CliError> {
    let mut opts = IngestOptions::new(today());
    opts.profile = match f.profile {
        ProfileArg::Strict => Profile::Strict,
        ProfileArg::Compat => Profile::Compat,
    };
    opts.channel = match f.channel {
        ChannelArg::Upload => Channel::Upload,
        ChannelArg::Coop => Channel::Coop,
        ChannelArg::Waas => Channel::Waas,
    };
    opts.format = match f.input_format {
        InputArg::Auto => InputFormat::Auto,
        InputArg::Xml => InputFormat::Xml,
        InputArg::Csv => InputFormat::Csv,
    };
    opts.expected = f.tipo.map(TipoArg::flow_type);
    opts.source_name = f.file.file_name().map(|n| n.to_string_lossy().into_owned());
    let file = File::open(&f.file)
        .map_err(|e| CliError::Msg(format!("impossibile aprire {}: {e}", f.file.display())))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    opts.size_hint = Some(size);
    let progress = Progress::default();
    let bar = progress_bar(size, &progress);
    let result = casellario_ingest::ingest(file, &opts, store, Some(&progress));
    if let Some((bar, stop, handle)) = bar {
        stop.store(true, Ordering::Relaxed);
        let _ = handle.join();
        bar.finish_and_clear();
    }
    let mut ing = result?;
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match f.format {
        ReceiptFormat::Json => casellario_ingest::receipt::write_json(&mut ing, &mut out)?,
        ReceiptFormat::Text => casellario_ingest::receipt::write_text(&mut ing, &mut out)?,
    }
    out.flush()?;
    Ok(u8::try_from(ing.report.exit_code()).unwrap_or(2))
}

type Ticker = (
    indicatif::ProgressBar,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    std::thread::JoinHandle<()>,
);

/// A progress bar on standard error, only when it is a terminal.
fn progress_bar(size: u64, p: &Progress) -> Option<Ticker> {
    use std::io::IsTerminal;
    if !io::stderr().is_terminal() || size < 4 << 20 {
        return None;
    }
    let bar = indicatif::ProgressBar::new(size);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg} ({eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (b, s, p) = (bar.clone(), stop.clone(), p.clone());
    let handle = std::thread::spawn(move || {
        while !s.load(Ordering::Relaxed) {
            b.set_position(p.bytes.load(Ordering::Relaxed));
            b.set_message(format!("{} record", p.records.load(Ordering::Relaxed)));
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    Some((bar, stop, handle))
}
