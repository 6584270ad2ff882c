//! The byte source under quick-xml: a `BufRead` adapter that turns any input
//! into what an XML 1.0 processor must see, and refuses hostile input early.
//!
//! - Encoding: UTF-8 (BOM optional), UTF-16LE/BE with BOM, or a declared
//!   ISO-8859-1 / windows-1252, transcoded to UTF-8 while streaming.
//! - Validity: bytes are valid UTF-8 and every character is an XML 1.0 `Char`
//!   (so quick-xml, names and values never see a control character).
//! - Line ends: CRLF and lone CR become LF (XML 1.0 §2.11), so attribute
//!   normalisation and line counting only deal with LF.
//! - Limits: the reader marks each event boundary; a single node (tag, text,
//!   comment, DOCTYPE) longer than `max_markup_bytes` stops the stream
//!   without being buffered.
//!
//! A problem is delivered as an I/O error exactly when the reader reaches the
//! offending byte, so every event before it is still processed in order; the
//! typed [`Fault`] is then taken from the adapter.

use std::io::{self, BufRead, Read};

const CHUNK: usize = 64 * 1024;

/// Encoding in force, as detected from the BOM or the declaration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Enc {
    Utf8,
    Utf8Bom,
    Utf16,
    Latin1,
    Windows1252,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FaultKind {
    /// Not decodable in the encoding in force.
    Encoding,
    /// A character outside XML 1.0 `Char`.
    Char,
    /// A node longer than `max_markup_bytes`.
    Limit,
}

#[derive(Debug, Clone)]
pub(crate) struct Fault {
    pub kind: FaultKind,
    pub line: u64,
    pub message: String,
}

enum Decode {
    Utf8,
    Latin1,
    Rs(encoding_rs::Decoder),
}

pub(crate) struct Input<R> {
    src: R,
    decode: Decode,
    pub enc: Enc,
    /// Raw bytes read while sniffing the encoding, to be decoded first.
    head: Vec<u8>,
    head_pos: usize,
    /// Incomplete UTF-8 sequence held back from the previous chunk.
    carry: Vec<u8>,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    src_eof: bool,
    /// The previous chunk ended with CR (already turned into LF): drop a leading LF.
    after_cr: bool,
    pending: Option<(FaultKind, String)>,
    pub fault: Option<Fault>,
    /// 1-based line of the next unconsumed byte.
    line: u64,
    run: usize,
    max_run: usize,
}

impl<R: BufRead> Input<R> {
    pub fn new(src: R, max_run: usize) -> Self {
        let mut me = Input {
            src,
            decode: Decode::Utf8,
            enc: Enc::Utf8,
            head: Vec::new(),
            head_pos: 0,
            carry: Vec::new(),
            buf: Vec::with_capacity(CHUNK * 2 + 8),
            pos: 0,
            end: 0,
            src_eof: false,
            after_cr: false,
            pending: None,
            fault: None,
            line: 1,
            run: 0,
            max_run,
        };
        me.sniff();
        me
    }

    pub fn line(&self) -> u64 {
        self.line
    }

    /// Marks an event boundary: the node-length counter restarts.
    pub fn mark(&mut self) {
        self.run = 0;
    }

