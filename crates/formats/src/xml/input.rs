//! The character source of the tokenizer: turns any input into what an XML
//! 1.0 processor must see, appended in large chunks to the tokenizer's
//! window, and refuses hostile input early.
//!
//! - Encoding: UTF-8 (BOM optional), UTF-16LE/BE with BOM, or a declared
//!   ISO-8859-1 / windows-1252, transcoded to UTF-8 while streaming.
//! - Validity: bytes are valid UTF-8 and every character is an XML 1.0 `Char`
//!   (so quick-xml, names and values never see a control character).
//! - Line ends: CRLF and lone CR become LF (XML 1.0 §2.11), so attribute
//!   normalisation and line counting only deal with LF.
//!
//! A problem stops the delivery just before the offending byte: the
//! tokenizer reports the typed [`Fault`] when it needs a byte past it, so
//! every event before it is still processed in order.

use std::io::{self, BufRead};

/// Bytes asked of the source per read.
const CHUNK: usize = 256 * 1024;
/// First read window: small flows (one record, as the machine channels send)
/// should not pay for zeroing a big window; it doubles up to [`CHUNK`]
/// while reads fill it.
const FIRST_CHUNK: usize = 16 * 1024;

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
    src_eof: bool,
    /// Nothing more to deliver.
    done: bool,
    /// The previous chunk ended with CR (already turned into LF): drop a leading LF.
    after_cr: bool,
    pending: Option<(FaultKind, String)>,
    /// Size of the next read straight from the source.
    chunk: usize,
}

