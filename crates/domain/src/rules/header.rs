//! `IdentificazioneFlusso`: flow name, ente seat and operator. An error here
//! rejects the whole flow, so only rules with a solid basis are errors.

use super::RuleContext;
use super::defs::*;
use crate::Date;
use crate::cf;
use crate::model::IdentificazioneFlusso;
use crate::outcome::{FlowType, Violation};
use crate::reference;

const NOME: &str = "IdentificazioneFlusso/@Nome";

/// The parts of a well-formed flow name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NomeFlusso<'a> {
    pub ente: &'a str,
    pub tipo: &'a str,
    pub data: Date,
}

/// Parses `^[A-Z0-9]{1,32}\.(PS|PSA|SINA|SINBA)(\.INPS)?\.\d{8}\.\d{6,8}$` with
/// a real date; the error is the Italian reason.
pub(crate) fn parse_nome(nome: &str) -> Result<NomeFlusso<'_>, String> {
    let parts: Vec<&str> = nome.split('.').collect();
    let (ente, tipo, data, prog) = match parts.as_slice() {
        [e, t, d, p] => (*e, *t, *d, *p),
        [e, t, i, d, p] if *i == "INPS" => (*e, *t, *d, *p),
        _ => {
            return Err(format!(
                "le parti separate da punto devono essere 4 (o 5 con .INPS), qui sono {}",
                parts.len()
            ));
        }
    };
    if ente.is_empty()
        || ente.len() > 32
        || !ente
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return Err(format!(
            "il codice ente \"{ente}\" deve essere di 1-32 lettere maiuscole o cifre"
        ));
    }
    if !matches!(tipo, "PS" | "PSA" | "SINA" | "SINBA") {
        return Err(format!("il tipo \"{tipo}\" non è tra PS, PSA, SINA, SINBA"));
    }
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let date = (data.len() == 8 && all_digits(data))
        .then(|| {
            let n = |r: std::ops::Range<usize>| data[r].parse::<u32>().unwrap_or(0);
            Date::new(n(0..4) as i32, n(4..6) as u8, n(6..8) as u8)
        })
        .flatten()
        .ok_or_else(|| {
            format!("la data di invio \"{data}\" non è una data esistente nel formato AAAAMMGG")
        })?;
    if !(6..=8).contains(&prog.len()) || !all_digits(prog) {
        return Err(format!(
            "il progressivo \"{prog}\" deve essere di 6-8 cifre"
        ));
    }
    Ok(NomeFlusso {
        ente,
        tipo,
        data: date,
    })
}

/// Checks the flow header: name format, type and ente in the name, seat of
/// the ente, operator's codice fiscale.
pub fn check_header(
    ctx: &RuleContext,
    tipo: FlowType,
    h: &IdentificazioneFlusso,
    out: &mut Vec<Violation>,
) {
    let esempio = match tipo {
        FlowType::PsPsaSina => "H501.PS.20210520.0000001",
        FlowType::Sinba => "H501.SINBA.20210520.0000001",
    };
    let mut data_nome = None;
    if let Some(nome) = &h.nome {
        match parse_nome(nome) {
            Err(why) => ctx.push(
                out,
                &FLUSSO_NOME_FORMATO,
                NOME,
                format!(
                    "Il nome del flusso \"{nome}\" non è nel formato previsto: {why}. Usare \
                     {{CodiceEnte}}.{{tipo}}.{{AAAAMMGG}}.{{progressivo}}, ad esempio {esempio}."
                ),
            ),
            Ok(n) => {
                data_nome = Some(n.data);
                let ok = match tipo {
                    FlowType::Sinba => n.tipo == "SINBA",
                    FlowType::PsPsaSina => n.tipo != "SINBA",
                };
                if !ok {
                    let atteso = match tipo {
                        FlowType::Sinba => "SINBA",
                        FlowType::PsPsaSina => "PS, PSA o SINA",
                    };
                    ctx.push(
                        out,
                        &FLUSSO_NOME_TIPO,
                        NOME,
                        format!(
                            "Il nome del flusso \"{nome}\" indica il tipo {} ma il flusso è {}: \
                             nel nome usare {atteso}, ad esempio {esempio}.",
                            n.tipo,
                            tipo.wire()
                        ),
                    );
                }
                if let Some(codice) = &h.ente.codice
                    && n.ente != codice
                {
                    ctx.push(
                        out,
                        &FLUSSO_NOME_ENTE,
                        NOME,
                        format!(
                            "Il nome del flusso \"{nome}\" inizia con il codice ente {} ma \
                             Ente/@Codice è {codice}: il nome deve iniziare con il codice dell'ente \
                             che trasmette.",
                            n.ente
                        ),
                    );
                }
            }
        }
    }
    if let Some(ind) = &h.ente.indirizzo {
        let valid = reference::belfiore_valid_on(ind, ctx.today)
            || data_nome.is_some_and(|d| reference::belfiore_valid_on(ind, d));
        if !valid {
            let why = match reference::belfiore_comune(ind).last() {
                Some(c) => format!(
                    "corrisponde a {} ({}), comune non più esistente",
                    c.name, c.province
                ),
                None => "non corrisponde ad alcun comune".to_string(),
            };
            ctx.push(
                out,
                &REF_ENTE_BELFIORE,
                "IdentificazioneFlusso/Ente/@Indirizzo",
                format!(
                    "Ente/@Indirizzo \"{ind}\" {why}: indicare il codice catastale (es. H501 per \
                     Roma) del comune sede dell'ente, non un indirizzo."
                ),
            );
        }
    }
    if let Some(cfo) = &h.ente.cf_operatore
        && let Err(e) = cf::check(cfo)
    {
        ctx.push(
            out,
            &CF_OPERATORE,
            "IdentificazioneFlusso/Ente/@CFOperatore",
            format!(
                "Il codice fiscale dell'operatore {} non è valido. {}. Indicare il codice fiscale \
                 corretto dell'operatore che trasmette il flusso.",
                cfo.trim_end(),
                e.message()
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nome_parsing() {
        let n = parse_nome("H501.PS.INPS.20160423.115235").map(|n| (n.ente, n.tipo, n.data.day));
        assert_eq!(n, Ok(("H501", "PS", 23)));
        assert!(parse_nome("H501.SINBA.20210520.00000004").is_ok());
        assert!(parse_nome("H501.PS.20210520.0000002").is_ok());
        for bad in [
            "",
            "H501.PS.20210520",
            "h501.PS.20210520.000001",
            "H501.XX.20210520.000001",
            "H501.PS.20210230.000001",
            "H501.PS.2021052.000001",
            "H501.PS.20210520.00001",
            "H501.PS.20210520.000000001",
            "H501.PS.ABCD.20210520.000001",
            "H501.PS.20210520.00000a",
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456.PS.20210520.000001",
        ] {
            assert!(parse_nome(bad).is_err(), "{bad}");
        }
    }
}
