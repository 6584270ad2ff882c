//! Streaming CSV reader: bytes → rows (csv-core, fixed-size buffers) → typed
//! records through the same checked setters as the XML reader.

use super::layout::*;
use crate::{FlowHeader, FlowItem, ParsedRecord, ReadError, ReadOptions};
use casellario_domain::catalogue::{
    FORMATO_SCONOSCIUTO, RuleDef, XML_LIMITE, XML_MALFORMATO, XSD_ATTRIBUTO_MANCANTE,
    XSD_ATTRIBUTO_NON_PREVISTO, XSD_ELEMENTO_MANCANTE, XSD_VALORE,
};
use casellario_domain::codes::{ComposizioneFamiglia, InvCiv};
use casellario_domain::model::{
    Beneficiario, IdentificazioneFlusso, Indirizzo, PrestazioniSociali, PsRecord, Record, Sina,
    Sinba, XsdElement, XsdValue,
};
use casellario_domain::xsd::FacetError;
use casellario_domain::{FlowType, Profile, Violation};
use std::borrow::Cow;
use std::collections::VecDeque;
use std::io::{BufRead, ErrorKind};
use std::sync::Arc;

/// Longest cell, in bytes as read (before unquoting).
pub const MAX_FIELD_BYTES: usize = 64 * 1024;
/// Most fields in one row: far above any layout, it only bounds the `ends`
/// buffer of a hostile row.
const MAX_FIELDS: usize = 4096;

/// Streaming reader of a CSV flow (layout in `docs/TRACCIATO_CSV.md`).
///
/// Yields the [`FlowItem::Header`] built from the first data row, then one
/// [`FlowItem::Record`] per data row. Memory is bounded by the row limit
/// (`opts.limits.max_markup_bytes`), whatever the input.
pub struct CsvFlowReader<R: BufRead> {
    lex: Lexer<R>,
    opts: ReadOptions,
    /// Layout ordinal → index of the column in the file (`None`: column absent).
    map: Vec<Option<usize>>,
    b: Option<Builder>,
    pending: VecDeque<FlowItem>,
    /// Rows with a wrong field count met before the first usable row: they
    /// must come after the header, which that row provides.
    early: Vec<ParsedRecord>,
    pos: u64,
    done: bool,
}

impl<R: BufRead> CsvFlowReader<R> {
    pub fn new(input: R, opts: ReadOptions) -> Self {
        let max_row = opts.limits.max_markup_bytes.max(1);
        CsvFlowReader {
            lex: Lexer {
                inner: input,
                pre: Vec::new(),
                pre_pos: 0,
                csv: csv_core::Reader::new(),
                delim: b';',
                out: vec![0; 8 * 1024],
                ends: vec![0; 128],
                raw: Vec::new(),
                nf: 0,
                row: 0,
                max_row,
                max_field: MAX_FIELD_BYTES.min(max_row),
                text: String::new(),
                bounds: Vec::new(),
            },
            opts,
            map: Vec::new(),
            b: None,
            pending: VecDeque::new(),
            early: Vec::new(),
            pos: 0,
            done: false,
        }
    }

