//! `fakecomune`: a fake comune for manual runs of the WaaS poller.

use casellario_fakecomune::{FakeConfig, start_on};
use clap::Parser;
use std::net::SocketAddr;
use std::time::Instant;

/// Comune finto che espone l'API WaaS ufficiale (GET /flussi, POST /esiti,
/// GET /status sotto /waas/v1) con flussi generati, per provare a mano il
/// poller WaaS del Casellario. Si ferma con Ctrl-C e stampa il riepilogo.
#[derive(Parser, Debug)]
#[command(
    name = "fakecomune",
    version,
    disable_help_flag = true,
    disable_version_flag = true,
    override_usage = "fakecomune [OPZIONI]",
    help_template = "{about}\n\nUso: {usage}\n\nOpzioni:\n{options}\n"
)]
struct Args {
    /// Numero di flussi (un beneficiario, una prestazione) da pubblicare all'avvio.
    #[arg(long, default_value_t = 1000)]
    flows: usize,
    /// Porta su 127.0.0.1 (0 = una porta libera qualsiasi).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Token bearer richiesto a GET /flussi e POST /esiti (senza: nessun controllo).
    #[arg(long)]
    token: Option<String>,
    /// Codice Belfiore del comune (codice_ente).
    #[arg(long, default_value = "H501")]
    ente: String,
    /// Denominazione del comune (denominazione_ente).
    #[arg(long, default_value = "Comune di Roma")]
    denominazione: String,
    /// Seme della generazione (stesso seme, stessi record).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Quanti flussi consecutivi condividono lo stesso millisecondo di ts_flusso.
    #[arg(long, default_value_t = 1)]
    gruppo: usize,
    /// Mostra questo aiuto.
    #[arg(short = 'h', long = "help", action = clap::ArgAction::Help)]
    aiuto: Option<bool>,
    /// Mostra la versione.
    #[arg(short = 'V', long = "version", action = clap::ArgAction::Version)]
    versione: Option<bool>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let cfg = FakeConfig {
        token: args.token.clone(),
        codice_ente: args.ente.clone(),
        denominazione: args.denominazione.clone(),
    };
    let comune = match start_on(cfg, SocketAddr::from(([127, 0, 0, 1], args.port))).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("fakecomune: avvio non riuscito: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let t0 = Instant::now();
    let ids = comune.publish_generated(args.flows, args.seed, args.gruppo);
    println!(
        "Pubblicati {} flussi in {} ms.",
        ids.len(),
        t0.elapsed().as_millis()
    );
    println!(
        "Comune finto {} in ascolto su {}",
        args.ente,
        comune.base_url()
    );
    println!("Ctrl-C per fermarlo.");
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("fakecomune: segnale non disponibile: {e}");
    }
    let s = comune.stats();
    let esiti: usize = s.esiti.values().map(Vec::len).sum();
    println!(
        "Riepilogo: {} richieste GET /flussi, {} flussi serviti ({} distinti su {}), \
         {} richieste POST /esiti, {} esiti ricevuti, {} richieste non valide, {} anomalie.",
        s.flussi_requests,
        s.flows_served,
        s.distinct_served,
        s.published.len(),
        s.esiti_requests,
        esiti,
        s.invalid_requests.len(),
        s.anomalies.len()
    );
    for r in s.invalid_requests.iter().take(10) {
        println!("  non valida: {} {}: {}", r.endpoint, r.status, r.reason);
    }
    for a in s.anomalies.iter().take(10) {
        println!("  anomalia: {a}");
    }
    match s.esiti_exactly_once() {
        Ok(()) => println!("Ogni flusso pubblicato ha ricevuto esattamente un esito."),
        Err(e) => println!("{e}"),
    }
    comune.shutdown().await;
    std::process::ExitCode::SUCCESS
}