    /// Reads up to 1 KiB to find a BOM or the `encoding` of the declaration.
    fn sniff(&mut self) {
        let mut tmp = [0u8; 1024];
        let mut n = 0;
        loop {
            match self.src.read(&mut tmp[n..]) {
                Ok(0) => {
                    self.src_eof = true;
                    break;
                }
                Ok(k) => {
                    n += k;
                    let got = &tmp[..n];
                    // Enough when a BOM is visible or the declaration is complete/absent.
                    if n == tmp.len()
                        || (n >= 4 && !got.starts_with(b"<?xml"))
                        || memchr::memmem::find(got, b"?>").is_some()
                    {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.pending = Some((
                        FaultKind::Encoding,
                        format!("Lettura del file non riuscita: {e}"),
                    ));
                    break;
                }
            }
        }
        let head = &tmp[..n];
        let (enc, skip) = if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
            (Enc::Utf8Bom, 3)
        } else if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
            (Enc::Utf16, 2)
        } else if head.starts_with(&[0x3C, 0x00]) || head.starts_with(&[0x00, 0x3C]) {
            self.pending = Some((
                FaultKind::Encoding,
                "Codifica non supportata: i file UTF-16 devono iniziare con il BOM; usare preferibilmente UTF-8"
                    .to_string(),
            ));
            (Enc::Utf8, 0)
        } else {
            match declared_encoding(head) {
                None => (Enc::Utf8, 0),
                Some(label) => match classify_label(label) {
                    Some(Enc::Latin1) => (Enc::Latin1, 0),
                    Some(Enc::Windows1252) => (Enc::Windows1252, 0),
                    Some(Enc::Utf8 | Enc::Utf8Bom) => (Enc::Utf8, 0),
                    Some(Enc::Utf16) | None => {
                        self.pending = Some((
                            FaultKind::Encoding,
                            format!(
                                "Codifica dichiarata non supportata: '{}'. Usare UTF-8 (oppure UTF-16 con BOM, ISO-8859-1, windows-1252)",
                                truncate(&String::from_utf8_lossy(label), 40)
                            ),
                        ));
                        (Enc::Utf8, 0)
                    }
                },
            }
        };
        self.enc = enc;
        self.decode = match enc {
            Enc::Utf8 | Enc::Utf8Bom => Decode::Utf8,
            Enc::Latin1 => Decode::Latin1,
            Enc::Windows1252 => {
                Decode::Rs(encoding_rs::WINDOWS_1252.new_decoder_without_bom_handling())
            }
            Enc::Utf16 => Decode::Rs(if head[0] == 0xFF {
                encoding_rs::UTF_16LE.new_decoder_without_bom_handling()
            } else {
                encoding_rs::UTF_16BE.new_decoder_without_bom_handling()
            }),
        };
        self.head = head[skip..].to_vec();
    }

    /// Produces the next chunk of validated UTF-8 into `buf` (all consumed before).
    fn refill(&mut self) -> io::Result<()> {
        self.buf.clear();
        self.pos = 0;
        self.end = 0;
        loop {
            let from_head = self.head_pos < self.head.len();
            // UTF-8 from the source: read straight into `buf` (a `BufReader`
            // then skips its own buffer), saving a copy of the whole file.
            if !from_head && matches!(self.decode, Decode::Utf8) {
                if !self.src_eof {
                    self.buf.extend_from_slice(&self.carry);
                    self.carry.clear();
                    let start = self.buf.len();
                    self.buf.resize(start + CHUNK, 0);
                    let n = loop {
                        match self.src.read(&mut self.buf[start..]) {
                            Ok(n) => break n,
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                            Err(e) => {
                                self.buf.truncate(start);
                                return Err(e);
                            }
                        }
                    };
                    self.buf.truncate(start + n);
                    if n == 0 {
                        self.src_eof = true;
                    }
                }
                let last = self.src_eof;
                self.validate_utf8(last);
                self.check_chars();
                self.normalise_eol();
                if !self.buf.is_empty() || last || self.pending.is_some() {
                    break;
                }
                continue;
            }
            // Raw input: the sniffed head first, then the source.
            let raw: &[u8] = if from_head {
                &self.head[self.head_pos..]
            } else if self.src_eof {
                &[]
            } else {
                match self.src.fill_buf() {
                    Ok(b) => b,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            };
            let raw = &raw[..raw.len().min(CHUNK)];
            let last = raw.is_empty();
            let used = raw.len();
            let mut bad = false;
            match &mut self.decode {
                Decode::Utf8 => {
                    self.buf.extend_from_slice(&self.carry);
                    self.carry.clear();
                    self.buf.extend_from_slice(raw);
                }
                Decode::Latin1 => {
                    let start = self.buf.len();
                    self.buf.resize(start + raw.len() * 2, 0);
                    let w = encoding_rs::mem::convert_latin1_to_utf8(raw, &mut self.buf[start..]);
                    self.buf.truncate(start + w);
                }
                Decode::Rs(d) => {
                    let start = self.buf.len();
                    let cap = d
                        .max_utf8_buffer_length_without_replacement(raw.len())
                        .unwrap_or(raw.len() * 3 + 16);
                    self.buf.resize(start + cap, 0);
                    let (res, read, written) =
                        d.decode_to_utf8_without_replacement(raw, &mut self.buf[start..], last);
                    self.buf.truncate(start + written);
                    debug_assert_eq!(read, raw.len());
                    if let encoding_rs::DecoderResult::Malformed(_, _) = res {
                        bad = true;
                    }
                }
            }
            if from_head {
                self.head_pos += used;
            } else if !last {
                self.src.consume(used);
            } else {
                self.src_eof = true;
            }
            if bad {
                let msg = format!(
                    "Il file contiene byte non validi per la codifica {}",
                    enc_name(self.enc)
                );
                self.pending = Some((FaultKind::Encoding, msg));
                break;
            }
            if let Decode::Utf8 = self.decode {
                self.validate_utf8(last);
            }
            self.check_chars();
            self.normalise_eol();
            if !self.buf.is_empty() || last || self.pending.is_some() {
                break;
            }
        }
        self.end = self.buf.len();
        Ok(())
    }

    /// Keeps an incomplete trailing sequence for the next chunk; truncates
    /// at the first invalid one.
    fn validate_utf8(&mut self, last: bool) {
        // The ASCII prefix needs no decoding check.
        let skip = self
            .buf
            .iter()
            .position(|&c| c >= 0x80)
            .unwrap_or(self.buf.len());
        if let Err(e) = std::str::from_utf8(&self.buf[skip..]) {
            let k = skip + e.valid_up_to();
            if e.error_len().is_none() && !last {
                self.carry.extend_from_slice(&self.buf[k..]);
                self.buf.truncate(k);
            } else {
                self.buf.truncate(k);
                self.pending = Some((
                    FaultKind::Encoding,
                    "Il file non è UTF-8 valido: salvarlo in UTF-8 oppure dichiarare la codifica usata (es. encoding=\"ISO-8859-1\")".to_string(),
                ));
            }
        }
    }

    /// Truncates `buf` before the first character outside XML 1.0 `Char`.
    fn check_chars(&mut self) {
        let b = &self.buf;
        let ctl = find_control(b);
        let mut bad = ctl;
        // U+FFFE / U+FFFF are EF BF BE / EF BF BF.
        let lim = bad.unwrap_or(b.len());
        for i in memchr::memchr_iter(0xEF, &b[..lim]) {
            if b.get(i + 1) == Some(&0xBF) && matches!(b.get(i + 2), Some(0xBE | 0xBF)) {
                bad = Some(i);
                break;
            }
        }
        if let Some(i) = bad {
            let msg = if b[i] == 0xEF {
                "Il file contiene un carattere non ammesso in XML (U+FFFE/U+FFFF)".to_string()
            } else {
                format!(
                    "Il file contiene un carattere di controllo non ammesso in XML (codice {:#04x})",
                    b[i]
                )
            };
            self.buf.truncate(i);
            self.carry.clear();
            self.pending = Some((FaultKind::Char, msg));
        }
    }

    /// CRLF → LF, lone CR → LF, in place.
    fn normalise_eol(&mut self) {
        let b = &mut self.buf;
        if self.after_cr {
            if b.first() == Some(&b'\n') {
                b.remove(0);
                self.after_cr = false;
            } else if !b.is_empty() {
                self.after_cr = false;
            }
        }
        let Some(first) = memchr::memchr(b'\r', b) else {
            return;
        };
        let mut w = first;
        let mut r = first;
        while r < b.len() {
            let c = b[r];
            if c == b'\r' {
                b[w] = b'\n';
                w += 1;
                r += 1;
                if r == b.len() {
                    self.after_cr = true;
                } else if b[r] == b'\n' {
                    r += 1;
                }
            } else {
                b[w] = c;
                w += 1;
                r += 1;
            }
        }
        b.truncate(w);
    }

    fn fault_now(&mut self) -> io::Error {
        let (kind, message) = self
            .pending
            .take()
            .unwrap_or((FaultKind::Encoding, String::new()));
        self.fault = Some(Fault {
            kind,
            line: self.line,
            message,
        });
        io::Error::other("xml input fault")
    }
}

