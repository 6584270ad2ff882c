//! Input side of the pipeline: a reader that hashes and counts what it reads,
//! format detection, and the choice of the flow reader.

use casellario_formats::csv::CsvFlowReader;
use casellario_formats::xml::XmlFlowReader;
use casellario_formats::{FlowItem, ReadError, ReadOptions};
use sha2::{Digest, Sha256};
use std::io::{self, BufRead, Read};
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

/// What the read stage has read so far: SHA-256 and byte count.
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
    /// Counts and hashes `bytes` (input read without the read stage).
    pub fn add(&self, bytes: &[u8]) {
        if let Ok(mut h) = self.hasher.lock() {
            h.update(bytes);
        }
        self.bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
    }
    pub fn counter(&self) -> Arc<AtomicU64> {
        self.bytes.clone()
    }
}

/// Block size of the read stage.
const BLOCK: usize = 1 << 20;

/// The read stage, on its own thread: reads the raw input in blocks, hashes
/// them (SHA-256, the flow's identity) and hands them over, so the parser's
/// thread does neither the system calls nor the hashing.
pub fn read_stage<R: Read>(
    mut input: R,
    size_hint: Option<u64>,
    tally: ReadTally,
    out: crossbeam_channel::Sender<io::Result<Vec<u8>>>,
    recycled: crossbeam_channel::Receiver<Vec<u8>>,
) {
    // A small input of known size (one-record flows of the machine
    // channels) is read whole into one small block: zeroing 1 MiB blocks
    // would cost more than parsing it.
    let block = size_hint.map_or(BLOCK, |n| {
        usize::try_from(n).map_or(BLOCK, |n| n.saturating_add(1).clamp(4096, BLOCK))
    });
    loop {
        let mut buf = recycled.try_recv().unwrap_or_default();
        buf.resize(block, 0);
        let n = loop {
            match input.read(&mut buf) {
                Ok(n) => break Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => break Err(e),
            }
        };
        match n {
            Ok(0) => return,
            Ok(n) => {
                buf.truncate(n);
                if let Ok(mut h) = tally.hasher.lock() {
                    h.update(&buf);
                }
                tally.bytes.fetch_add(n as u64, Ordering::Relaxed);
                if out.send(Ok(buf)).is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = out.send(Err(e));
                return;
            }
        }
    }
}

/// The parser's side of the read stage: a `BufRead` over the blocks.
pub struct ChannelReader {
    blocks: crossbeam_channel::Receiver<io::Result<Vec<u8>>>,
    recycle: crossbeam_channel::Sender<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
    done: bool,
}

impl ChannelReader {
    pub fn new(
        blocks: crossbeam_channel::Receiver<io::Result<Vec<u8>>>,
        recycle: crossbeam_channel::Sender<Vec<u8>>,
    ) -> Self {
        ChannelReader {
            blocks,
            recycle,
            cur: Vec::new(),
            pos: 0,
            done: false,
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for ChannelReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos == self.cur.len() && !self.done {
            match self.blocks.recv() {
                Ok(Ok(block)) => {
                    let old = std::mem::replace(&mut self.cur, block);
                    let _ = self.recycle.try_send(old);
                    self.pos = 0;
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                Err(_) => self.done = true,
            }
        }
        Ok(&self.cur[self.pos..])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.cur.len());
    }
}

/// A flow reader of either format.
pub type ItemReader<'a> = Box<dyn Iterator<Item = Result<FlowItem, ReadError>> + 'a>;

/// Builds the reader for `input`, detecting the format when asked to.
pub fn open_reader<'a, R: BufRead + 'a>(
    input: R,
    format: InputFormat,
    opts: ReadOptions,
) -> Result<ItemReader<'a>, ReadError> {
    let mut buf = input;
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