    /// Reads the header row: separator, flow type and column mapping.
    fn start(&mut self) -> Result<(), ReadError> {
        self.lex.peek_first_line()?;
        let first = self
            .lex
            .pre
            .strip_prefix(b"\xEF\xBB\xBF")
            .unwrap_or(&self.lex.pre);
        // Italian Excel writes `;`; other tools `,` or TAB. Column names never
        // contain any of them, so the header row tells which one is in use.
        let delim = if first.contains(&b';') {
            b';'
        } else if first.contains(&b'\t') {
            b'\t'
        } else if first.contains(&b',') {
            b','
        } else {
            b';'
        };
        self.lex.delim = delim;
        self.lex.csv = csv_core::ReaderBuilder::new().delimiter(delim).build();
        if !self.lex.next_record()? {
            return Err(fatal(
                &FORMATO_SCONOSCIUTO,
                "",
                "Il file CSV è vuoto: manca la riga di intestazione.".into(),
                1,
            ));
        }
        let names: Vec<&str> = self
            .lex
            .bounds
            .iter()
            .map(|&(a, b)| self.lex.text[a..b].trim_start_matches('\u{feff}').trim())
            .collect();
        let has = |n: &str| names.contains(&n);
        let tipo = match self.opts.expected {
            Some(t) => t,
            None => match (has("CodiceFiscale"), has("IDBeneficiario")) {
                (true, false) => FlowType::PsPsaSina,
                (false, true) => FlowType::Sinba,
                (true, true) => {
                    return Err(fatal(
                        &FORMATO_SCONOSCIUTO,
                        "",
                        "L'intestazione contiene sia CodiceFiscale (tracciato PS_PSA_SINA) sia IDBeneficiario \
                         (tracciato SINBA): un file CSV contiene un solo tipo di flusso."
                            .into(),
                        1,
                    ));
                }
                (false, false) => {
                    return Err(fatal(
                        &FORMATO_SCONOSCIUTO,
                        "",
                        "La prima riga deve essere l'intestazione con i nomi delle colonne: manca sia la colonna \
                         CodiceFiscale (tracciato PS_PSA_SINA) sia IDBeneficiario (tracciato SINBA)."
                            .into(),
                        1,
                    ));
                }
            },
        };
        let cols = layout(tipo);
        let mut map = vec![None; cols.len()];
        let mut unnamed = Vec::new();
        for (h, name) in names.iter().enumerate() {
            if name.is_empty() {
                unnamed.push(h);
                continue;
            }
            let Some(i) = cols.iter().position(|c| c.name == *name) else {
                return Err(fatal(
                    &FORMATO_SCONOSCIUTO,
                    name,
                    format!(
                        "Colonna {} dell'intestazione: \"{}\" non è una colonna del tracciato CSV {} (i nomi \
                         distinguono maiuscole e minuscole; l'elenco è in TRACCIATO_CSV.md). Il file è respinto \
                         perché i valori di una colonna sconosciuta andrebbero persi.",
                        h + 1,
                        shown(name),
                        tipo.wire()
                    ),
                    1,
                ));
            };
            if map[i].is_some() {
                return Err(fatal(
                    &FORMATO_SCONOSCIUTO,
                    name,
                    format!(
                        "La colonna {name} compare più volte nell'intestazione (colonna {}).",
                        h + 1
                    ),
                    1,
                ));
            }
            map[i] = Some(h);
        }
        let nfields = names.len();
        self.map = map;
        self.b = Some(Builder {
            tipo,
            cols,
            unnamed,
            nfields,
            flow: None,
            prev: None,
            header_line: 0,
        });
        Ok(())
    }

    fn step(&mut self) -> Result<Option<FlowItem>, ReadError> {
        if self.b.is_none() {
            self.start()?;
        }
        loop {
            if !self.lex.next_record()? {
                let Some(b) = &self.b else { return Ok(None) };
                if b.flow.is_none() {
                    let msg = if self.early.is_empty() {
                        "Il file CSV contiene solo l'intestazione: nessuna riga di dati."
                            .to_string()
                    } else {
                        format!(
                            "Nessuna riga di dati ha il numero di colonne dell'intestazione ({}): controllare il \
                             separatore e le virgolette.",
                            b.nfields
                        )
                    };
                    return Err(fatal(
                        &casellario_domain::catalogue::FLUSSO_VUOTO,
                        "",
                        msg,
                        self.lex.row.max(1),
                    ));
                }
                return Ok(None);
            }
            let Some(b) = &mut self.b else {
                return Ok(None);
            };
            let row = Row {
                text: &self.lex.text,
                bounds: &self.lex.bounds,
                map: &self.map,
            };
            if row.blank() {
                // Excel writes `;;;;` for formatted but empty rows.
                continue;
            }
            self.pos += 1;
            let line = self.lex.row;
            if self.lex.nf != b.nfields {
                b.prev = None;
                let rec = b.malformed(self.lex.nf, line, self.pos);
                if b.flow.is_none() {
                    self.early.push(rec);
                    if self.early.len() > self.opts.limits.max_buffered_records {
                        return Err(fatal(
                            &XML_LIMITE,
                            "riga",
                            format!(
                                "Le prime {} righe di dati non hanno il numero di colonne dell'intestazione ({}): \
                                 controllare il separatore e le virgolette.",
                                self.early.len(),
                                b.nfields
                            ),
                            line,
                        ));
                    }
                    continue;
                }
                return Ok(Some(FlowItem::Record(Box::new(rec))));
            }
            if b.flow.is_none() {
                let h = b.header(&row, line);
                let rec = b.record(&row, line, self.pos);
                self.pending
                    .extend(self.early.drain(..).map(|r| FlowItem::Record(Box::new(r))));
                self.pending.push_back(FlowItem::Record(Box::new(rec)));
                return Ok(Some(FlowItem::Header(h)));
            }
            return Ok(Some(FlowItem::Record(Box::new(
                b.record(&row, line, self.pos),
            ))));
        }
    }
}

