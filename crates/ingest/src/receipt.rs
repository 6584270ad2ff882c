//! Receipts: the per-record outcome of a flow, as JSON (shape documented by
//! `docs/ricevuta.schema.json`) or as text for a terminal. Rendered by
//! streaming the outcome log, so a receipt of any size needs bounded memory.

use crate::{FlowReport, Ingested, RecordOutcome};
use casellario_domain::{CodiceEsito, Esito, Violation};
use serde::Serialize;
use std::io::{self, Write};

/// Totals of a receipt (`riepilogo`).
#[derive(Serialize)]
pub struct Riepilogo {
    pub record: u64,
    pub accettati: u64,
    pub duplicati: u64,
    pub scartati: u64,
    pub avvisi: u64,
}

/// Everything of a JSON receipt but its records, in the order of
/// `docs/ricevuta.schema.json`. Shared with the portal, which writes the
/// same receipt from stored rows.
#[derive(Serialize)]
pub struct ReceiptHead<'a> {
    pub id_flusso: Option<&'a str>,
    pub tipo: Option<&'a str>,
    pub codice_ente: Option<&'a str>,
    pub codice_esito: &'a str,
    pub descrizione_esito: String,
    pub profilo: &'a str,
    pub canale: &'a str,
    pub id_acquisizione: Option<String>,
    pub acquisito_in_precedenza: bool,
    pub sha256: String,
    pub riepilogo: Riepilogo,
    pub violazioni: &'a [Violation],
}

/// One record of a JSON receipt.
#[derive(Serialize)]
pub struct ReceiptRecord<'a> {
    pub posizione: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub riga: Option<u64>,
    pub esito: &'a str,
    pub codice_esito: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_acquisizione: Option<String>,
    pub violazioni: &'a [Violation],
}

/// Italian description of a flow outcome.
pub fn descrizione(r: &FlowReport) -> String {
    let t = &r.totals;
    if r.unreadable {
        return "Flusso non leggibile: nessun record acquisito.".into();
    }
    if r.already_acquired {
        return format!(
            "Flusso già acquisito in precedenza: nessun nuovo record ({} duplicati).",
            t.duplicati
        );
    }
    if r.rejected_whole {
        return format!(
            "Flusso respinto per intero: nessuno dei {} record è stato acquisito.",
            t.records
        );
    }
    match r.codice_esito {
        CodiceEsito::Ok => format!(
            "Flusso elaborato: {} record acquisiti, {} duplicati.",
            t.accettati, t.duplicati
        ),
        _ => format!(
            "Flusso elaborato parzialmente: {} record acquisiti, {} duplicati, {} scartati.",
            t.accettati, t.duplicati, t.scartati
        ),
    }
}

fn head(r: &FlowReport) -> ReceiptHead<'_> {
    ReceiptHead {
        id_flusso: r.id_flusso.as_deref(),
        tipo: r.tipo.map(|t| t.wire()),
        codice_ente: r.codice_ente.as_deref(),
        codice_esito: r.codice_esito.wire(),
        descrizione_esito: descrizione(r),
        profilo: r.profile.wire(),
        canale: r.channel.wire(),
        id_acquisizione: r.flow_id.map(|i| i.to_string()),
        acquisito_in_precedenza: r.already_acquired,
        sha256: hex::encode(r.sha256),
        riepilogo: Riepilogo {
            record: r.totals.records,
            accettati: r.totals.accettati,
            duplicati: r.totals.duplicati,
            scartati: r.totals.scartati,
            avvisi: r.totals.avvisi,
        },
        violazioni: &r.flow_violations,
    }
}

