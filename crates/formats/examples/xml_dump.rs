//! Prints what the XML reader yields for a file (debugging aid).
use casellario_formats::{FlowItem, ReadOptions, XmlFlowReader};
use std::io::BufReader;

fn main() -> std::io::Result<()> {
    let path = std::env::args().nth(1).unwrap_or_default();
    let f = BufReader::new(std::fs::File::open(path)?);
    for item in XmlFlowReader::new(f, ReadOptions::default()) {
        match item {
            Ok(FlowItem::Header(h)) => println!(
                "HEADER {:?} {:?} {:?}",
                h.tipo, h.identificazione.nome, h.violations
            ),
            Ok(FlowItem::Record(r)) => {
                println!(
                    "REC pos={} line={} viol={}",
                    r.pos,
                    r.line,
                    r.violations.len()
                );
                for v in &r.violations {
                    println!("   {} {} L{:?}: {}", v.rule, v.field, v.line, v.message);
                }
            }
            Ok(FlowItem::FlowViolation(v)) => {
                println!("FLOW {} {} L{:?}: {}", v.rule, v.field, v.line, v.message)
            }
            Err(e) => println!("ERR {:?}", e.violation()),
        }
    }
    Ok(())
}
