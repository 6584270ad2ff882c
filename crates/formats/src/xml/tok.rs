//! Zero-copy XML tokenizer over a sliding window of validated text.
//!
//! The window (`String`) receives large chunks from [`Input`] (decoded,
//! checked for UTF-8 and XML `Char`, line ends normalised: once per chunk,
//! not per event); tokens are slices of it. When a token straddles the end
//! of the window, the unread tail moves to the front and more input is
//! appended; a token longer than `max_markup_bytes` is refused, so memory
//! stays bounded.
//!
//! The token boundaries, the errors and their precedence are exactly those
//! of quick-xml's buffered reader (the previous engine, still used for the
//! rare `<!DOCTYPE`): start tags end at the first `>` outside quotes,
//! comments at the first `-->` after `<!--`, and so on. Start tags take a
//! fused fast path that also splits the attribute list; anything unusual
//! falls back to the general path (quick-xml's end search, then
//! [`lex::scan_attrs`]).

use super::input::{Enc, Fault, FaultKind, Input};
use super::lex::{self, LexError, RawAttr, VCLASS};
use quick_xml::errors::{Error as QError, IllFormedError, SyntaxError};
use quick_xml::parser::{ElementParser, Parser, PiParser};
use std::io::{self, BufRead};
use std::ops::Range;

/// A token, borrowed from the window.
pub(crate) enum Tok<'a> {
    Start {
        name: &'a str,
        /// Everything after the name (without `/` of an empty element).
        attrs_raw: &'a str,
        /// The attribute list, or why it is not well-formed.
        attrs: Result<&'a [RawAttr], LexError>,
        empty: bool,
    },
    /// An end tag (already matched against the open element).
    End,
    Text(&'a str),
    /// A reference in text: the name between `&` and `;`.
    Ref(&'a str),
    CData(&'a str),
    Comment(&'a str),
    Pi {
        target: &'a str,
    },
    /// The XML declaration: the content between `<?` and `?>`.
    Decl(&'a str),
    DocType,
    Eof,
}

/// Why the tokenizer stops.
pub(crate) enum LexErr {
    Fault(Fault),
    Xml(QError),
}

impl From<SyntaxError> for LexErr {
    fn from(e: SyntaxError) -> Self {
        LexErr::Xml(QError::Syntax(e))
    }
}

impl From<IllFormedError> for LexErr {
    fn from(e: IllFormedError) -> Self {
        LexErr::Xml(QError::IllFormed(e))
    }
}

/// A token as positions in the window (built before borrowing it).
enum Raw {
    Start {
        name: Range<usize>,
        attrs_raw: Range<usize>,
        attrs: Result<(), LexError>,
        empty: bool,
    },
    End,
    Text(Range<usize>),
    Ref(Range<usize>),
    CData(Range<usize>),
    Comment(Range<usize>),
    Pi(Range<usize>),
    Decl(Range<usize>),
    DocType,
    Eof,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum St {
    Init,
    Text,
    Done,
}

/// Outcome of the fast start-tag scan.
enum Fast {
    /// `>` at this offset (from `<`), element name ending at `name_end`.
    Done {
        gt: usize,
        name_end: usize,
        empty: bool,
        /// Line feeds inside the tag.
        nl: u64,
    },
    Slow,
    More,
}

const UTF8_BOM: &[u8] = &[0xEF, 0xBB, 0xBF];

/// ASCII bytes of the fast path's names: 1, or 2 for the colon.
static NAME: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.') {
            t[c] = 1;
        }
        c += 1;
    }
    t[b':' as usize] = 2;
    t
};

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Number of LF in `s`.
fn count_nl(s: &[u8]) -> u64 {
    let mut n = 0u64;
    let mut chunks = s.chunks_exact(8);
    for c in &mut chunks {
        let x = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])
            ^ 0x0A0A_0A0A_0A0A_0A0A;
        n += u64::from(zero_bytes(x).count_ones());
    }
    n + chunks.remainder().iter().filter(|&&c| c == b'\n').count() as u64
}