impl<R: BufRead> Iterator for CsvFlowReader<R> {
    type Item = Result<FlowItem, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(it) = self.pending.pop_front() {
            return Some(Ok(it));
        }
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(it)) => Some(Ok(it)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                self.pending.clear();
                Some(Err(e))
            }
        }
    }
}

/// Bytes → decoded rows, with bounded buffers.
struct Lexer<R> {
    inner: R,
    /// The header line, read ahead to pick the separator before parsing.
    pre: Vec<u8>,
    pre_pos: usize,
    csv: csv_core::Reader,
    delim: u8,
    out: Vec<u8>,
    ends: Vec<usize>,
    /// The current row as read (quotes included): needed to tell an
    /// unterminated quote at end of file.
    raw: Vec<u8>,
    /// Fields of the current row.
    nf: usize,
    /// CSV row number of the current row (header = 1).
    row: u64,
    max_row: usize,
    max_field: usize,
    /// The current row decoded (UTF-8, or Windows-1252 when not UTF-8).
    text: String,
    bounds: Vec<(usize, usize)>,
}

impl<R: BufRead> Lexer<R> {
    fn fill(inner: &mut R) -> Result<&[u8], ReadError> {
        loop {
            match inner.fill_buf() {
                Ok(_) => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(inner.fill_buf()?)
    }

    fn peek_first_line(&mut self) -> Result<(), ReadError> {
        loop {
            let buf = Self::fill(&mut self.inner)?;
            if buf.is_empty() {
                return Ok(());
            }
            if let Some(i) = memchr::memchr2(b'\n', b'\r', buf) {
                self.pre.extend_from_slice(&buf[..=i]);
                self.inner.consume(i + 1);
                return Ok(());
            }
            let n = buf.len();
            self.pre.extend_from_slice(buf);
            self.inner.consume(n);
            if self.pre.len() > self.max_row {
                return Err(self.too_long_row());
            }
        }
    }

    fn too_long_row(&self) -> ReadError {
        fatal(
            &XML_LIMITE,
            "riga",
            format!(
                "La riga {} supera il limite di {} byte: controllare che le virgolette siano chiuse.",
                self.row + 1,
                self.max_row
            ),
            self.row + 1,
        )
    }

    /// Reads the next row into `text`/`bounds`; `false` at end of input.
    fn next_record(&mut self) -> Result<bool, ReadError> {
        use csv_core::ReadRecordResult as R;
        self.raw.clear();
        let (mut olen, mut elen) = (0, 0);
        loop {
            let from_pre = self.pre_pos < self.pre.len();
            let input: &[u8] = if from_pre {
                &self.pre[self.pre_pos..]
            } else {
                Self::fill(&mut self.inner)?
            };
            let at_eof = input.is_empty();
            let (res, nin, nout, nend) =
                self.csv
                    .read_record(input, &mut self.out[olen..], &mut self.ends[elen..]);
            self.raw.extend_from_slice(&input[..nin]);
            if from_pre {
                self.pre_pos += nin;
            } else {
                self.inner.consume(nin);
            }
            olen += nout;
            elen += nend;
            if self.raw.len() > self.max_row {
                return Err(self.too_long_row());
            }
            match res {
                R::InputEmpty if at_eof => return Ok(false),
                R::InputEmpty => {}
                R::OutputFull => {
                    let n = self.out.len() * 2;
                    self.out.resize(n, 0);
                }
                R::OutputEndsFull => {
                    if self.ends.len() >= MAX_FIELDS {
                        return Err(fatal(
                            &XML_LIMITE,
                            "riga",
                            format!("La riga {} ha più di {MAX_FIELDS} campi.", self.row + 1),
                            self.row + 1,
                        ));
                    }
                    let n = self.ends.len() * 2;
                    self.ends.resize(n, 0);
                }
                R::Record => {
                    self.row += 1;
                    self.nf = elen;
                    if at_eof && unterminated_quote(&self.raw, self.delim) {
                        return Err(fatal(
                            &XML_MALFORMATO,
                            "riga",
                            format!(
                                "Riga {}: virgolette aperte e mai chiuse; il campo prosegue fino alla fine del file.",
                                self.row
                            ),
                            self.row,
                        ));
                    }
                    self.decode(olen, elen)?;
                    return Ok(true);
                }
                R::End => {
                    self.pre = Vec::new();
                    return Ok(false);
                }
            }
        }
    }

    fn decode(&mut self, olen: usize, elen: usize) -> Result<(), ReadError> {
        let data = &self.out[..olen];
        let ends = &self.ends[..elen];
        self.text.clear();
        self.bounds.clear();
        let mut start = 0;
        for (i, &e) in ends.iter().enumerate() {
            if e - start > self.max_field {
                return Err(fatal(
                    &XML_LIMITE,
                    "riga",
                    format!(
                        "Riga {}, colonna {}: il valore supera {} byte (virgolette non chiuse?).",
                        self.row,
                        i + 1,
                        self.max_field
                    ),
                    self.row,
                ));
            }
            start = e;
        }
        start = 0;
        // The delimiters are gone from `data`, so a row can be valid UTF-8 as
        // a whole while a cell boundary cuts a character in two (a `;`
        // inside a BOM): such a row is not UTF-8 text and is decoded per cell.
        let utf8 = std::str::from_utf8(data)
            .ok()
            .filter(|s| ends.iter().all(|&e| s.is_char_boundary(e)));
        if let Some(s) = utf8 {
            self.text.push_str(s);
            for &e in ends {
                self.bounds.push((start, e));
                start = e;
            }
        } else {
            // Excel's "CSV (delimitato dal separatore di elenco)" writes the
            // ANSI code page, Windows-1252 in an Italian locale.
            for &e in ends {
                let (s, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(&data[start..e]);
                let a = self.text.len();
                self.text.push_str(&s);
                self.bounds.push((a, self.text.len()));
                start = e;
            }
        }
        // Cells are trimmed once here: every later access is a plain slice.
        let bytes = self.text.as_bytes();
        let visible = |c: u8| c > b' ' && c < 0x80;
        for (a, b) in &mut self.bounds {
            // Fast path: most cells start and end with a visible ASCII byte.
            if *a == *b || (visible(bytes[*a]) && visible(bytes[*b - 1])) {
                continue;
            }
            let cell = &self.text[*a..*b];
            let t = cell.trim_start();
            *a += cell.len() - t.len();
            *b = *a + t.trim_end().len();
        }
        Ok(())
    }
}

/// Whether a row that ended at end of input is still inside a quoted field
/// (csv-core accepts that silently, swallowing every later row).
fn unterminated_quote(raw: &[u8], delim: u8) -> bool {
    #[derive(PartialEq)]
    enum S {
        Start,
        Field,
        Quoted,
        QuoteInQuoted,
    }
    let mut s = S::Start;
    for &b in raw {
        s = match s {
            S::Start if b == b'"' => S::Quoted,
            S::Start if b == delim || b == b'\r' || b == b'\n' => S::Start,
            S::Start => S::Field,
            S::Field if b == delim => S::Start,
            S::Field => S::Field,
            S::Quoted if b == b'"' => S::QuoteInQuoted,
            S::Quoted => S::Quoted,
            S::QuoteInQuoted if b == b'"' => S::Quoted,
            S::QuoteInQuoted if b == delim => S::Start,
            S::QuoteInQuoted => S::Field,
        };
    }
    s == S::Quoted
}

/// A decoded row seen through the layout.
struct Row<'a> {
    text: &'a str,
    bounds: &'a [(usize, usize)],
    map: &'a [Option<usize>],
}

impl<'a> Row<'a> {
    /// The trimmed cell of layout column `i` ("" when absent).
    #[inline]
    fn get(&self, i: usize) -> &'a str {
        match self.map[i] {
            Some(h) => self.cell(h),
            None => "",
        }
    }
    #[inline]
    fn cell(&self, h: usize) -> &'a str {
        self.bounds.get(h).map_or("", |&(a, b)| &self.text[a..b])
    }
    fn has_column(&self, i: usize) -> bool {
        self.map[i].is_some()
    }
    fn any(&self, r: std::ops::Range<usize>) -> bool {
        r.into_iter().any(|i| !self.get(i).is_empty())
    }
    fn blank(&self) -> bool {
        self.bounds.iter().all(|&(a, b)| a == b)
    }
}

