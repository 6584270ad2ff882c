//! The outcome log: one entry per record, kept in memory and spilled to an
//! anonymous temporary file past [`SPILL_BYTES`], so that the receipt of a
//! flow of any size is produced with bounded memory, and rendered once the
//! flow's totals are known. (Small flows never touch the disk: creating a
//! temporary file per one-record flow cost more than ingesting it.)

use casellario_domain::{CodiceEsito, Esito, Violation};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};

/// Outcome of one record, as it appears in the receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordOutcome {
    pub pos: u64,
    /// Line (XML) or row (CSV) where the record starts; 0 when unknown.
    pub line: u64,
    pub esito: Esito,
    pub codice: CodiceEsito,
    /// Version, cancellation or (for duplicates) live version id in the register.
    pub ref_id: Option<i64>,
    pub violations: Vec<Violation>,
}

pub struct OutcomeLog {
    mem: Vec<u8>,
    file: Option<BufWriter<File>>,
    entries: u64,
}

/// Entries kept in memory before the log moves to a temporary file.
const SPILL_BYTES: usize = 1 << 20;

fn esito_byte(e: Esito) -> u8 {
    match e {
        Esito::Accettato => 0,
        Esito::Duplicato => 1,
        Esito::Scartato => 2,
    }
}

fn codice_byte(c: CodiceEsito) -> u8 {
    match c {
        CodiceEsito::Ok => 0,
        CodiceEsito::DatiNonTrovati => 1,
        CodiceEsito::RichiestaInvalida => 2,
        CodiceEsito::ErroreGenerico => 3,
    }
}

impl OutcomeLog {
    pub fn new() -> io::Result<OutcomeLog> {
        Ok(OutcomeLog {
            mem: Vec::new(),
            file: None,
            entries: 0,
        })
    }

    pub fn len(&self) -> u64 {
        self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    pub fn push(&mut self, o: &RecordOutcome) -> io::Result<()> {
        // The fixed part in one write (one buffer check instead of five).
        let mut fixed = [0u8; 8 + 8 + 3 + 8 + 4];
        fixed[0..8].copy_from_slice(&o.pos.to_le_bytes());
        fixed[8..16].copy_from_slice(&o.line.to_le_bytes());
        fixed[16] = esito_byte(o.esito);
        fixed[17] = codice_byte(o.codice);
        fixed[18] = u8::from(o.ref_id.is_some());
        fixed[19..27].copy_from_slice(&o.ref_id.unwrap_or(0).to_le_bytes());
        if self.file.is_none() && self.mem.len() > SPILL_BYTES {
            let mut f = BufWriter::with_capacity(64 * 1024, tempfile::tempfile()?);
            f.write_all(&self.mem)?;
            self.mem = Vec::new();
            self.file = Some(f);
        }
        let w: &mut dyn Write = match &mut self.file {
            Some(f) => f,
            None => &mut self.mem,
        };
        if o.violations.is_empty() {
            w.write_all(&fixed)?;
        } else {
            let json = serde_json::to_vec(&o.violations).map_err(io::Error::other)?;
            let len = u32::try_from(json.len()).map_err(io::Error::other)?;
            fixed[27..31].copy_from_slice(&len.to_le_bytes());
            w.write_all(&fixed)?;
            w.write_all(&json)?;
        }
        self.entries += 1;
        Ok(())
    }

    /// Reads every entry back in order.
    pub fn replay(&mut self, f: &mut dyn FnMut(RecordOutcome) -> io::Result<()>) -> io::Result<()> {
        match &mut self.file {
            None => replay_from(&mut &self.mem[..], self.entries, f),
            Some(out) => {
                out.flush()?;
                let file = out.get_mut();
                file.seek(SeekFrom::Start(0))?;
                let mut r = BufReader::with_capacity(64 * 1024, &*file);
                replay_from(&mut r, self.entries, f)?;
                file.seek(SeekFrom::End(0))?;
                Ok(())
            }
        }
    }
}

fn replay_from(
    r: &mut dyn Read,
    entries: u64,
    f: &mut dyn FnMut(RecordOutcome) -> io::Result<()>,
) -> io::Result<()> {
    {
        for _ in 0..entries {
            let mut fixed = [0u8; 8 + 8 + 3 + 8 + 4];
            r.read_exact(&mut fixed)?;
            let u64_at = |i: usize| {
                let mut b = [0u8; 8];
                b.copy_from_slice(&fixed[i..i + 8]);
                u64::from_le_bytes(b)
            };
            let esito = match fixed[16] {
                0 => Esito::Accettato,
                1 => Esito::Duplicato,
                _ => Esito::Scartato,
            };
            let codice = match fixed[17] {
                0 => CodiceEsito::Ok,
                1 => CodiceEsito::DatiNonTrovati,
                2 => CodiceEsito::RichiestaInvalida,
                _ => CodiceEsito::ErroreGenerico,
            };
            let ref_id = (fixed[18] == 1).then(|| u64_at(19) as i64);
            let mut lb = [0u8; 4];
            lb.copy_from_slice(&fixed[27..31]);
            let len = u32::from_le_bytes(lb) as usize;
            let violations = if len == 0 {
                Vec::new()
            } else {
                let mut json = vec![0u8; len];
                r.read_exact(&mut json)?;
                serde_json::from_slice(&json).map_err(io::Error::other)?
            };
            f(RecordOutcome {
                pos: u64_at(0),
                line: u64_at(8),
                esito,
                codice,
                ref_id,
                violations,
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use casellario_domain::catalogue::XSD_VALORE;

    #[test]
    fn push_and_replay() -> io::Result<()> {
        let mut log = OutcomeLog::new()?;
        let v = XSD_VALORE.violation(
            casellario_domain::Profile::Strict,
            "PrestazioniSociali/@ImportoMensile",
            "x",
        );
        let a = RecordOutcome {
            pos: 1,
            line: 7,
            esito: Esito::Accettato,
            codice: CodiceEsito::Ok,
            ref_id: Some(42),
            violations: vec![],
        };
        let b = RecordOutcome {
            pos: 2,
            line: 9,
            esito: Esito::Scartato,
            codice: CodiceEsito::RichiestaInvalida,
            ref_id: None,
            violations: vec![v],
        };
        log.push(&a)?;
        log.push(&b)?;
        let mut got = Vec::new();
        log.replay(&mut |o| {
            got.push(o);
            Ok(())
        })?;
        assert_eq!(got, vec![a, b]);
        Ok(())
    }

    /// Past the memory threshold the log moves to a file, in order, and
    /// replays the same entries (twice, as the receipt and its export do).
    #[test]
    fn spills_to_a_file_and_replays_in_order() -> io::Result<()> {
        let mut log = OutcomeLog::new()?;
        let n = (SPILL_BYTES / 31 + 1000) as u64;
        for pos in 1..=n {
            log.push(&RecordOutcome {
                pos,
                line: pos * 2,
                esito: Esito::Accettato,
                codice: CodiceEsito::Ok,
                ref_id: Some(pos as i64),
                violations: vec![],
            })?;
        }
        assert!(log.file.is_some(), "the log spilled to a file");
        for _ in 0..2 {
            let mut next = 1;
            log.replay(&mut |o| {
                assert_eq!(o.pos, next);
                assert_eq!(o.line, next * 2);
                next += 1;
                Ok(())
            })?;
            assert_eq!(next, n + 1);
        }
        Ok(())
    }
}