fn name_len(b: &[u8]) -> usize {
    b.iter().position(|&c| is_ws(c)).unwrap_or(b.len())
}

pub(crate) struct Lexer<R> {
    input: Input<R>,
    win: String,
    /// Next unread byte of `win`.
    pos: usize,
    state: St,
    /// No more input will come (end or fault).
    exhausted: bool,
    /// The fault that stopped the input (reported whenever more is needed).
    fault: Option<Fault>,
    /// Line of `win[line_pos]`.
    line: u64,
    line_pos: usize,
    max: usize,
    /// Names of the open elements (for end tags), concatenated.
    names: String,
    starts: Vec<usize>,
    attrs: Vec<RawAttr>,
    /// Attribute names met per element name, in document order.
    preds: Vec<Pred>,
}

/// The attribute names met on an element, merged in the order they come
/// (flows list them in XSD order, omitting some): the fast path tries them
/// with one comparison instead of a byte-by-byte scan.
struct Pred {
    elem: Box<[u8]>,
    /// Name, and whether it has no colon.
    names: Vec<(Box<[u8]>, bool)>,
}

const MAX_PREDS: usize = 16;
const MAX_PRED_NAMES: usize = 64;
const MAX_PRED_LEN: usize = 64;
const LO7: u64 = 0x7F7F_7F7F_7F7F_7F7F;

const fn rep(b: u8) -> u64 {
    u64::from_le_bytes([b; 8])
}

fn load8(c: &[u8]) -> u64 {
    u64::from_le_bytes(c.try_into().unwrap_or([0; 8]))
}

fn load4(c: &[u8]) -> u32 {
    u32::from_le_bytes(c.try_into().unwrap_or([0; 4]))
}

/// Equality of two slices, inline (names are short): whole words, the tail
/// as one word overlapping the previous one instead of byte by byte.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n >= 8 {
        let mut i = 0;
        while i + 8 < n {
            if load8(&a[i..i + 8]) != load8(&b[i..i + 8]) {
                return false;
            }
            i += 8;
        }
        load8(&a[n - 8..]) == load8(&b[n - 8..])
    } else if n >= 4 {
        load4(&a[..4]) == load4(&b[..4]) && load4(&a[n - 4..]) == load4(&b[n - 4..])
    } else {
        a == b
    }
}

/// High bit set exactly in the zero bytes of `x`.
fn zero_bytes(x: u64) -> u64 {
    !(((x & LO7).wrapping_add(LO7)) | x | LO7)
}

impl<R: BufRead> Lexer<R> {
    pub fn new(src: R, max: usize) -> Self {
        Lexer {
            input: Input::new(src),
            win: String::new(),
            pos: 0,
            state: St::Init,
            exhausted: false,
            fault: None,
            line: 1,
            line_pos: 0,
            max,
            names: String::new(),
            starts: Vec::new(),
            attrs: Vec::with_capacity(32),
            preds: Vec::new(),
        }
    }

    pub fn enc(&self) -> Enc {
        self.input.enc
    }

    /// Line of window position `p` (≥ the last asked).
    fn line_at(&mut self, p: usize) -> u64 {
        let s = self
            .win
            .as_bytes()
            .get(self.line_pos..p)
            .unwrap_or_default();
        self.line += count_nl(s);
        self.line_pos = p;
        self.line
    }

    /// Line of window position `p`, without moving the count.
    fn line_peek(&self, p: usize) -> u64 {
        let s = self.win.as_bytes();
        let p = p.min(s.len());
        self.line + count_nl(s.get(self.line_pos..p).unwrap_or_default())
    }