/// The last beneficiary built, shared by the following rows with the same
/// beneficiary columns.
struct Prev {
    key: Vec<String>,
    benef: Arc<Beneficiario>,
    violations: Vec<Violation>,
}

/// Rows → typed records.
struct Builder {
    tipo: FlowType,
    cols: Vec<Column>,
    /// File columns without a name (tolerated while empty).
    unnamed: Vec<usize>,
    nfields: usize,
    /// Flow identification of the first data row.
    flow: Option<[String; 5]>,
    header_line: u64,
    prev: Option<Prev>,
}

#[derive(Clone, Copy)]
struct ElemPath {
    base: &'static str,
    idx: Option<usize>,
}

impl ElemPath {
    const fn of(base: &'static str) -> ElemPath {
        ElemPath { base, idx: None }
    }
    fn attr(&self, name: &str) -> String {
        match self.idx {
            Some(i) => format!("{}[{i}]/@{name}", self.base),
            None => format!("{}/@{name}", self.base),
        }
    }
}

impl Builder {
    fn header(&mut self, row: &Row, line: u64) -> FlowHeader {
        let mut v = Vec::new();
        let mut id = IdentificazioneFlusso::default();
        fill(
            &mut id,
            row,
            0,
            &self.cols,
            ElemPath::of("IdentificazioneFlusso"),
            line,
            &mut v,
        );
        fill(
            &mut id.ente,
            row,
            1,
            &self.cols,
            ElemPath::of("IdentificazioneFlusso/Ente"),
            line,
            &mut v,
        );
        self.flow = Some(std::array::from_fn(|i| row.get(i).to_owned()));
        self.header_line = line;
        FlowHeader {
            tipo: self.tipo,
            identificazione: id,
            violations: v,
            line,
        }
    }