impl<R: BufRead> Read for Input<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Input<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.fault.is_some() {
            return Err(io::Error::other("xml input fault"));
        }
        if self.run > self.max_run {
            self.pending = Some((
                FaultKind::Limit,
                format!(
                    "Un tag, un attributo o un testo supera il limite di sicurezza di {} byte: il file non è un flusso valido",
                    self.max_run
                ),
            ));
            return Err(self.fault_now());
        }
        if self.pos == self.end {
            if self.pending.is_some() {
                return Err(self.fault_now());
            }
            self.refill()?;
            if self.pos == self.end && self.pending.is_some() {
                return Err(self.fault_now());
            }
        }
        Ok(&self.buf[self.pos..self.end])
    }

    fn consume(&mut self, amt: usize) {
        let amt = amt.min(self.end - self.pos);
        let s = &self.buf[self.pos..self.pos + amt];
        // Slices are short (one event): a plain loop beats memchr's set-up.
        self.line += s.iter().filter(|&&c| c == b'\n').count() as u64;
        self.run += amt;
        self.pos += amt;
    }
}

/// First byte below 0x20 other than TAB, LF, CR.
fn find_control(b: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut chunks = b.chunks_exact(8);
    let mut base = 0;
    for c in &mut chunks {
        let x = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        // Some byte < 0x20 (SWAR "has less than"), then look closer.
        if (x.wrapping_sub(LO * 0x20) & !x & HI) != 0
            && let Some(p) = c
                .iter()
                .position(|&c| c < 0x20 && c != b'\t' && c != b'\n' && c != b'\r')
        {
            return Some(base + p);
        }
        base += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&c| c < 0x20 && c != b'\t' && c != b'\n' && c != b'\r')
        .map(|p| base + p)
}