/// Writes the JSON receipt.
pub fn write_json(ing: &mut Ingested, out: &mut dyn Write) -> io::Result<()> {
    let h = serde_json::to_vec(&head(&ing.report)).map_err(io::Error::other)?;
    // Open the head object, then stream the records array into it.
    out.write_all(&h[..h.len() - 1])?;
    out.write_all(b",\"record\":[")?;
    let mut first = true;
    let mut line = Vec::with_capacity(256);
    ing.for_each_record(&mut |o: RecordOutcome| {
        line.clear();
        if !first {
            line.push(b',');
        }
        first = false;
        if o.violations.is_empty() {
            // The common case, written without serde (receipts of a million records).
            line.extend_from_slice(b"{\"posizione\":");
            push_num(&mut line, o.pos);
            if o.line > 0 {
                line.extend_from_slice(b",\"riga\":");
                push_num(&mut line, o.line);
            }
            line.extend_from_slice(b",\"esito\":\"");
            line.extend_from_slice(o.esito.wire().as_bytes());
            line.extend_from_slice(b"\",\"codice_esito\":\"");
            line.extend_from_slice(o.codice.wire().as_bytes());
            line.push(b'"');
            if let Some(id) = o.ref_id {
                line.extend_from_slice(b",\"id_acquisizione\":\"");
                if id < 0 {
                    line.push(b'-');
                }
                push_num(&mut line, id.unsigned_abs());
                line.push(b'"');
            }
            line.extend_from_slice(b",\"violazioni\":[]}");
        } else {
            let rec = ReceiptRecord {
                posizione: o.pos,
                riga: (o.line > 0).then_some(o.line),
                esito: o.esito.wire(),
                codice_esito: o.codice.wire(),
                id_acquisizione: o.ref_id.map(|i| i.to_string()),
                violazioni: &o.violations,
            };
            serde_json::to_writer(&mut line, &rec).map_err(io::Error::other)?;
        }
        out.write_all(&line)
    })?;
    out.write_all(b"]}\n")
}

fn push_num(out: &mut Vec<u8>, v: u64) {
    casellario_domain::xsd::push_u128(out, u128::from(v));
}

/// Writes a text receipt: the summary and every record that was not plainly
/// accepted (rejected, duplicate, or with warnings).
pub fn write_text(ing: &mut Ingested, out: &mut dyn Write) -> io::Result<()> {
    let r = ing.report.clone();
    writeln!(
        out,
        "Flusso:      {}",
        r.id_flusso.as_deref().unwrap_or("(non identificato)")
    )?;
    if let Some(t) = r.tipo {
        writeln!(out, "Tipo:        {}", t.wire())?;
    }
    if let Some(e) = &r.codice_ente {
        writeln!(out, "Ente:        {e}")?;
    }
    writeln!(
        out,
        "Profilo:     {}   Canale: {}",
        r.profile.wire(),
        r.channel.wire()
    )?;
    writeln!(
        out,
        "Esito:       {} — {}",
        r.codice_esito.wire(),
        descrizione(&r)
    )?;
    if let Some(id) = r.flow_id {
        writeln!(out, "Acquisizione: {id}")?;
    }
    writeln!(
        out,
        "Record:      {}   accettati {}   duplicati {}   scartati {}   avvisi {}",
        r.totals.records,
        r.totals.accettati,
        r.totals.duplicati,
        r.totals.scartati,
        r.totals.avvisi
    )?;
    for v in &r.flow_violations {
        write_violation(out, "  ", v)?;
    }
    ing.for_each_record(&mut |o| {
        if o.esito == Esito::Accettato && o.violations.is_empty() {
            return Ok(());
        }
        let riga = if o.line > 0 {
            format!(" (riga {})", o.line)
        } else {
            String::new()
        };
        writeln!(
            out,
            "Record {}{}: {} {}",
            o.pos,
            riga,
            o.esito.wire(),
            o.codice.wire()
        )?;
        for v in &o.violations {
            write_violation(out, "  ", v)?;
        }
        Ok(())
    })
}

fn write_violation(out: &mut dyn Write, indent: &str, v: &Violation) -> io::Result<()> {
    let mut place = v.field.clone();
    if let Some(l) = v.line {
        place = if place.is_empty() {
            format!("riga {l}")
        } else {
            format!("{place}, riga {l}")
        };
    }
    writeln!(
        out,
        "{indent}[{}] {} ({place}): {}",
        v.severity.wire(),
        v.rule,
        v.message
    )
}
