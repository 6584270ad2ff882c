//! Business rules of the two flows (DOMAIN.md §3.3, §3.4, §6, §7) and the
//! reference-table checks, as pure functions over the typed records.
//!
//! Conventions shared by every check:
//! - an attribute that is `None` is absent or was rejected by the schema
//!   layer, which already reported it: a rule that needs it is skipped, so a
//!   record never gets two violations for one bad value (the only exceptions
//!   are the "required if" rules, which cannot tell absent from invalid);
//! - violations carry the rule's severity under `ctx.profile` and an Italian
//!   message for the operator: what is wrong, the values found, what to do;
//! - field paths are relative to the record (`PrestazioniSociali/@…`,
//!   `Beneficiario/Indirizzo[1]/@…`, `SINBA/@…`), 1-based for repeated items.

mod beneficiario;
// One rule per line group, as in `catalogue.rs`: easier to review as a table.
#[rustfmt::skip]
mod defs;
mod header;
mod ps;
mod sinba;

pub use beneficiario::{check_beneficiario, check_beneficiario_chiave};
pub use defs::*;
pub use header::check_header;
pub use ps::check_prestazione;
pub use sinba::check_sinba;

use crate::Date;
use crate::catalogue::{BASE_RULES, RuleDef};
use crate::outcome::{Category, Channel, Profile, Violation};

/// What the checks need besides the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleContext {
    pub profile: Profile,
    pub channel: Channel,
    /// Reference "today" for age computations and future-date checks.
    pub today: Date,
}

impl RuleContext {
    pub fn new(profile: Profile, channel: Channel, today: Date) -> RuleContext {
        RuleContext {
            profile,
            channel,
            today,
        }
    }

    fn push(
        &self,
        out: &mut Vec<Violation>,
        rule: &RuleDef,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        out.push(rule.violation(self.profile, field, message));
    }
}

/// The rules of this module, in catalogue order.
pub static DOMAIN_RULES: &[&RuleDef] = &[
    // Intestazione
    &FLUSSO_NOME_FORMATO,
    &FLUSSO_NOME_TIPO,
    &FLUSSO_NOME_ENTE,
    &REF_ENTE_BELFIORE,
    &CF_OPERATORE,
    // Beneficiario
    &CF_BENEFICIARIO,
    &CF_ANAGRAFICA,
    &REF_LUOGO_NASCITA,
    &REF_PAESE,
    &PS_ANNO_NASCITA,
    &PS_INDIRIZZO_ITALIA,
    &REF_COMUNE,
    &REF_REGIONE,
    &PS_REGIONE_COMUNE,
    // Prestazione
    &PS_CARATTERE_MANCANTE,
    &PS_PERIODICA_CAMPI,
    &PS_OCCASIONALE_CAMPI,
    &PS_IMPORTO_NON_POSITIVO,
    &PS_IMPORTO_NEGATIVO,
    &PS_QUOTA_ZERO,
    &PS_QUOTE_SOMMA,
    &PS_DATA_FINE_ANNO,
    &PS_DATA_FINE_PRECEDENTE,
    &PS_PRESTAZIONE_PRIMA_NASCITA,
    &PS_DATA_IMPLAUSIBILE,
    &PS_DSU_INCOMPLETA,
    &PS_DSU_PROTOCOLLO,
    &PS_DSU_ANNO,
    &PS_DSU_ATTESA,
    &PS_AREA_UTENZA,
    &PS_ORE_FORMATO,
    &PS_PERIODO_EROGAZIONE,
    &PS_SOLO_PRESA_IN_CARICO,
    &REF_PRESTAZIONE,
    &REF_PRESTAZIONE_DATA,
    // SINA
    &SINA_MANCANTE,
    &SINA_SENZA_PRESA_IN_CARICO,
    // SINBA
    &SINBA_REGIONE_OBBLIGATORIA,
    &SINBA_NUMERO_COMPONENTI_ISEE,
    &SINBA_DISABILITA,
    &SINBA_SEGNALAZIONE_DATA,
    &SINBA_PROVVEDIMENTO_DATA,
    &SINBA_FASCIA_ETA,
    &SINBA_ID_CODICE_FISCALE,
    &SINBA_DATA_FUTURA,
    &SINBA_ANNO_NASCITA,
];

/// The whole catalogue: XML, schema and register rules, then these.
pub fn all_rules() -> Vec<&'static RuleDef> {
    BASE_RULES.iter().chain(DOMAIN_RULES).copied().collect()
}

