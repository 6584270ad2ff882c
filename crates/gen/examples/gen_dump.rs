//! Writes a flow to stdout: `gen_dump <PS|SINBA> <records> <seed> [error_rate]`.

use casellario_domain::FlowType;
use casellario_gen::{GenOptions, write_xml};

fn main() -> std::io::Result<()> {
    let a: Vec<String> = std::env::args().collect();
    let tipo = if a.get(1).map(String::as_str) == Some("SINBA") {
        FlowType::Sinba
    } else {
        FlowType::PsPsaSina
    };
    let records = a.get(2).and_then(|s| s.parse().ok()).unwrap_or(10);
    let seed = a.get(3).and_then(|s| s.parse().ok()).unwrap_or(1);
    let error_rate = a.get(4).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    let stats = write_xml(
        &GenOptions {
            error_rate,
            ..GenOptions::new(tipo, records, seed)
        },
        std::io::stdout().lock(),
    )?;
    eprintln!("{stats:?}");
    Ok(())
}
