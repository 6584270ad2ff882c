//! Synthetic but realistic INPS flows (PS-PSA-SINA and SINBA) for tests,
//! demos and benchmarks.
//!
//! Everything is a pure function of [`GenOptions`]: the same seed gives the
//! same flow, byte for byte (ChaCha8, no clock). The [`Generator`] is a
//! streaming iterator: memory stays constant whatever the number of records.
//!
//! Records are valid under the project's strict rules unless an error is
//! injected on purpose (`error_rate`); each injected error is one of
//! [`ErrorKind`] and hits exactly one record, so a consumer can check that
//! exactly [`GenStats::injected`] records are rejected.

mod benefits;
mod names;
mod places;
mod ps;
mod rng;
mod sinba;

use casellario_domain::model::{
    Beneficiario, Ente, IdentificazioneFlusso, PrestazioniSociali, Sinba,
};
use casellario_domain::reference;
use casellario_domain::{Date, FlowType};
use casellario_formats::xml::XmlFlowWriter;
use places::Place;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::Arc;

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct GenOptions {
    pub tipo: FlowType,
    /// Records: `PrestazioniSociali` elements (PS) or `SINBA` elements.
    pub records: u64,
    pub seed: u64,
    /// Fraction (0.0–1.0) of records given one injected error.
    pub error_rate: f64,
    /// Ente code (default: the Belfiore code of its seat).
    pub ente_codice: Option<String>,
    /// Belfiore code of the ente's seat (default: a real comune picked by
    /// seed; the Denominazione is then "Comune di <Nome>").
    pub ente_belfiore: Option<String>,
    /// Flow name (default `{ente}.PS.{yyyymmdd}.{nnnnnnn}` or `.SINBA.`,
    /// date and progressive derived from the seed, never the clock).
    pub nome: Option<String>,
    /// Reference year of the benefits.
    pub anno: i32,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            tipo: FlowType::PsPsaSina,
            records: 1000,
            seed: 0,
            error_rate: 0.0,
            ente_codice: None,
            ente_belfiore: None,
            nome: None,
            anno: 2025,
        }
    }
}

impl GenOptions {
    pub fn new(tipo: FlowType, records: u64, seed: u64) -> Self {
        GenOptions {
            tipo,
            records,
            seed,
            ..GenOptions::default()
        }
    }
}

/// The kinds of injected errors. Each is an error (not a warning) under the
/// strict profile, and representable in the typed model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorKind {
    /// Wrong check character of the beneficiary's CF (CF_BENEFICIARIO).
    /// Only on beneficiaries with a single record.
    CfCarattereControllo,
    /// Residence in Italy (380) without CodiceRegione (PS_INDIRIZZO_ITALIA).
    /// Only on beneficiaries with a single record.
    RegioneMancante,
    /// Shares not summing to the amount (PS_QUOTE_SOMMA).
    QuoteNonQuadrano,
    /// Periodic benefit without DataInizioPrestazione (PS_PERIODICA_CAMPI).
    PeriodicoSenzaInizio,
    /// DataFinePrestazione in the next year (PS_DATA_FINE_ANNO).
    FineAnnoSuccessivo,
    /// CodicePrestazione not in the table, `A9.99` (REF_PRESTAZIONE).
    CodiceSconosciuto,
    /// DSU triple with one member missing (PS_DSU_INCOMPLETA).
    DsuIncompleta,
    /// PresaCarico absent: a schema error (required attribute).
    PresaCaricoMancante,
    /// DenominazionePrestazione shorter than 10 characters: a schema error.
    DenominazioneCorta,
    /// OreServizioMensile with 75 minutes (PS_ORE_FORMATO).
    OreMinutiNonValidi,
    /// SINBA residence in Italy without CodiceRegioneResidenza
    /// (SINBA_REGIONE_OBBLIGATORIA).
    SinbaRegioneMancante,
    /// SINBA benefit code not in the table (REF_PRESTAZIONE).
    SinbaCodiceSconosciuto,
}

