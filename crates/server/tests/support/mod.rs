//! Set-up shared by the server's integration tests (each test file that
//! uses it declares `mod support;`).

use casellario_domain::access::EnteKind;
use casellario_store::portal::EnteAttrs;
use casellario_store::{EnteId, Store, StoreError};

/// Registers an active comune as ente `codice`, with its Belfiore code.
pub fn comune(
    s: &mut Store,
    codice: &str,
    belfiore: &str,
    denominazione: &str,
) -> Result<EnteId, StoreError> {
    s.create_ente(
        codice,
        &EnteAttrs {
            denominazione,
            belfiore,
            tipo: EnteKind::Comune,
            attivo: true,
        },
        None,
    )
}
