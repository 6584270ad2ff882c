//! The register's stored form of a record: a compact, canonical binary
//! encoding of the typed model. Each element is its present attributes
//! (index, length, lexical value — see `XsdElement::encode_attrs`) followed
//! by its children; decoding goes back through the checked setters, so a
//! payload can only ever yield a record the schema accepts.
//!
//! Canonical: the same record always encodes to the same bytes (attributes in
//! XSD order, values in their canonical lexical form), which is what makes the
//! content hash a test of identity.

use crate::codes::{CodeEnum, ComposizioneFamiglia, InvCiv};
use crate::model::{
    Anagrafica, Beneficiario, Indirizzo, PrestazioniSociali, PsRecord, Record, Sina, Sinba,
    XsdElement,
};
use std::sync::Arc;

const VERSION: u8 = 1;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("payload troncato")]
    Truncated,
    #[error("versione del payload non supportata: {0}")]
    Version(u8),
    #[error("payload non valido: {0}")]
    Invalid(String),
}

/// Encodes a record (appending to `out`).
pub fn encode(record: &Record, out: &mut Vec<u8>) {
    out.push(VERSION);
    match record {
        Record::Ps(ps) => {
            out.push(b'P');
            encode_beneficiario(&ps.beneficiario, out);
            encode_prestazione(&ps.prestazione, out);
        }
        Record::Sinba(s) => {
            out.push(b'S');
            s.encode_attrs(out);
            encode_strings(&s.prestazioni, out);
            encode_codes(&s.famiglia, out);
        }
    }
}

fn encode_beneficiario(b: &Beneficiario, out: &mut Vec<u8>) {
    b.encode_attrs(out);
    b.anagrafica.encode_attrs(out);
    out.push(u8::try_from(b.indirizzi.len()).unwrap_or(u8::MAX));
    for i in b.indirizzi.iter().take(255) {
        i.encode_attrs(out);
    }
}

fn encode_prestazione(p: &PrestazioniSociali, out: &mut Vec<u8>) {
    p.encode_attrs(out);
    match &p.sina {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            s.encode_attrs(out);
            match &s.necessita_interventi_sociali {
                None => out.push(0),
                Some(v) => {
                    out.push(1);
                    encode_strings(v, out);
                }
            }
            match &s.invalidita_civile {
                None => out.push(0),
                Some(v) => {
                    out.push(1);
                    encode_codes(v, out);
                }
            }
        }
    }
}

fn encode_len(n: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
}

fn encode_strings(v: &[String], out: &mut Vec<u8>) {
    encode_len(v.len(), out);
    for s in v {
        encode_len(s.len(), out);
        out.extend_from_slice(s.as_bytes());
    }
}

fn encode_codes<T: CodeEnum>(v: &[T], out: &mut Vec<u8>) {
    let codes: Vec<String> = v.iter().map(|c| c.code().to_string()).collect();
    encode_strings(&codes, out);
}

struct Cursor<'a> {
    b: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn u8(&mut self) -> Result<u8, CodecError> {
        let (&x, rest) = self.b.split_first().ok_or(CodecError::Truncated)?;
        self.b = rest;
        Ok(x)
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        if self.b.len() < n {
            return Err(CodecError::Truncated);
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    fn u16(&mut self) -> Result<usize, CodecError> {
        let x = self.take(2)?;
        Ok(usize::from(u16::from_le_bytes([x[0], x[1]])))
    }
    fn u32(&mut self) -> Result<usize, CodecError> {
        let x = self.take(4)?;
        Ok(u32::from_le_bytes([x[0], x[1], x[2], x[3]]) as usize)
    }
    fn str(&mut self, n: usize) -> Result<&'a str, CodecError> {
        std::str::from_utf8(self.take(n)?).map_err(|e| CodecError::Invalid(e.to_string()))
    }
    fn attrs<E: XsdElement + Default>(&mut self) -> Result<E, CodecError> {
        let mut e = E::default();
        loop {
            let idx = self.u8()?;
            if idx == 0xFF {
                return Ok(e);
            }
            let decl = E::ATTRS
                .get(usize::from(idx))
                .ok_or_else(|| CodecError::Invalid(format!("attributo {idx} di {}", E::ELEMENT)))?;
            let n = self.u16()?;
            let v = self.str(n)?;
            match e.set_attr(decl.name, v) {
                Some((_, Ok(()))) => {}
                _ => {
                    return Err(CodecError::Invalid(format!(
                        "{}/@{} = {v:?}",
                        E::ELEMENT,
                        decl.name
                    )));
                }
            }
        }
    }
    fn strings(&mut self) -> Result<Vec<String>, CodecError> {
        let n = self.u32()?;
        let mut v = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            let l = self.u32()?;
            v.push(self.str(l)?.to_string());
        }
        Ok(v)
    }
    fn codes<T: CodeEnum>(&mut self) -> Result<Vec<T>, CodecError> {
        self.strings()?
            .iter()
            .map(|c| T::from_code(c).ok_or_else(|| CodecError::Invalid(format!("codice {c}"))))
            .collect()
    }
}

/// Decodes a payload produced by [`encode`].
pub fn decode(bytes: &[u8]) -> Result<Record, CodecError> {
    let mut c = Cursor { b: bytes };
    let v = c.u8()?;
    if v != VERSION {
        return Err(CodecError::Version(v));
    }
    let rec = match c.u8()? {
        b'P' => {
            let mut b: Beneficiario = c.attrs()?;
            b.anagrafica = c.attrs::<Anagrafica>()?;
            let n = c.u8()?;
            for _ in 0..n {
                b.indirizzi.push(c.attrs::<Indirizzo>()?);
            }
            let mut p: PrestazioniSociali = c.attrs()?;
            if c.u8()? == 1 {
                let mut s: Sina = c.attrs()?;
                if c.u8()? == 1 {
                    s.necessita_interventi_sociali = Some(c.strings()?);
                }
                if c.u8()? == 1 {
                    s.invalidita_civile = Some(c.codes::<InvCiv>()?);
                }
                p.sina = Some(s);
            }
            Record::Ps(PsRecord {
                beneficiario: Arc::new(b),
                prestazione: p,
            })
        }
        b'S' => {
            let mut s: Sinba = c.attrs()?;
            s.prestazioni = c.strings()?;
            s.famiglia = c.codes::<ComposizioneFamiglia>()?;
            Record::Sinba(s)
        }
        t => return Err(CodecError::Invalid(format!("tipo di record {t}"))),
    };
    if !c.b.is_empty() {
        return Err(CodecError::Invalid("byte in eccesso".into()));
    }
    Ok(rec)
}