impl ErrorKind {
    pub const ALL: &'static [ErrorKind] = &[
        ErrorKind::CfCarattereControllo,
        ErrorKind::RegioneMancante,
        ErrorKind::QuoteNonQuadrano,
        ErrorKind::PeriodicoSenzaInizio,
        ErrorKind::FineAnnoSuccessivo,
        ErrorKind::CodiceSconosciuto,
        ErrorKind::DsuIncompleta,
        ErrorKind::PresaCaricoMancante,
        ErrorKind::DenominazioneCorta,
        ErrorKind::OreMinutiNonValidi,
        ErrorKind::SinbaRegioneMancante,
        ErrorKind::SinbaCodiceSconosciuto,
    ];

    /// Stable name, for reports.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::CfCarattereControllo => "cf_carattere_controllo",
            ErrorKind::RegioneMancante => "regione_mancante",
            ErrorKind::QuoteNonQuadrano => "quote_non_quadrano",
            ErrorKind::PeriodicoSenzaInizio => "periodico_senza_inizio",
            ErrorKind::FineAnnoSuccessivo => "fine_anno_successivo",
            ErrorKind::CodiceSconosciuto => "codice_sconosciuto",
            ErrorKind::DsuIncompleta => "dsu_incompleta",
            ErrorKind::PresaCaricoMancante => "presa_carico_mancante",
            ErrorKind::DenominazioneCorta => "denominazione_corta",
            ErrorKind::OreMinutiNonValidi => "ore_minuti_non_validi",
            ErrorKind::SinbaRegioneMancante => "sinba_regione_mancante",
            ErrorKind::SinbaCodiceSconosciuto => "sinba_codice_sconosciuto",
        }
    }

    /// The rule expected to reject the record (catalogue code), or `None`
    /// for schema errors (the reader reports those).
    pub fn rule(self) -> Option<&'static str> {
        match self {
            ErrorKind::CfCarattereControllo => Some("CF_BENEFICIARIO"),
            ErrorKind::RegioneMancante => Some("PS_INDIRIZZO_ITALIA"),
            ErrorKind::QuoteNonQuadrano => Some("PS_QUOTE_SOMMA"),
            ErrorKind::PeriodicoSenzaInizio => Some("PS_PERIODICA_CAMPI"),
            ErrorKind::FineAnnoSuccessivo => Some("PS_DATA_FINE_ANNO"),
            ErrorKind::CodiceSconosciuto | ErrorKind::SinbaCodiceSconosciuto => {
                Some("REF_PRESTAZIONE")
            }
            ErrorKind::DsuIncompleta => Some("PS_DSU_INCOMPLETA"),
            ErrorKind::OreMinutiNonValidi => Some("PS_ORE_FORMATO"),
            ErrorKind::SinbaRegioneMancante => Some("SINBA_REGIONE_OBBLIGATORIA"),
            ErrorKind::PresaCaricoMancante | ErrorKind::DenominazioneCorta => None,
        }
    }

    /// A schema (XSD) error rather than a business rule.
    pub fn is_schema(self) -> bool {
        self.rule().is_none()
    }

    pub fn flow(self) -> FlowType {
        match self {
            ErrorKind::SinbaRegioneMancante | ErrorKind::SinbaCodiceSconosciuto => FlowType::Sinba,
            _ => FlowType::PsPsaSina,
        }
    }

    /// Kinds that could spill over onto the other records of the same
    /// beneficiary (beneficiary data, or a schema error a reader might
    /// attribute to the whole element): injected only on beneficiaries with
    /// a single record, so "one error, one rejected record" always holds.
    pub fn single_record_only(self) -> bool {
        matches!(
            self,
            ErrorKind::CfCarattereControllo
                | ErrorKind::RegioneMancante
                | ErrorKind::PresaCaricoMancante
                | ErrorKind::DenominazioneCorta
        )
    }
}

/// What a generation produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GenStats {
    /// Records (`PrestazioniSociali` or `SINBA`).
    pub records: u64,
    /// `Beneficiario` elements (0 for SINBA).
    pub beneficiaries: u64,
    /// Injected errors by kind; each is one record.
    pub errors: BTreeMap<ErrorKind, u64>,
}

