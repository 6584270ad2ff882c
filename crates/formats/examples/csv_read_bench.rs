//! Reading speed of the CSV reader: builds an in-memory PS flow of N rows
//! (two benefits per beneficiary, SINA on one of them) with the writer, then
//! times `CsvFlowReader` over it.
//!
//! `cargo run --release -p casellario-formats --example csv_read_bench -- 500000 [salva.csv]`,
//! or `… -- file.csv` to time an existing file.

use casellario_domain::FlowType;
use casellario_domain::model::{
    Beneficiario, IdentificazioneFlusso, PrestazioniSociali, Sina, XsdElement,
};
use casellario_formats::csv::{CsvFlowReader, CsvFlowWriter};
use casellario_formats::{FlowItem, ReadOptions};
use std::time::Instant;

fn set<E: XsdElement>(e: &mut E, attrs: &[(&str, &str)]) {
    for (n, v) in attrs {
        if !matches!(e.set_attr(n, v), Some((_, Ok(())))) {
            panic!("{n}={v}");
        }
    }
}

fn main() -> std::io::Result<()> {
    let arg = std::env::args().nth(1).unwrap_or_else(|| "500000".into());
    let bytes = match arg.parse::<usize>() {
        Ok(n) => generate(n)?,
        Err(_) => std::fs::read(&arg)?,
    };
    if let Some(out) = std::env::args().nth(2) {
        std::fs::write(out, &bytes)?;
    }
    read(&bytes);
    Ok(())
}

fn generate(n: usize) -> std::io::Result<Vec<u8>> {
    let mut id = IdentificazioneFlusso::default();
    set(&mut id, &[("Nome", "H501.PS.20210520.0000002")]);
    set(
        &mut id.ente,
        &[
            ("Codice", "H501"),
            ("Denominazione", "Comune di Roma"),
            ("Indirizzo", "H501"),
            ("CFOperatore", "CCCDDD25A42H199X"),
        ],
    );
    let mut p1 = PrestazioniSociali::default();
    set(
        &mut p1,
        &[
            ("TipoOperazione", "I"),
            ("PresenzaProvaMezzi", "2"),
            ("CaratterePrestazione", "1"),
            ("CodicePrestazione", "A1.16"),
            (
                "DenominazionePrestazione",
                "Contributi economici per servizio trasporto e mobilità",
            ),
            ("ProtocolloDomanda", "12356Mari"),
            ("DataEvento", "2020-10-13"),
            ("DataInizioPrestazione", "2020-10-14"),
            ("DataFinePrestazione", "2020-11-13"),
            ("PeriodoErogazione", "1"),
            ("ImportoMensile", "101.23"),
            ("ImportoQuotaEnte", "52.54"),
            ("ImportoQuotaUtente", "21.71"),
            ("ImportoQuotaSSN", "26.98"),
            ("ImportoQuotaRichiesta", "151.64"),
            ("ImportoSogliaISEE", "17000.0"),
            ("OreServizioMensile", "2.59"),
            ("PresaCarico", "1"),
            ("AreaUtenza", "2"),
        ],
    );
    let mut p2 = p1.clone();
    let mut s = Sina::default();
    set(
        &mut s,
        &[
            ("Mobilita", "1"),
            ("AttivitaVitaQuotidiana", "2"),
            ("DisturbiComportamentali", "1"),
            ("AreaReddituale", "1"),
            ("AreaSupporto", "1"),
            ("FonteDerivazioneValutazione", "1"),
            ("StrumentoValutazione", "1"),
        ],
    );
    s.necessita_interventi_sociali = Some(vec!["A2.17".into(), "A2.18".into()]);
    p2.sina = Some(s);
    set(&mut p2, &[("CodicePrestazione", "A2.16")]);

    let mut w = CsvFlowWriter::new(Vec::new(), FlowType::PsPsaSina, &id)?;
    for i in 0..n / 2 {
        let mut b = Beneficiario::default();
        let cf = format!("RSSMRK66C14H{:03}U", i % 1000);
        let cognome = format!("ROSSI{i}");
        set(&mut b, &[("CodiceFiscale", &cf)]);
        set(
            &mut b.anagrafica,
            &[
                ("Cognome", &cognome),
                ("Nome", "MARIO"),
                ("AnnoNascita", "1966"),
                ("LuogoNascita", "H501"),
                ("Genere", "1"),
                ("CodiceCittadinanza", "380"),
            ],
        );
        let mut ind = casellario_domain::model::Indirizzo::default();
        set(
            &mut ind,
            &[
                ("CodiceRegione", "12"),
                ("CodiceComune", "058091"),
                ("CodiceNazione", "380"),
            ],
        );
        b.indirizzi.push(ind);
        w.write_beneficiario(&b, &[&p1, &p2])?;
    }
    w.finish()
}

fn read(bytes: &[u8]) {
    let (t, cpu0) = (Instant::now(), cpu_ns());
    let (mut rows, mut bad) = (0usize, 0usize);
    for item in CsvFlowReader::new(bytes, ReadOptions::default()) {
        match item {
            Ok(FlowItem::Record(r)) => {
                rows += 1;
                bad += usize::from(!r.violations.is_empty());
            }
            Ok(_) => {}
            Err(e) => panic!("{e}"),
        }
    }
    let wall = t.elapsed().as_secs_f64();
    // CPU time of this thread: wall time is meaningless on a shared 2-core box.
    let s = cpu_ns().map_or(wall, |c| (c - cpu0.unwrap_or(0)) as f64 / 1e9);
    println!(
        "{rows} righe ({bad} con errori), {:.1} MB; CPU {s:.3} s (parete {wall:.3} s): {:.0} righe/s, {:.1} MB/s",
        bytes.len() as f64 / 1e6,
        rows as f64 / s,
        bytes.len() as f64 / 1e6 / s
    );
}

/// Nanoseconds this thread has run on a CPU (Linux `schedstat`).
fn cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
