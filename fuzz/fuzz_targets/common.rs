//! Shared by the reader targets: drive a reader to the end and check the
//! stream contract (one header first, nothing after a fatal error, a
//! finished stream stays finished).

use casellario_formats::{FlowItem, Limits, ReadError, ReadOptions};

/// Options from the first byte: mostly the defaults, sometimes tiny limits
/// so that every guard of the readers fires.
pub fn options(data: &[u8]) -> (ReadOptions, &[u8]) {
    match data.split_first() {
        Some((&b, rest)) if b & 0xC0 == 0xC0 => (
            ReadOptions {
                expected: None,
                limits: Limits {
                    max_markup_bytes: 1 + usize::from(b & 0x0F) * 64,
                    max_depth: usize::from((b >> 4) & 0x03) + 1,
                    max_buffered_records: usize::from(b & 0x03),
                },
            },
            rest,
        ),
        _ => (ReadOptions::default(), data),
    }
}

pub fn drive(mut it: impl Iterator<Item = Result<FlowItem, ReadError>>) {
    let mut header = false;
    let mut fatal = false;
    while let Some(item) = it.next() {
        assert!(!fatal, "an item after a fatal ReadError: {item:?}");
        match item {
            Ok(FlowItem::Header(_)) => {
                assert!(!header, "two headers");
                header = true;
            }
            Ok(FlowItem::Record(r)) => {
                assert!(header, "a record before the header");
                assert!(r.pos > 0, "record positions start at 1");
            }
            Ok(FlowItem::FlowViolation(_)) => {}
            Err(e) => {
                // The receipt's violation can always be built.
                let _ = e.violation();
                fatal = true;
            }
        }
    }
    assert!(it.next().is_none(), "items after the end of the stream");
}