    /// Appends input after moving the unread tail to the front. `Ok(false)`
    /// at the end of the input; the fault when one stopped it.
    fn more(&mut self) -> Result<bool, LexErr> {
        if !self.exhausted {
            if self.pos > 0 {
                self.line_at(self.pos);
                self.win.drain(..self.pos);
                self.pos = 0;
                self.line_pos = 0;
            }
            match self.input.fill(&mut self.win) {
                Ok(true) => return Ok(true),
                Ok(false) => {
                    self.exhausted = true;
                    let line = self.line_peek(self.win.len());
                    self.fault = self.input.take_fault(line);
                }
                Err(e) => return Err(LexErr::Xml(QError::from(e))),
            }
        }
        match &self.fault {
            Some(f) => Err(LexErr::Fault(f.clone())),
            None => Ok(false),
        }
    }

    /// More input for the token starting at `pos`, within the size limit.
    fn need_more(&mut self) -> Result<bool, LexErr> {
        if self.win.len() - self.pos > self.max {
            return Err(self.limit());
        }
        self.more()
    }

    fn limit(&self) -> LexErr {
        let line = self.line_peek(self.pos + self.max + 1);
        LexErr::Fault(Fault {
            kind: FaultKind::Limit,
            line,
            message: format!(
                "Un tag, un attributo o un testo supera il limite di sicurezza di {} byte: il file non è un flusso valido",
                self.max
            ),
        })
    }

    /// The next token with the line where it starts.
    pub fn next_token(&mut self) -> (u64, Result<Tok<'_>, LexErr>) {
        let line = self.line_at(self.pos);
        match self.raw() {
            Ok(raw) => (line, Ok(self.borrow(raw))),
            Err(e) => (line, Err(e)),
        }
    }