    fn malformed(&self, nf: usize, line: u64, pos: u64) -> ParsedRecord {
        let v = viol(
            &XSD_VALORE,
            "riga".into(),
            format!(
                "La riga ha {nf} campi invece dei {} dell'intestazione: controllare separatori e virgolette. La riga \
                 è scartata.",
                self.nfields
            ),
            line,
        );
        ParsedRecord {
            pos,
            line,
            record: self.empty_record(),
            violations: vec![v],
        }
    }

    fn empty_record(&self) -> Record {
        match self.tipo {
            FlowType::PsPsaSina => Record::Ps(PsRecord {
                beneficiario: Arc::new(Beneficiario::default()),
                prestazione: PrestazioniSociali::default(),
            }),
            FlowType::Sinba => Record::Sinba(Sinba::default()),
        }
    }

    fn record(&mut self, row: &Row, line: u64, pos: u64) -> ParsedRecord {
        let mut v = Vec::new();
        self.check_flow(row, line, &mut v);
        for &h in &self.unnamed {
            let c = row.cell(h);
            if !c.is_empty() {
                v.push(viol(
                    &XSD_ATTRIBUTO_NON_PREVISTO,
                    format!("colonna {}", h + 1),
                    format!(
                        "La colonna {} non ha nome nell'intestazione ma contiene \"{}\": dare un nome alla colonna o \
                         svuotarla.",
                        h + 1,
                        shown(c)
                    ),
                    line,
                ));
            }
        }
        let record = match self.tipo {
            FlowType::PsPsaSina => Record::Ps(self.ps(row, line, &mut v)),
            FlowType::Sinba => Record::Sinba(self.sinba(row, line, &mut v)),
        };
        ParsedRecord {
            pos,
            line,
            record,
            violations: v,
        }
    }

