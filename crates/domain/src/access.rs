//! Who may do what: roles of PRODUCT.md as data, checked in one place by the
//! shells (portal, API) instead of being scattered through handlers.

use serde::{Deserialize, Serialize};

/// The role of a person using the register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Municipal social-services staff: transmits and consults its ente's records.
    Operatore,
    /// The ente's reference person: an operator who also manages the ente's operators.
    Referente,
    /// INPS administrator: enti, users, reference tables.
    Amministratore,
    /// Ministry, regions, ISTAT: aggregated statistics only, never a person.
    Analista,
    /// Auditor / DPO: reads the access and audit logs.
    Auditor,
}

/// One capability. A role is a fixed set of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Transmit records of one's own ente (form, upload, cancellation).
    Transmit,
    /// Read the personal data the own ente transmitted.
    ReadOwnRecords,
    /// See the own ente's flows and receipts.
    ReadOwnFlows,
    /// Manage the operators of one's own ente.
    ManageOwnOperators,
    /// Manage every ente and every user.
    ManageEnti,
    ManageUsers,
    /// See flows and receipts of every ente (no personal data).
    ReadAllFlows,
    /// Aggregated, pseudonymised statistics.
    ReadStatistics,
    /// The access log and the audit log.
    ReadAuditLog,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Operatore,
        Role::Referente,
        Role::Amministratore,
        Role::Analista,
        Role::Auditor,
    ];

    pub fn wire(self) -> &'static str {
        match self {
            Role::Operatore => "operatore",
            Role::Referente => "referente",
            Role::Amministratore => "amministratore",
            Role::Analista => "analista",
            Role::Auditor => "auditor",
        }
    }

    pub fn from_wire(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.wire() == s)
    }

    /// Italian label for people.
    pub fn label(self) -> &'static str {
        match self {
            Role::Operatore => "Operatore ente",
            Role::Referente => "Referente ente",
            Role::Amministratore => "Amministratore",
            Role::Analista => "Analista",
            Role::Auditor => "Auditor / DPO",
        }
    }

    /// Whether accounts with this role belong to exactly one ente.
    pub fn scoped_to_ente(self) -> bool {
        matches!(self, Role::Operatore | Role::Referente)
    }

    pub fn can(self, p: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Operatore => matches!(p, Transmit | ReadOwnRecords | ReadOwnFlows),
            Role::Referente => {
                matches!(
                    p,
                    Transmit | ReadOwnRecords | ReadOwnFlows | ManageOwnOperators
                )
            }
            // INPS administrators run the register; reading a person's
            // records is the enti's business, not theirs.
            Role::Amministratore => matches!(p, ManageEnti | ManageUsers | ReadAllFlows),
            Role::Analista => matches!(p, ReadStatistics),
            Role::Auditor => matches!(p, ReadAuditLog | ReadAllFlows),
        }
    }
}

/// Kinds of ente (the bodies that must transmit to the register).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnteKind {
    Comune,
    /// Ambito territoriale sociale, consorzio, unione di comuni.
    Ambito,
    Regione,
    Universita,
    Inps,
    Altro,
}

impl EnteKind {
    pub const ALL: [EnteKind; 6] = [
        EnteKind::Comune,
        EnteKind::Ambito,
        EnteKind::Regione,
        EnteKind::Universita,
        EnteKind::Inps,
        EnteKind::Altro,
    ];

    pub fn wire(self) -> &'static str {
        match self {
            EnteKind::Comune => "comune",
            EnteKind::Ambito => "ambito",
            EnteKind::Regione => "regione",
            EnteKind::Universita => "universita",
            EnteKind::Inps => "inps",
            EnteKind::Altro => "altro",
        }
    }

    pub fn from_wire(s: &str) -> Option<EnteKind> {
        EnteKind::ALL.into_iter().find(|k| k.wire() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            EnteKind::Comune => "Comune",
            EnteKind::Ambito => "Ambito territoriale / consorzio",
            EnteKind::Regione => "Regione",
            EnteKind::Universita => "Università",
            EnteKind::Inps => "INPS",
            EnteKind::Altro => "Altro ente",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::from_wire(r.wire()), Some(r));
        }
        for k in EnteKind::ALL {
            assert_eq!(EnteKind::from_wire(k.wire()), Some(k));
        }
        assert_eq!(Role::from_wire("root"), None);
    }

    #[test]
    fn only_ente_roles_read_personal_data() {
        for r in Role::ALL {
            assert_eq!(
                r.can(Permission::ReadOwnRecords),
                r.scoped_to_ente(),
                "{r:?}"
            );
            assert_eq!(r.can(Permission::Transmit), r.scoped_to_ente(), "{r:?}");
        }
        assert!(!Role::Analista.can(Permission::ReadAllFlows));
        assert!(Role::Amministratore.can(Permission::ManageUsers));
        assert!(!Role::Referente.can(Permission::ManageUsers));
    }
}