impl GenStats {
    /// Records carrying an injected error.
    pub fn injected(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// One element of the flow body.
// Items are produced and consumed one at a time, so the size gap between
// the variants costs nothing; boxing would cost an allocation per SINBA.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum GenItem {
    Beneficiario {
        beneficiario: Arc<Beneficiario>,
        prestazioni: Vec<PrestazioniSociali>,
    },
    Sinba(Sinba),
}

/// The ente sending the flow.
struct EnteCtx {
    belfiore: String,
    comune: Option<Place>,
    /// DM 1986 region of the seat (empty when the seat is not a current comune).
    regione: &'static str,
}

/// Streaming generator of a flow body: an iterator of [`GenItem`], O(1)
/// memory and work per record.
pub struct Generator {
    tipo: FlowType,
    records: u64,
    anno: i32,
    error_rate: f64,
    rng: ChaCha8Rng,
    header: IdentificazioneFlusso,
    ente: EnteCtx,
    emitted: u64,
    protocollo: u64,
    /// SINBA case numbers: next one and zero-padded width.
    caso: u64,
    caso_width: usize,
    stats: GenStats,
    last_errors: Vec<Option<ErrorKind>>,
    pools: ps::Pools,
}

impl Generator {
    pub fn new(opts: &GenOptions) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
        let places = &*places::PLACES;
        let comune = match &opts.ente_belfiore {
            Some(b) => reference::comune_by_belfiore(b)
                .and_then(|c| places.comuni.iter().find(|p| p.c.istat == c.istat).copied()),
            None => Some(*rng::pick(&mut rng, &places.comuni)),
        };
        let belfiore = match (&opts.ente_belfiore, comune) {
            (Some(b), _) => b.to_ascii_uppercase(),
            (None, Some(p)) => p.c.belfiore.to_string(),
            (None, None) => "H501".to_string(),
        };
        let codice = opts.ente_codice.clone().unwrap_or_else(|| belfiore.clone());
        let denominazione = match comune {
            Some(p) => format!("Comune di {}", p.c.name),
            None => format!("Ente {codice}"),
        };
        let regione = comune.map_or("", |p| p.regione);
        let ente = EnteCtx {
            belfiore: belfiore.clone(),
            comune,
            regione,
        };

        // Flows for a year are sent in the first months of the next one.
        let invio = rng::date_between(
            &mut rng,
            Date {
                year: opts.anno + 1,
                month: 1,
                day: 10,
            },
            Date {
                year: opts.anno + 1,
                month: 3,
                day: 31,
            },
        );
        let progressivo = rng::range(&mut rng, 1, 30);
        let nome = opts.nome.clone().unwrap_or_else(|| {
            let tipo = match opts.tipo {
                FlowType::PsPsaSina => "PS",
                FlowType::Sinba => "SINBA",
            };
            // XSD: Nome is at most 50 characters; the ente part gives way.
            let suffix = format!(
                ".{tipo}.{:04}{:02}{:02}.{progressivo:07}",
                invio.year, invio.month, invio.day
            );
            let keep = codice.len().min(50 - suffix.len());
            format!("{}{suffix}", &codice[..keep])
        });
        let cf_operatore = ps::operatore_cf(&mut rng, &ente, opts.anno);
        let header = IdentificazioneFlusso {
            nome: Some(nome),
            ente: Ente {
                codice: Some(codice),
                denominazione: Some(denominazione),
                indirizzo: Some(belfiore),
                cf_operatore: Some(cf_operatore),
            },
        };
        let caso = rng::range(&mut rng, 10_000, 900_000) as u64;
        let digits = caso
            .saturating_add(opts.records.saturating_mul(4))
            .to_string()
            .len();
        let caso_width = digits.max(rng::range(&mut rng, 6, 10) as usize);
        Generator {
            tipo: opts.tipo,
            records: opts.records,
            anno: opts.anno,
            error_rate: opts.error_rate.clamp(0.0, 1.0),
            rng,
            header,
            ente,
            emitted: 0,
            protocollo: 0,
            caso,
            caso_width,
            stats: GenStats::default(),
            last_errors: Vec::new(),
            pools: ps::pools(opts.anno),
        }
    }

    /// The flow header (`IdentificazioneFlusso`).
    pub fn header(&self) -> IdentificazioneFlusso {
        self.header.clone()
    }

    /// Totals of the items yielded so far.
    pub fn stats(&self) -> &GenStats {
        &self.stats
    }