impl<R: BufRead> Input<R> {
    pub fn new(src: R) -> Self {
        let mut me = Input {
            src,
            decode: Decode::Utf8,
            enc: Enc::Utf8,
            head: Vec::new(),
            head_pos: 0,
            carry: Vec::new(),
            src_eof: false,
            done: false,
            after_cr: false,
            pending: None,
            chunk: FIRST_CHUNK,
        };
        me.sniff();
        me
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

    /// Appends the next chunk of input, validated and normalised, to `win`
    /// (which stays valid UTF-8). `Ok(false)` when nothing more comes: the
    /// end of the input, or a fault (then [`Input::take_fault`] has it).
    pub fn fill(&mut self, win: &mut String) -> io::Result<bool> {
        if self.pending.is_some() || self.done {
            return Ok(false);
        }
        let mut v = std::mem::take(win).into_bytes();
        let start = v.len();
        let r = self.fill_bytes(&mut v, start);
        // One validation of the new bytes (the old ones are known valid).
        *win = match String::from_utf8(v) {
            Ok(s) => s,
            Err(e) => {
                let k = e.utf8_error().valid_up_to();
                let mut v = e.into_bytes();
                v.truncate(k);
                self.carry.clear();
                self.pending = Some((FaultKind::Encoding, NOT_UTF8.to_string()));
                String::from_utf8(v).unwrap_or_default()
            }
        };
        r?;
        if win.len() == start && self.pending.is_none() {
            self.done = true;
        }
        Ok(win.len() > start)
    }

    /// The fault met, if any, with the line where it is (given by the caller).
    pub fn take_fault(&mut self, line: u64) -> Option<Fault> {
        let (kind, message) = self.pending.take()?;
        Some(Fault {
            kind,
            line,
            message,
        })
    }

    /// Appends bytes to `v` from `start`: Char/EOL checks done, incomplete
    /// trailing UTF-8 sequence kept back (validity is checked by the caller).
    fn fill_bytes(&mut self, v: &mut Vec<u8>, start: usize) -> io::Result<()> {
        loop {
            let from_head = self.head_pos < self.head.len();
            // UTF-8 from the source: read straight into the window (a
            // `BufReader` then skips its own buffer).
            if !from_head && matches!(self.decode, Decode::Utf8) {
                v.extend_from_slice(&self.carry);
                self.carry.clear();
                if !self.src_eof {
                    let at = v.len();
                    let chunk = self.chunk;
                    v.resize(at + chunk, 0);
                    let n = loop {
                        match self.src.read(&mut v[at..]) {
                            Ok(n) => break n,
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                            Err(e) => {
                                v.truncate(at);
                                return Err(e);
                            }
                        }
                    };
                    v.truncate(at + n);
                    if n == 0 {
                        self.src_eof = true;
                    } else if n == chunk {
                        self.chunk = (chunk * 2).min(CHUNK);
                    }
                }
                let last = self.src_eof;
                self.check_chars(v, start);
                self.hold_tail(v, start, last);
                self.normalise_eol(v, start);
                if v.len() > start || last || self.pending.is_some() {
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
                    v.extend_from_slice(&self.carry);
                    self.carry.clear();
                    v.extend_from_slice(raw);
                }
                Decode::Latin1 => {
                    let at = v.len();
                    v.resize(at + raw.len() * 2, 0);
                    let w = encoding_rs::mem::convert_latin1_to_utf8(raw, &mut v[at..]);
                    v.truncate(at + w);
                }
                Decode::Rs(d) => {
                    let at = v.len();
                    let cap = d
                        .max_utf8_buffer_length_without_replacement(raw.len())
                        .unwrap_or(raw.len() * 3 + 16);
                    v.resize(at + cap, 0);
                    // On malformed input the decoder stops early: the
                    // fault ends the stream there.
                    let (res, _read, written) =
                        d.decode_to_utf8_without_replacement(raw, &mut v[at..], last);
                    v.truncate(at + written);
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
            self.check_chars(v, start);
            if let Decode::Utf8 = self.decode {
                self.hold_tail(v, start, last);
            }
            self.normalise_eol(v, start);
            if v.len() > start || last || self.pending.is_some() {
                break;
            }
        }
        Ok(())
    }

    /// Keeps an incomplete trailing UTF-8 sequence for the next chunk
    /// (unless the input ends or stops here: then it is an error, found by
    /// the caller's validation).
    fn hold_tail(&mut self, v: &mut Vec<u8>, start: usize, last: bool) {
        if last || self.pending.is_some() {
            return;
        }
        let n = v.len();
        // The last lead byte among the final three.
        for back in 1..=3.min(n - start) {
            let c = v[n - back];
            if c < 0x80 {
                return;
            }
            if c >= 0xC0 {
                let need = if c >= 0xF0 {
                    4
                } else if c >= 0xE0 {
                    3
                } else {
                    2
                };
                if need > back {
                    self.carry.extend_from_slice(&v[n - back..]);
                    v.truncate(n - back);
                }
                return;
            }
        }
    }

    /// Truncates `v` before the first character outside XML 1.0 `Char`
    /// (from `start`).
    fn check_chars(&mut self, v: &mut Vec<u8>, start: usize) {
        let b = &v[start..];
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
            v.truncate(start + i);
            self.carry.clear();
            self.pending = Some((FaultKind::Char, msg));
        }
    }

    /// CRLF → LF, lone CR → LF, in place (from `start`).
    fn normalise_eol(&mut self, v: &mut Vec<u8>, start: usize) {
        if self.after_cr {
            if v.get(start) == Some(&b'\n') {
                v.remove(start);
                self.after_cr = false;
            } else if v.len() > start {
                self.after_cr = false;
            }
        }
        let Some(first) = memchr::memchr(b'\r', &v[start..]) else {
            return;
        };
        let b = &mut v[start..];
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
        v.truncate(start + w);
    }
}

const NOT_UTF8: &str = "Il file non è UTF-8 valido: salvarlo in UTF-8 oppure dichiarare la codifica usata (es. encoding=\"ISO-8859-1\")";

/// First byte below 0x20 other than TAB, LF, CR.
fn find_control(b: &[u8]) -> Option<usize> {
    fn bad(c: u8) -> bool {
        c < 0x20 && c != b'\t' && c != b'\n' && c != b'\r'
    }
    // Branch-free test of 64 bytes at a time (vectorised), then look closer.
    let mut chunks = b.chunks_exact(64);
    let mut base = 0;
    for c in &mut chunks {
        let mut m = 0u8;
        for &x in c {
            m |= u8::from(bad(x));
        }
        if m != 0 {
            return c.iter().position(|&x| bad(x)).map(|p| base + p);
        }
        base += 64;
    }
    chunks
        .remainder()
        .iter()
        .position(|&x| bad(x))
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
        let mut i = Input::new(input);
        let mut win = String::new();
        while let Ok(true) = i.fill(&mut win) {}
        (win.into_bytes(), i.take_fault(0))
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