    fn check_flow(&self, row: &Row, line: u64, out: &mut Vec<Violation>) {
        let Some(flow) = &self.flow else { return };
        if let Some(i) = (0..FLOW_COLS.len()).find(|&i| row.get(i) != flow[i]) {
            out.push(viol(
                &XSD_VALORE,
                "IdentificazioneFlusso".into(),
                format!(
                    "L'identificazione del flusso (NomeFlusso, CodiceEnte, DenominazioneEnte, IndirizzoEnte, \
                     CFOperatore) deve essere la stessa su ogni riga: qui {} vale \"{}\", nella riga {} vale \"{}\".",
                    FLOW_COLS[i],
                    shown(row.get(i)),
                    self.header_line,
                    shown(&flow[i])
                ),
                line,
            ));
        }
    }

    fn ps(&mut self, row: &Row, line: u64, v: &mut Vec<Violation>) -> PsRecord {
        let prev = match self.prev.take() {
            Some(p)
                if p.key
                    .iter()
                    .enumerate()
                    .all(|(k, s)| row.get(PS_CF + k) == s) =>
            {
                p
            }
            old => self.beneficiario(row, line, old),
        };
        let beneficiario = Arc::clone(&prev.benef);
        v.extend(prev.violations.iter().map(|x| Violation {
            line: Some(line),
            ..x.clone()
        }));
        self.prev = Some(prev);

        let mut p = PrestazioniSociali::default();
        fill(
            &mut p,
            row,
            PS_PREST,
            &self.cols,
            ElemPath::of("PrestazioniSociali"),
            line,
            v,
        );
        if row.any(PS_SINA..PS_LEN) {
            let mut s = Sina::default();
            fill(
                &mut s,
                row,
                PS_SINA,
                &self.cols,
                ElemPath::of("PrestazioniSociali/SINA"),
                line,
                v,
            );
            s.necessita_interventi_sociali = list::<String>(
                row.get(PS_NECESSITA),
                &self.cols[PS_NECESSITA],
                "PrestazioniSociali/SINA/NecessitaInterventiSociali/CodicePrestazione",
                line,
                v,
            );
            s.invalidita_civile = list::<InvCiv>(
                row.get(PS_INVCIV),
                &self.cols[PS_INVCIV],
                "PrestazioniSociali/SINA/InvaliditaCivile/InvCiv",
                line,
                v,
            );
            p.sina = Some(s);
        }
        PsRecord {
            beneficiario,
            prestazione: p,
        }
    }

    /// A new beneficiary from the row (reusing the key buffers of `old`).
    fn beneficiario(&self, row: &Row, line: u64, old: Option<Prev>) -> Prev {
        let mut key = old.map(|p| p.key).unwrap_or_default();
        key.resize(PS_PREST - PS_CF, String::new());
        for (k, s) in key.iter_mut().enumerate() {
            s.clear();
            s.push_str(row.get(PS_CF + k));
        }
        let mut v = Vec::new();
        let mut b = Beneficiario::default();
        fill(
            &mut b,
            row,
            PS_CF,
            &self.cols,
            ElemPath::of("Beneficiario"),
            line,
            &mut v,
        );
        fill(
            &mut b.anagrafica,
            row,
            PS_ANAG,
            &self.cols,
            ElemPath::of("Beneficiario/Anagrafica"),
            line,
            &mut v,
        );
        let width = Indirizzo::ATTRS.len();
        for n in 0..MAX_INDIRIZZI {
            let first = PS_IND + n * width;
            if row.any(first..first + width) {
                let mut ind = Indirizzo::default();
                let path = ElemPath {
                    base: "Beneficiario/Indirizzo",
                    idx: Some(n + 1),
                };
                fill(&mut ind, row, first, &self.cols, path, line, &mut v);
                b.indirizzi.push(ind);
            }
        }
        if b.indirizzi.is_empty() {
            v.push(viol(
                &XSD_ELEMENTO_MANCANTE,
                "Beneficiario/Indirizzo".into(),
                "Manca la residenza del beneficiario: compilare almeno CodiceNazione (e, per l'Italia, \
                 CodiceRegione e CodiceComune)."
                    .into(),
                line,
            ));
        }
        Prev {
            key,
            benef: Arc::new(b),
            violations: v,
        }
    }

