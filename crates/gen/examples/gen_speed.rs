//! Generation + XML writing speed: `cargo run --release -p casellario-gen --example gen_speed [records]`.

use casellario_domain::FlowType;
use casellario_formats::xml::XmlFlowWriter;
use casellario_gen::{GenItem, GenOptions, Generator, write_xml};
use std::io;
use std::time::Instant;

fn main() -> io::Result<()> {
    let records: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000);
    for tipo in [FlowType::PsPsaSina, FlowType::Sinba] {
        let opts = GenOptions {
            error_rate: 0.01,
            ..GenOptions::new(tipo, records, 42)
        };
        // Generation alone (reference tables are loaded by the first run).
        let t = Instant::now();
        let items = Generator::new(&opts).count();
        let s = t.elapsed().as_secs_f64();
        println!(
            "{}: generation only, {items} items in {s:.3} s = {:.0} records/s",
            tipo.wire(),
            records as f64 / s
        );
        let mut sink = Counter(0);
        let t = Instant::now();
        let stats = write_xml(&opts, &mut sink)?;
        let s = t.elapsed().as_secs_f64();
        println!(
            "{}: {} records ({} beneficiari) in {:.3} s = {:.0} records/s, {:.1} MB XML",
            tipo.wire(),
            stats.records,
            stats.beneficiaries,
            s,
            stats.records as f64 / s,
            sink.0 as f64 / 1e6
        );
    }
    // The XML writer alone, on items generated beforehand (fewer, to bound memory).
    let opts = GenOptions::new(FlowType::PsPsaSina, (records / 4).min(50_000), 43);
    let g = Generator::new(&opts);
    let header = g.header();
    let items: Vec<GenItem> = g.collect();
    let t = Instant::now();
    let mut w = XmlFlowWriter::new(io::BufWriter::new(Counter(0)), opts.tipo, &header)?;
    for item in &items {
        if let GenItem::Beneficiario {
            beneficiario,
            prestazioni,
        } = item
        {
            let refs: Vec<_> = prestazioni.iter().collect();
            w.write_beneficiario(beneficiario, &refs)?;
        }
    }
    w.finish()?;
    let s = t.elapsed().as_secs_f64();
    println!(
        "PS_PSA_SINA: XML writer only, {:.0} records/s",
        opts.records as f64 / s
    );
    Ok(())
}

/// A sink that only counts bytes, so the figure is generation + writing.
struct Counter(u64);

impl io::Write for Counter {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0 += b.len() as u64;
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