/// The `encoding` pseudo-attribute of a leading XML declaration, if any.
fn declared_encoding(head: &[u8]) -> Option<&[u8]> {
    if !head.starts_with(b"<?xml") {
        return None;
    }
    let end = memchr::memmem::find(head, b"?>")?;
    let decl = &head[5..end];
    let at = memchr::memmem::find(decl, b"encoding")?;
    let mut rest = &decl[at + 8..];
    let ws = |r: &mut &[u8]| {
        while let [b' ' | b'\t' | b'\n' | b'\r', tail @ ..] = *r {
            *r = tail;
        }
    };
    ws(&mut rest);
    rest = rest.strip_prefix(b"=")?;
    ws(&mut rest);
    let q = *rest.first()?;
    if q != b'"' && q != b'\'' {
        return None;
    }
    let rest = &rest[1..];
    let close = memchr::memchr(q, rest)?;
    Some(&rest[..close])
}

/// Maps an encoding label to what we support; `None` when unsupported.
pub(crate) fn classify_label(label: &[u8]) -> Option<Enc> {
    let l = String::from_utf8_lossy(label).to_ascii_lowercase();
    match l.as_str() {
        "utf-8" | "utf8" | "us-ascii" | "ascii" => Some(Enc::Utf8),
        "iso-8859-1" | "iso8859-1" | "iso_8859-1" | "latin1" | "latin-1" | "l1" => {
            Some(Enc::Latin1)
        }
        "windows-1252" | "cp1252" | "x-cp1252" => Some(Enc::Windows1252),
        "utf-16" | "utf-16le" | "utf-16be" | "utf16" => Some(Enc::Utf16),
        _ => None,
    }
}

fn enc_name(e: Enc) -> &'static str {
    match e {
        Enc::Utf8 | Enc::Utf8Bom => "UTF-8",
        Enc::Utf16 => "UTF-16",
        Enc::Latin1 => "ISO-8859-1",
        Enc::Windows1252 => "windows-1252",
    }
}

/// Truncates a value for a message (~`max` characters).
pub(crate) fn truncate(s: &str, max: usize) -> String {
    let mut it = s.char_indices();
    match it.nth(max) {
        None => s.to_string(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8]) -> (Vec<u8>, Option<Fault>) {
        let mut i = Input::new(input, 1 << 20);
        let mut out = Vec::new();
        loop {
            match i.fill_buf() {
                Ok([]) => break,
                Ok(b) => {
                    let n = b.len();
                    out.extend_from_slice(b);
                    i.consume(n);
                }
                Err(_) => break,
            }
        }
        (out, i.fault)
    }

    #[test]
    fn eol_and_bom() {
        assert_eq!(all(b"\xEF\xBB\xBFa\r\nb\rc\n").0, b"a\nb\nc\n");
        let (o, f) = all(b"ab\x01c");
        assert_eq!(o, b"ab");
        assert_eq!(f.map(|f| f.kind), Some(FaultKind::Char));
        let (o, f) = all(b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>\xE8</a>");
        assert!(f.is_none());
        assert_eq!(
            String::from_utf8(o).unwrap_or_default(),
            "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>è</a>"
        );
        let (_, f) = all(b"<a>\xE8</a>");
        assert_eq!(f.map(|f| f.kind), Some(FaultKind::Encoding));
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("<a>è\r\n</a>".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert_eq!(all(&utf16).0, "<a>è\n</a>".as_bytes());
    }
}
