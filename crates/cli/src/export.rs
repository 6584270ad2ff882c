//! Glue for `export` and `gen --format csv`.

use casellario_formats::csv::CsvFlowWriter;
use casellario_gen::{GenItem, GenOptions, GenStats, Generator};
pub use casellario_ingest::export::{ExportOptions, export as export_impl};
use std::io::{self, Write};

pub fn export(
    store: &casellario_store::Store,
    opts: &ExportOptions,
    out: Box<dyn Write>,
) -> Result<u64, crate::CliError> {
    export_impl(store, opts, out).map_err(|e| crate::CliError::Msg(e.to_string()))
}

/// Generates a flow as CSV.
pub fn gen_csv(opts: &GenOptions, out: Box<dyn Write>) -> io::Result<GenStats> {
    let generator = Generator::new(opts);
    let header = generator.header();
    let mut w = CsvFlowWriter::new(out, opts.tipo, &header)?;
    let mut generator = generator;
    for item in generator.by_ref() {
        match item {
            GenItem::Beneficiario {
                beneficiario,
                prestazioni,
            } => {
                w.write_beneficiario(&beneficiario, &prestazioni.iter().collect::<Vec<_>>())?;
            }
            GenItem::Sinba(s) => w.write_sinba(&s)?,
        }
    }
    w.finish()?.flush()?;
    Ok(generator.stats().clone())
}