    fn sinba(&self, row: &Row, line: u64, v: &mut Vec<Violation>) -> Sinba {
        let mut s = Sinba::default();
        fill(
            &mut s,
            row,
            SB_ATTRS,
            &self.cols,
            ElemPath::of("SINBA"),
            line,
            v,
        );
        for (i, path, elem) in [
            (
                SB_PRESTAZIONI,
                "SINBA/Prestazioni/CodicePrestazione",
                "SINBA/Prestazioni",
            ),
            (
                SB_FAMIGLIA,
                "SINBA/Famiglia/ComposizioneFamiglia",
                "SINBA/Famiglia",
            ),
        ] {
            let cell = row.get(i);
            let col = &self.cols[i];
            if cell.is_empty() {
                v.push(viol(
                    &XSD_ELEMENTO_MANCANTE,
                    elem.into(),
                    format!(
                        "{} (più codici separati da |).",
                        missing_text(col, row.has_column(i))
                    ),
                    line,
                ));
            } else if i == SB_PRESTAZIONI {
                s.prestazioni = list::<String>(cell, col, path, line, v).unwrap_or_default();
            } else {
                s.famiglia =
                    list::<ComposizioneFamiglia>(cell, col, path, line, v).unwrap_or_default();
            }
        }
        s
    }
}

/// Sets the attributes of `el` from the layout block starting at `first`
/// (block order = `E::ATTRS` order) and reports facet errors and missing
/// required attributes exactly as the XML reader does.
fn fill<E: XsdElement>(
    el: &mut E,
    row: &Row,
    first: usize,
    cols: &[Column],
    path: ElemPath,
    line: u64,
    out: &mut Vec<Violation>,
) {
    let mut seen = 0u64;
    for (k, decl) in E::ATTRS.iter().enumerate() {
        let raw = row.get(first + k);
        if raw.is_empty() {
            continue;
        }
        let col = &cols[first + k];
        let val = convert(col.conv, raw);
        if let Some((i, res)) = el.set_attr(decl.name, &val) {
            // Present but invalid is a value error, not a missing attribute.
            seen |= 1 << i;
            if let Err(e) = res {
                out.push(viol(
                    &XSD_VALORE,
                    path.attr(decl.name),
                    value_text(col, raw, &e, None),
                    line,
                ));
            }
        }
    }
    if E::ATTRS
        .iter()
        .enumerate()
        .any(|(i, a)| a.required && seen & (1 << i) == 0)
    {
        for (k, decl) in E::ATTRS.iter().enumerate() {
            if decl.required && seen & (1 << k) == 0 {
                let text = format!(
                    "{}.",
                    missing_text(&cols[first + k], row.has_column(first + k))
                );
                out.push(viol(
                    &XSD_ATTRIBUTO_MANCANTE,
                    path.attr(decl.name),
                    text,
                    line,
                ));
            }
        }
    }
}

/// A `|`-separated list cell; `None` when empty (wrapper element absent).
fn list<T: XsdValue>(
    cell: &str,
    col: &Column,
    path: &str,
    line: u64,
    out: &mut Vec<Violation>,
) -> Option<Vec<T>> {
    if cell.is_empty() {
        return None;
    }
    let mut items = Vec::new();
    for (k, item) in cell.split(LIST_SEP).enumerate() {
        let item = item.trim();
        match T::parse_as(&col.ty, item) {
            Ok(t) => items.push(t),
            Err(e) => out.push(viol(
                &XSD_VALORE,
                format!("{path}[{}]", k + 1),
                value_text(col, item, &e, Some(k + 1)),
                line,
            )),
        }
    }
    Some(items)
}

