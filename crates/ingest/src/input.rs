//! Input side of the pipeline: a reader that hashes and counts what it reads,
//! format detection, and the choice of the flow reader.

use casellario_formats::csv::CsvFlowReader;
use casellario_formats::xml::XmlFlowReader;
use casellario_formats::{FlowItem, ReadError, ReadOptions};
use sha2::{Digest, Sha256};
use std::io::{self, BufRead, BufReader, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Format of an input file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InputFormat {
    /// Decide from the first bytes: `<` (after a BOM and whitespace) means XML.
    #[default]
    Auto,
    Xml,
    Csv,
}

/// Shared state of a [`HashingReader`]: SHA-256 and byte count of everything read.
#[derive(Clone, Default)]
pub struct ReadTally {
    hasher: Arc<Mutex<Sha256>>,
    bytes: Arc<AtomicU64>,
}

impl ReadTally {
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
    /// The digest of what was read so far (the whole input once the reader is drained).
    pub fn sha256(&self) -> [u8; 32] {
        let h = self.hasher.lock().map(|h| h.clone()).unwrap_or_default();
        h.finalize().into()
    }
    pub fn counter(&self) -> Arc<AtomicU64> {
        self.bytes.clone()
    }
}

/// Wraps the raw input so the flow's content hash is computed in the same
/// pass as parsing (no second read of a file that may be gigabytes).
pub struct HashingReader<R> {
    inner: R,
    tally: ReadTally,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R, tally: ReadTally) -> Self {
        HashingReader { inner, tally }
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            if let Ok(mut h) = self.tally.hasher.lock() {
                h.update(&buf[..n]);
            }
            self.tally.bytes.fetch_add(n as u64, Ordering::Relaxed);
        }
        Ok(n)
    }
}

/// A flow reader of either format.
pub type ItemReader<'a> = Box<dyn Iterator<Item = Result<FlowItem, ReadError>> + 'a>;

/// Builds the reader for `input`, detecting the format when asked to.
pub fn open_reader<'a, R: Read + 'a>(
    input: R,
    tally: ReadTally,
    format: InputFormat,
    opts: ReadOptions,
) -> Result<ItemReader<'a>, ReadError> {
    let mut buf = BufReader::with_capacity(256 * 1024, HashingReader::new(input, tally));
    let format = match format {
        InputFormat::Auto => detect(&mut buf)?,
        f => f,
    };
    Ok(match format {
        InputFormat::Csv => Box::new(CsvFlowReader::new(buf, opts)),
        _ => Box::new(XmlFlowReader::new(buf, opts)),
    })
}

fn detect<R: BufRead>(r: &mut R) -> Result<InputFormat, ReadError> {
    let head = r.fill_buf()?;
    let mut s = head;
    for bom in [&b"\xEF\xBB\xBF"[..], b"\xFF\xFE", b"\xFE\xFF"] {
        if let Some(rest) = s.strip_prefix(bom) {
            if bom.len() == 2 {
                // UTF-16 is only defined for XML here.
                return Ok(InputFormat::Xml);
            }
            s = rest;
        }
    }
    let first = s.iter().find(|b| !b.is_ascii_whitespace());
    Ok(match first {
        Some(b'<') | None => InputFormat::Xml,
        Some(_) => InputFormat::Csv,
    })
}