/// Looks a rule of the whole catalogue up by code.
pub fn find_rule(code: &str) -> Option<&'static RuleDef> {
    BASE_RULES
        .iter()
        .chain(DOMAIN_RULES)
        .copied()
        .find(|r| r.code == code)
}

/// The catalogue in Markdown, in Italian, one table per category: shipped as
/// `docs/REGOLE.md`.
pub fn catalogue_markdown() -> String {
    let rules = all_rules();
    let mut s = String::new();
    s.push_str("# Catalogo delle regole di validazione\n\n");
    s.push_str(
        "<!-- Generato da casellario_domain::rules::catalogue_markdown(): non modificare a mano. -->\n\n",
    );
    s.push_str(&format!(
        "Il registro applica {} regole. Ogni regola ha un codice stabile, riportato nelle ricevute \
         (campo `regola`), e una gravità per ciascun profilo di validazione:\n\n",
        rules.len()
    ));
    s.push_str(
        "- **strict**: le regole ufficiali INPS (Allegati B e C della specifica tecnica, annotazioni \
         degli XSD) e i controlli sulle tabelle di riferimento sono errori; le regole dedotte dalla \
         prassi sono avvisi, salvo i casi di dati impossibili indicati nella nota;\n",
    );
    s.push_str(
        "- **compat**: XML, schema e tabelle di riferimento restano errori; le altre regole di \
         dominio diventano avvisi, come INPS sembra trattare i propri esempi.\n\n",
    );
    s.push_str(
        "Un *errore* scarta il record (l'intero flusso, se riguarda l'intestazione); un *avviso* \
         è riportato nella ricevuta ma il record è accettato.\n",
    );
    for (cat, title) in [
        (Category::Xml, "XML e JSON"),
        (Category::Schema, "Schema (XSD e canale)"),
        (
            Category::Dominio,
            "Dominio (regole di business, codice fiscale, tabelle, registro)",
        ),
    ] {
        let of_cat: Vec<_> = rules.iter().filter(|r| r.category == cat).collect();
        s.push_str(&format!("\n## {title}\n\n"));
        s.push_str(
            "| Codice | Gravità strict | Gravità compat | Flussi | Fonte | Regola | Nota |\n",
        );
        s.push_str("|---|---|---|---|---|---|---|\n");
        for r in of_cat {
            s.push_str(&format!(
                "| `{}` | {} | {} | {} | {} | {} | {} |\n",
                r.code,
                r.strict.wire(),
                r.compat.wire(),
                r.flows,
                r.source.label(),
                md_cell(r.title),
                md_cell(r.note)
            ));
        }
    }
    s
}

/// Escapes a table cell: pipes would split it, newlines would end the row,
/// `<` would open an HTML tag (e.g. `<!DOCTYPE>` in XML_DTD).
fn md_cell(s: &str) -> String {
    s.replace('|', "\\|")
        .replace('\n', " ")
        .replace('<', "&lt;")
}

/// `Beneficiario/Indirizzo[n]/@Attr`-style paths.
fn indexed(base: &str, i: usize, rest: &str) -> String {
    format!("{base}[{}]{rest}", i + 1)
}

/// REF_PAESE on one country/citizenship field. `what` names the field for
/// the operator, e.g. "di cittadinanza". Paths are built only on a
/// violation: these run once per record on national-scale flows.
fn check_paese(
    ctx: &RuleContext,
    code: Option<&str>,
    field: impl FnOnce() -> String,
    what: &str,
    out: &mut Vec<Violation>,
) {
    if let Some(code) = code
        && crate::reference::paese_iso(code).is_none()
    {
        ctx.push(
            out,
            &REF_PAESE,
            field(),
            format!(
                "Il codice {what} {code} non è un codice numerico ISO 3166-1: usare il codice del \
                 paese (380 per l'Italia) oppure 990 se non disponibile."
            ),
        );
    }
}

/// REF_REGIONE on one region field; returns the region when it exists.
fn check_regione(
    ctx: &RuleContext,
    code: Option<&str>,
    field: impl FnOnce() -> String,
    out: &mut Vec<Violation>,
) -> Option<&'static crate::reference::Regione> {
    let code = code?;
    let r = crate::reference::regione_dm1986(code);
    if r.is_none() {
        ctx.push(
            out,
            &REF_REGIONE,
            field(),
            format!(
                "Il codice regione {code} non esiste nella codifica DM 1986 (da 01 Abruzzo a 21 \
                 Veneto; 03 Bolzano e 18 Trento): correggere il codice regione."
            ),
        );
    }
    r
}