    /// The injected error of each record of the last item (one entry per
    /// `PrestazioniSociali`, or one for a SINBA), `None` where the record is
    /// clean.
    pub fn last_errors(&self) -> &[Option<ErrorKind>] {
        &self.last_errors
    }

    /// Decides whether the next record gets an error, and which one.
    fn draw_error(&mut self, single_record: bool) -> Option<ErrorKind> {
        if self.error_rate <= 0.0 || !rng::chance(&mut self.rng, self.error_rate) {
            return None;
        }
        let tipo = self.tipo;
        let kinds: Vec<ErrorKind> = ErrorKind::ALL
            .iter()
            .copied()
            .filter(|k| k.flow() == tipo && (single_record || !k.single_record_only()))
            .collect();
        Some(*rng::pick(&mut self.rng, &kinds))
    }

    fn count_errors(&mut self) {
        for k in self.last_errors.iter().flatten() {
            *self.stats.errors.entry(*k).or_insert(0) += 1;
        }
    }
}

impl Iterator for Generator {
    type Item = GenItem;

    fn next(&mut self) -> Option<GenItem> {
        if self.emitted >= self.records {
            return None;
        }
        let item = match self.tipo {
            FlowType::PsPsaSina => {
                let n = ps::draw_count(&mut self.rng).min(self.records - self.emitted) as usize;
                self.last_errors.clear();
                for _ in 0..n {
                    let e = self.draw_error(n == 1);
                    self.last_errors.push(e);
                }
                let errors = std::mem::take(&mut self.last_errors);
                let (b, p) = ps::beneficiario(self, &errors);
                self.last_errors = errors;
                self.emitted += n as u64;
                self.stats.beneficiaries += 1;
                GenItem::Beneficiario {
                    beneficiario: Arc::new(b),
                    prestazioni: p,
                }
            }
            FlowType::Sinba => {
                let e = self.draw_error(true);
                self.last_errors.clear();
                self.last_errors.push(e);
                self.emitted += 1;
                GenItem::Sinba(sinba::sinba(self, e))
            }
        };
        self.stats.records = self.emitted;
        self.count_errors();
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::try_from(self.records - self.emitted).unwrap_or(usize::MAX);
        match self.tipo {
            FlowType::Sinba => (left, Some(left)),
            FlowType::PsPsaSina => (left.div_ceil(4), Some(left)),
        }
    }
}

/// Items per batch handed from the generating thread to the writing one.
const BATCH: usize = 256;

/// Writes a complete XML flow for `opts` and returns what was generated.
///
/// Generation runs on a second thread, pipelined with the XML writer through
/// a bounded channel (a few batches in flight): the output is the same as a
/// serial run, memory stays bounded, and both cores work.
pub fn write_xml<W: Write>(opts: &GenOptions, out: W) -> io::Result<GenStats> {
    let g = Generator::new(opts);
    let header = g.header();
    let mut w = XmlFlowWriter::new(
        io::BufWriter::with_capacity(1 << 16, out),
        opts.tipo,
        &header,
    )?;
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<GenItem>>(4);
        let producer = scope.spawn(move || {
            let mut g = g;
            let mut batch = Vec::with_capacity(BATCH);
            while let Some(item) = g.next() {
                batch.push(item);
                if batch.len() == BATCH
                    && tx
                        .send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))
                        .is_err()
                {
                    // The writer failed and hung up: stop generating.
                    return g.stats;
                }
            }
            if !batch.is_empty() {
                let _ = tx.send(batch);
            }
            g.stats
        });
        let written = (|| -> io::Result<()> {
            for batch in &rx {
                for item in &batch {
                    match item {
                        GenItem::Beneficiario {
                            beneficiario,
                            prestazioni,
                        } => {
                            let refs: Vec<&PrestazioniSociali> = prestazioni.iter().collect();
                            w.write_beneficiario(beneficiario, &refs)?;
                        }
                        GenItem::Sinba(s) => w.write_sinba(s)?,
                    }
                }
            }
            Ok(())
        })();
        drop(rx);
        let stats = match producer.join() {
            Ok(stats) => stats,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        written?;
        let mut buf = w.finish()?;
        buf.flush()?;
        Ok(stats)
    })
}
