//! Throughput of the XML reader on a synthetic PS flow.
//!
//! `cargo run --release -p casellario-formats --example xml_bench -- FILE [N]`
//! writes FILE with N records (default 100 000: record 1 of the INPS sample
//! repeated with varying codice fiscale) unless it exists, then reads it and
//! prints records/s. Compare with
//! `xmllint --noout --stream --schema schemas/PS_PSA_SINA201812.xsd FILE`.

use casellario_formats::{FlowItem, ReadOptions, XmlFlowReader};
use std::io::{BufReader, BufWriter, Write};
use std::time::Instant;

const HEAD: &str = r#"<Flusso xmlns="http://inps.it/Casellario" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<IdentificazioneFlusso Nome="H501.PS.20210520.0000002">
<Ente Denominazione="aaaaa" Codice="H501" CFOperatore="CCCDDD25A42H199X" Indirizzo="H501"/>
</IdentificazioneFlusso>
"#;

const REC: &str = r#"<Beneficiario CodiceFiscale="@CF@">
<Anagrafica AnnoNascita="1939" Genere="2" CodiceCittadinanza="380" Nome="BBB" LuogoNascita="A351" Cognome="AAA"/>
<Indirizzo CodiceComune="068001" CodiceNazione="380" CodiceRegione="01"/>
<PrestazioniSociali CaratterePrestazione="1" AreaUtenza="2" ImportoQuotaUtente="21.71" ImportoQuotaRichiesta="151.64" TipoOperazione="I" DataInizioPrestazione="2020-10-14" CodicePrestazione="A1.16" DenominazionePrestazione="Contributi economici per servizio trasporto e mobilità" ProtocolloDomanda="12356Mari" DataEvento="2020-10-13" ImportoMensile="101.23" ImportoQuotaSSN="0.0" PeriodoErogazione="1" ImportoSogliaISEE="17000.0" PresaCarico="1" DataFinePrestazione="2020-11-13" ImportoQuotaEnte="52.54" PresenzaProvaMezzi="2" OreServizioMensile="2.59">
<SINA NecessitaCureSanitarie="1" FonteDerivazioneInvalidita="1" AreaReddituale="1" DisturbiAreaCognitiva="1" StrumentoValutazione="1" FonteDerivazioneValutazione="1" AreaSupporto="1" Mobilita="1" DisturbiComportamentali="1" AttivitaVitaQuotidiana="1">
<NecessitaInterventiSociali>
<CodicePrestazione>A2.17</CodicePrestazione>
<CodicePrestazione>A2.18</CodicePrestazione>
</NecessitaInterventiSociali>
<InvaliditaCivile>
<InvCiv>1</InvCiv>
<InvCiv>3</InvCiv>
</InvaliditaCivile>
</SINA>
</PrestazioniSociali>
</Beneficiario>
"#;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .unwrap_or_else(|| "/tmp/casellario-bench-100k.xml".into());
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    if !std::path::Path::new(&path).exists() {
        let mut w = BufWriter::new(std::fs::File::create(&path)?);
        w.write_all(HEAD.as_bytes())?;
        const AN: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
        for i in 0..n {
            let tail: String = [i / 1296 % 36, i / 36 % 36, i % 36]
                .iter()
                .map(|&k| AN[k] as char)
                .collect();
            let cf = format!("AAABBB{:02}M66A{tail}C", i / 46656 % 100);
            w.write_all(REC.replace("@CF@", &cf).as_bytes())?;
        }
        w.write_all(b"</Flusso>\n")?;
        w.flush()?;
    }
    let t = Instant::now();
    let (mut records, mut bad) = (0u64, 0u64);
    for item in XmlFlowReader::new(
        BufReader::with_capacity(1 << 16, std::fs::File::open(&path)?),
        ReadOptions::default(),
    ) {
        match item {
            Ok(FlowItem::Record(r)) => {
                records += 1;
                bad += u64::from(!r.violations.is_empty());
            }
            Ok(_) => {}
            Err(e) => {
                eprintln!("errore: {e}");
                break;
            }
        }
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "{records} records ({bad} with violations) in {s:.3} s: {:.0} records/s",
        records as f64 / s
    );
    Ok(())
}