/// Spreadsheet notations accepted on top of the XSD lexical forms.
fn convert(conv: Conv, raw: &str) -> Cow<'_, str> {
    let b = raw.as_bytes();
    match conv {
        Conv::Decimal if b.contains(&b',') && !b.contains(&b'.') => {
            Cow::Owned(raw.replace(',', "."))
        }
        // Cheap pre-check: an ISO date has no `/` in its first three bytes.
        Conv::Date if b.iter().take(3).any(|&c| c == b'/') => match italian_date(raw) {
            Some(d) => Cow::Owned(d),
            None => Cow::Borrowed(raw),
        },
        _ => Cow::Borrowed(raw),
    }
}

/// `G/M/AAAA` or `GG/MM/AAAA` → `AAAA-MM-GG` (existence is left to `xs:date`).
fn italian_date(raw: &str) -> Option<String> {
    let mut parts = raw.split('/');
    let (d, m, y) = (parts.next()?, parts.next()?, parts.next()?);
    let digits = |s: &str, lens: std::ops::RangeInclusive<usize>| {
        lens.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
    };
    if parts.next().is_some() || !digits(d, 1..=2) || !digits(m, 1..=2) || !digits(y, 4..=4) {
        return None;
    }
    Some(format!("{y}-{m:0>2}-{d:0>2}"))
}

fn value_text(col: &Column, raw: &str, e: &FacetError, item: Option<usize>) -> String {
    let which = match item {
        Some(k) => format!("Colonna {}, codice n. {k}", col.name),
        None => format!("Colonna {}", col.name),
    };
    let extra = match col.conv {
        Conv::Decimal => " (nel CSV è ammessa anche la virgola, es. 101,23)",
        Conv::Date => " (nel CSV anche GG/MM/AAAA)",
        Conv::None if item.is_some() => " (più codici separati da |)",
        Conv::None => "",
    };
    format!(
        "{which}: il valore \"{}\" non è valido ({e}); atteso: {}{extra}.",
        shown(raw),
        col.ty.describe()
    )
}

fn missing_text(col: &Column, has_column: bool) -> String {
    if has_column {
        format!(
            "Colonna {}: valore obbligatorio mancante (atteso: {})",
            col.name,
            col.ty.describe()
        )
    } else {
        format!(
            "Manca la colonna obbligatoria {} (atteso: {})",
            col.name,
            col.ty.describe()
        )
    }
}

/// A value as quoted in messages: bounded, since a cell may be 64 KiB.
fn shown(s: &str) -> Cow<'_, str> {
    const MAX: usize = 80;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => Cow::Owned(format!("{}…", &s[..i])),
        None => Cow::Borrowed(s),
    }
}

fn viol(rule: &RuleDef, field: String, message: String, line: u64) -> Violation {
    Violation {
        line: Some(line),
        ..rule.violation(Profile::Strict, field, message)
    }
}

fn fatal(rule: &RuleDef, field: &str, message: String, line: u64) -> ReadError {
    ReadError::Invalid(viol(rule, field.to_owned(), message, line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(convert(Conv::Decimal, "101,23"), "101.23");
        assert_eq!(convert(Conv::Decimal, "1.265,23"), "1.265,23");
        assert_eq!(convert(Conv::Date, "1/2/2020"), "2020-02-01");
        assert_eq!(convert(Conv::Date, "14/10/2020"), "2020-10-14");
        assert_eq!(convert(Conv::Date, "14/10/20"), "14/10/20");
        assert_eq!(convert(Conv::None, "1,5"), "1,5");
    }

    #[test]
    fn quote_state() {
        assert!(unterminated_quote(b"a;\"b\nc", b';'));
        assert!(!unterminated_quote(b"a;\"b\"\"c\";d", b';'));
        assert!(!unterminated_quote(b"a;b\"c", b';'));
        assert!(unterminated_quote(b"\r\n\"x", b';'));
    }
}