    fn borrow(&self, raw: Raw) -> Tok<'_> {
        let w = self.win.as_str();
        match raw {
            Raw::Start {
                name,
                attrs_raw,
                attrs,
                empty,
            } => Tok::Start {
                name: &w[name],
                attrs_raw: &w[attrs_raw],
                attrs: attrs.map(|()| self.attrs.as_slice()),
                empty,
            },
            Raw::End => Tok::End,
            Raw::Text(r) => Tok::Text(&w[r]),
            Raw::Ref(r) => Tok::Ref(&w[r]),
            Raw::CData(r) => Tok::CData(&w[r]),
            Raw::Comment(r) => Tok::Comment(&w[r]),
            Raw::Pi(r) => {
                let c = &w[r];
                Tok::Pi {
                    target: &c[..name_len(c.as_bytes())],
                }
            }
            Raw::Decl(r) => Tok::Decl(&w[r]),
            Raw::DocType => Tok::DocType,
            Raw::Eof => Tok::Eof,
        }
    }

    fn raw(&mut self) -> Result<Raw, LexErr> {
        loop {
            match self.state {
                St::Init => {
                    // quick-xml drops a UTF-8 BOM at the start of what it reads.
                    while self.win.len() - self.pos < 3 {
                        match self.more() {
                            Ok(true) => {}
                            _ => break,
                        }
                    }
                    if self.win.as_bytes()[self.pos..].starts_with(UTF8_BOM) {
                        self.pos += 3;
                        self.line_pos = self.pos;
                    }
                    self.state = St::Text;
                }
                St::Done => return Ok(Raw::Eof),
                St::Text => {
                    if self.pos == self.win.len() && !self.more()? {
                        self.state = St::Done;
                        return Ok(Raw::Eof);
                    }
                    let r = match self.win.as_bytes()[self.pos] {
                        b'<' => self.markup(),
                        b'&' => self.reference(),
                        _ => self.text(),
                    };
                    if r.is_err() {
                        self.state = St::Done;
                    }
                    return r;
                }
            }
        }
    }

    fn text(&mut self) -> Result<Raw, LexErr> {
        loop {
            let b = &self.win.as_bytes()[self.pos..];
            // Most text is the line break and indentation between two tags.
            let found = match b.iter().take(16).position(|&c| c == b'<' || c == b'&') {
                Some(i) => Some(i),
                None if b.len() > 16 => memchr::memchr2(b'<', b'&', &b[16..]).map(|i| i + 16),
                None => None,
            };
            if let Some(i) = found {
                if i > self.max {
                    return Err(self.limit());
                }
                let r = self.pos..self.pos + i;
                self.pos += i;
                return Ok(Raw::Text(r));
            }
            if !self.need_more()? {
                let r = self.pos..self.win.len();
                self.pos = self.win.len();
                self.state = St::Done;
                return Ok(Raw::Text(r));
            }
        }
    }

    fn reference(&mut self) -> Result<Raw, LexErr> {
        loop {
            let b = &self.win.as_bytes()[self.pos + 1..];
            match memchr::memchr3(b';', b'&', b'<', b) {
                Some(i) if b[i] == b';' => {
                    let r = self.pos + 1..self.pos + 1 + i;
                    self.pos += i + 2;
                    return Ok(Raw::Ref(r));
                }
                Some(_) => return Err(IllFormedError::UnclosedReference.into()),
                None => {
                    if !self.need_more()? {
                        return Err(IllFormedError::UnclosedReference.into());
                    }
                }
            }
        }
    }

    fn markup(&mut self) -> Result<Raw, LexErr> {
        while self.win.len() - self.pos < 2 {
            if !self.more()? {
                return Err(SyntaxError::UnclosedTag.into());
            }
        }
        match self.win.as_bytes()[self.pos + 1] {
            b'!' => self.bang(),
            b'/' => self.end_tag(),
            b'?' => self.pi(),
            _ => self.start_tag(),
        }
    }

    /// Finds the end of a construct from `pos` with `find` (offset of its
    /// `>` from `pos`); on EOF, `eof` gives the error from the bytes read.
    fn until(
        &mut self,
        find: impl Fn(&[u8]) -> Option<usize>,
        eof: impl Fn(&[u8]) -> LexErr,
    ) -> Result<usize, LexErr> {
        loop {
            if let Some(gt) = find(&self.win.as_bytes()[self.pos..]) {
                if gt >= self.max {
                    return Err(self.limit());
                }
                return Ok(gt);
            }
            if !self.need_more()? {
                return Err(eof(&self.win.as_bytes()[self.pos..]));
            }
        }
    }

    fn bang(&mut self) -> Result<Raw, LexErr> {
        while self.win.len() - self.pos < 3 {
            if !self.more()? {
                return Err(SyntaxError::InvalidBangMarkup.into());
            }
        }
        match self.win.as_bytes()[self.pos + 2] {
            b'-' => {
                // The first `>` after at least `<!----` that follows `--`.
                let gt = self.until(
                    |b| {
                        memchr::memchr_iter(b'>', b)
                            .find(|&j| j > 5 && b[j - 2] == b'-' && b[j - 1] == b'-')
                    },
                    |_| SyntaxError::UnclosedComment.into(),
                )?;
                let p = self.pos;
                let b = &self.win.as_bytes()[p..=p + gt];
                if !b.starts_with(b"<!--") {
                    return Err(SyntaxError::UnclosedComment.into());
                }
                // No `--` inside (the closing `--` may be the second hyphen).
                let inner = &b[4..b.len() - 3];
                for (k, &c) in inner.iter().enumerate() {
                    if c == b'-' && b[4 + k + 1] == b'-' {
                        return Err(IllFormedError::DoubleHyphenInComment.into());
                    }
                }
                self.pos = p + gt + 1;
                Ok(Raw::Comment(p + 4..p + gt - 2))
            }
            b'[' => {
                let gt = self.until(
                    |b| {
                        memchr::memchr_iter(b'>', b)
                            .find(|&j| j >= 4 && b[j - 2] == b']' && b[j - 1] == b']')
                    },
                    |_| SyntaxError::UnclosedCData.into(),
                )?;
                let p = self.pos;
                if !self.win.as_bytes()[p..].starts_with(b"<![CDATA[") {
                    return Err(SyntaxError::UnclosedCData.into());
                }
                self.pos = p + gt + 1;
                Ok(Raw::CData(p + 9..p + gt - 2))
            }
            b'D' | b'd' => self.doctype(),
            _ => Err(SyntaxError::InvalidBangMarkup.into()),
        }
    }

    /// `<!DOCTYPE`: always refused, but the outcome (DTD, unclosed, no
    /// name) is quick-xml's, so it reads it.
    fn doctype(&mut self) -> Result<Raw, LexErr> {
        let mut stash = None;
        let res = {
            let src = Rest {
                lx: self,
                run: 0,
                stash: &mut stash,
            };
            let mut r = quick_xml::Reader::from_reader(src);
            let c = r.config_mut();
            c.check_comments = true;
            c.check_end_names = true;
            c.expand_empty_elements = false;
            c.trim_markup_names_in_closing_tags = true;
            let mut buf = Vec::new();
            match r.read_event_into(&mut buf) {
                Ok(quick_xml::events::Event::DocType(_)) => Ok(Raw::DocType),
                Ok(_) => Err(SyntaxError::UnclosedDoctype.into()),
                Err(e) => Err(LexErr::Xml(e)),
            }
        };
        match stash {
            Some(e) => Err(e),
            None => res,
        }
    }

    fn pi(&mut self) -> Result<Raw, LexErr> {
        let gt = self.until(
            |b| memchr::memchr_iter(b'>', b).find(|&j| j >= 2 && b[j - 1] == b'?'),
            |b| PiParser(false).eof_error(b).into(),
        )?;
        let p = self.pos;
        self.pos = p + gt + 1;
        let len = gt + 1;
        if len > 3 {
            let content = p + 2..p + gt - 1;
            let c = &self.win.as_bytes()[content.clone()];
            if c.starts_with(b"xml") && (c.len() == 3 || is_ws(c[3])) {
                Ok(Raw::Decl(content))
            } else {
                Ok(Raw::Pi(content))
            }
        } else {
            Err(PiParser(false)
                .eof_error(&self.win.as_bytes()[p..p + len])
                .into())
        }
    }

    /// quick-xml's tag end: the first `>` outside quotes, from `pos + 1`.
    fn tag_end(&mut self) -> Result<usize, LexErr> {
        loop {
            let mut parser = ElementParser::Outside;
            if let Some(i) = parser.feed(&self.win.as_bytes()[self.pos + 1..]) {
                if i + 1 >= self.max {
                    return Err(self.limit());
                }
                return Ok(i + 1);
            }
            if !self.need_more()? {
                return Err(parser.eof_error(&[]).into());
            }
        }
    }

    fn end_tag(&mut self) -> Result<Raw, LexErr> {
        let gt = self.tag_end()?;
        let p = self.pos;
        self.pos = p + gt + 1;
        let content = &self.win[p + 2..p + gt];
        let name = match content.bytes().rposition(|b| !is_ws(b)) {
            Some(e) => &content[..e + 1],
            None => content,
        };
        match self.starts.pop() {
            Some(s) => {
                if self.names[s..] != *name {
                    return Err(IllFormedError::MismatchedEndTag {
                        expected: self.names[s..].to_owned(),
                        found: name.to_owned(),
                    }
                    .into());
                }
                self.names.truncate(s);
                Ok(Raw::End)
            }
            None => Err(IllFormedError::UnmatchedEndTag(name.to_owned()).into()),
        }
    }

    fn start_tag(&mut self) -> Result<Raw, LexErr> {
        loop {
            let p = self.pos;
            match self.fast_start() {
                Fast::Done {
                    gt,
                    name_end,
                    empty,
                    nl,
                } => {
                    if gt >= self.max {
                        return Err(self.limit());
                    }
                    let name = p + 1..p + name_end;
                    let close = if empty { p + gt - 1 } else { p + gt };
                    let raw = self.opened(name, p + name_end..close, Ok(()), empty, gt);
                    // Lines counted on the way (the token started at `line_pos`).
                    self.line += nl;
                    self.line_pos = self.pos;
                    return Ok(raw);
                }
                Fast::Slow => break,
                Fast::More => {
                    if !self.need_more()? {
                        break;
                    }
                }
            }
        }
        // General path: quick-xml's tag end, then the attribute list.
        let gt = self.tag_end()?;
        let p = self.pos;
        let b = &self.win.as_bytes()[p + 1..=p + gt];
        let (inner, empty) = match b.strip_suffix(b"/>") {
            Some(c) => (c, true),
            None => (&b[..b.len() - 1], false),
        };
        let nl = name_len(inner);
        let name = p + 1..p + 1 + nl;
        let attrs_raw = p + 1 + nl..p + 1 + inner.len();
        let res = lex::scan_attrs(&self.win[attrs_raw.clone()], &mut self.attrs);
        Ok(self.opened(name, attrs_raw, res, empty, gt))
    }

    fn opened(
        &mut self,
        name: Range<usize>,
        attrs_raw: Range<usize>,
        attrs: Result<(), LexError>,
        empty: bool,
        gt: usize,
    ) -> Raw {
        self.pos += gt + 1;
        if !empty {
            self.starts.push(self.names.len());
            self.names.push_str(&self.win[name.clone()]);
        }
        Raw::Start {
            name,
            attrs_raw,
            attrs,
            empty,
        }
    }

    /// One pass over a plain start tag: `<Name (S Name S? = S? "value")* S? /?>`
    /// with ASCII names; attributes go to `self.attrs` (ranges from the end
    /// of the element name). Anything else is for the general path.
    fn fast_start(&mut self) -> Fast {
        let b = &self.win.as_bytes()[self.pos..];
        let n = b.len();
        let mut i = 1;
        while i < n && NAME[b[i] as usize] != 0 {
            i += 1;
        }
        if i == 1 {
            return Fast::Slow;
        }
        let name_end = i;
        let mut nl = 0u64;
        self.attrs.clear();
        let elem = &b[1..name_end];
        let mut pe = self.preds.iter().position(|p| *p.elem == *elem);
        if pe.is_none() && self.preds.len() < MAX_PREDS && elem.len() <= MAX_PRED_LEN {
            self.preds.push(Pred {
                elem: elem.into(),
                names: Vec::new(),
            });
            pe = Some(self.preds.len() - 1);
        }
        // Next expected name in the element's list.
        let mut cur = 0;
        loop {
            if i >= n {
                return Fast::More;
            }
            match b[i] {
                b'>' => {
                    return Fast::Done {
                        gt: i,
                        name_end,
                        empty: false,
                        nl,
                    };
                }
                b'/' => {
                    return match b.get(i + 1) {
                        None => Fast::More,
                        Some(b'>') => Fast::Done {
                            gt: i + 1,
                            name_end,
                            empty: true,
                            nl,
                        },
                        Some(_) => Fast::Slow,
                    };
                }
                c if is_ws(c) => {}
                _ => return Fast::Slow,
            }
            while i < n && is_ws(b[i]) {
                nl += u64::from(b[i] == b'\n');
                i += 1;
            }
            if i >= n {
                return Fast::More;
            }
            if matches!(b[i], b'>' | b'/') {
                continue;
            }
            let n0 = i;
            let mut colon = 0;
            let mut known = false;
            if let Some(e) = pe {
                let names = &self.preds[e].names;
                let k = names.len();
                // From the expected one on, then from the start.
                for j in (cur..k).chain(0..cur.min(k)) {
                    let (nm, plain) = &names[j];
                    let end = n0 + nm.len();
                    if end < n && NAME[b[end] as usize] == 0 && same_bytes(&b[n0..end], nm) {
                        i = end;
                        colon = if *plain { 0 } else { 2 };
                        cur = j + 1;
                        known = true;
                        break;
                    }
                }
            }
            if !known {
                while i < n {
                    let k = NAME[b[i] as usize];
                    if k == 0 {
                        break;
                    }
                    colon |= k;
                    i += 1;
                }
                if i == n0 {
                    return Fast::Slow;
                }
                if i < n
                    && let Some(e) = pe
                {
                    let names = &mut self.preds[e].names;
                    if names.len() < MAX_PRED_NAMES && i - n0 <= MAX_PRED_LEN {
                        let at = cur.min(names.len());
                        names.insert(at, (b[n0..i].into(), colon & 2 == 0));
                        cur = at + 1;
                    }
                }
            }
            let n1 = i;
            while i < n && is_ws(b[i]) {
                nl += u64::from(b[i] == b'\n');
                i += 1;
            }
            if i >= n {
                return Fast::More;
            }
            if b[i] != b'=' {
                return Fast::Slow;
            }
            i += 1;
            while i < n && is_ws(b[i]) {
                nl += u64::from(b[i] == b'\n');
                i += 1;
            }
            if i >= n {
                return Fast::More;
            }
            let qc = match b[i] {
                b'"' => 1,
                b'\'' => 2,
                _ => return Fast::Slow,
            };
            i += 1;
            let v0 = i;
            let mut special = false;
            let qv = rep(b[i - 1]);
            loop {
                // Eight bytes at a time to the next quote, `<`, `&` or TAB/LF/CR.
                while i + 8 <= n {
                    let c: [u8; 8] = b[i..i + 8].try_into().unwrap_or([b'<'; 8]);
                    let x = u64::from_le_bytes(c);
                    let m = zero_bytes(x ^ qv)
                        | zero_bytes(x ^ rep(b'<'))
                        | zero_bytes(x ^ rep(b'&'))
                        | zero_bytes(x & rep(0xE0));
                    if m != 0 {
                        i += (m.trailing_zeros() / 8) as usize;
                        break;
                    }
                    i += 8;
                }
                if i >= n {
                    return Fast::More;
                }
                match VCLASS[b[i] as usize] {
                    0 => {}
                    3 => return Fast::Slow,
                    4 => {
                        special = true;
                        nl += u64::from(b[i] == b'\n');
                    }
                    c if c == qc => break,
                    _ => {}
                }
                i += 1;
            }
            self.attrs.push(RawAttr {
                name: n0 - name_end..n1 - name_end,
                value: v0 - name_end..i - name_end,
                special,
                plain: colon & 2 == 0,
            });
            i += 1;
        }
    }
}

/// The rest of the input as a `BufRead`, for quick-xml (DOCTYPE only):
/// faults are stashed and surface as I/O errors, as under the old engine.
struct Rest<'a, R> {
    lx: &'a mut Lexer<R>,
    run: usize,
    stash: &'a mut Option<LexErr>,
}

impl<R: BufRead> io::Read for Rest<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Rest<'_, R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.stash.is_some() {
            return Err(io::Error::other("xml input fault"));
        }
        if self.lx.pos == self.lx.win.len() {
            if self.run > self.lx.max {
                *self.stash = Some(self.lx.limit());
                return Err(io::Error::other("xml input fault"));
            }
            match self.lx.more() {
                Ok(_) => {}
                Err(e) => {
                    *self.stash = Some(e);
                    return Err(io::Error::other("xml input fault"));
                }
            }
        }
        Ok(&self.lx.win.as_bytes()[self.lx.pos..])
    }

    fn consume(&mut self, amt: usize) {
        let amt = amt.min(self.lx.win.len() - self.lx.pos);
        self.run += amt;
        self.lx.pos += amt;
    }
}
