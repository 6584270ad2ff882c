//! How each benefit code is generated: who receives it, how it is paid and
//! what it typically costs. Figures are plausible orders of magnitude for an
//! Italian comune (e.g. nursery fees, canteen tickets), not statistics.

use casellario_domain::codes::AreaUtenza;

/// Age profile of a beneficiary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eta {
    /// 0–2 years: nurseries and early-childhood services.
    Nido,
    /// 3–17 years: school services, socio-educational support.
    Scuola,
    /// 19–26 years: university right-to-study.
    Universita,
    /// 18–64 years.
    Adulto,
    /// 65 years and over.
    Anziano,
}

impl Eta {
    /// Inclusive age bounds at the reference year (capped at birth year 1930
    /// by the caller).
    pub fn bounds(self) -> (i32, i32) {
        match self {
            Eta::Nido => (0, 2),
            Eta::Scuola => (3, 17),
            Eta::Universita => (19, 26),
            Eta::Adulto => (18, 64),
            Eta::Anziano => (65, 95),
        }
    }
}

/// Share of beneficiaries per age profile (weights).
pub const ETA_WEIGHTS: &[(Eta, u32)] = &[
    (Eta::Nido, 12),
    (Eta::Scuola, 22),
    (Eta::Universita, 3),
    (Eta::Adulto, 35),
    (Eta::Anziano, 28),
];

/// Generation profile of one benefit code.
#[derive(Debug)]
pub struct Spec {
    pub code: &'static str,
    pub eta: Eta,
    /// Relative frequency within its age profile.
    pub weight: u32,
    /// Probability that it is periodic (else one-off).
    pub periodic: f64,
    /// Monthly amount range, euros (periodic).
    pub mensile: (u32, u32),
    /// One-off amount range, euros.
    pub una_tantum: (u32, u32),
    /// Usually granted on ISEE (PresenzaProvaMezzi = 1 with a DSU).
    pub isee: bool,
    /// A service measured in hours (`OreServizioMensile`).
    pub ore: bool,
    /// The user usually pays a share (`ImportoQuotaUtente` > 0).
    pub compartecipazione: bool,
    /// Social-health service: the SSN pays a share.
    pub ssn: bool,
    /// Probability of a presa in carico.
    pub presa_carico: f64,
    /// AreaUtenza with a presa in carico (disability area: with SINA).
    pub area: AreaUtenza,
    /// Only for women (maternity allowance).
    pub solo_donne: bool,
}

const fn spec(code: &'static str, eta: Eta, weight: u32) -> Spec {
    Spec {
        code,
        eta,
        weight,
        periodic: 0.65,
        mensile: (50, 500),
        una_tantum: (100, 1500),
        isee: false,
        ore: false,
        compartecipazione: false,
        ssn: false,
        presa_carico: 0.1,
        area: AreaUtenza::PovertaEdEsclusioneSociale,
        solo_donne: false,
    }
}

use AreaUtenza::{DisabilitaNonAutosufficienza as DIS, FamigliaMinori as FAM};
use Eta::*;

/// Every code the generator uses: the confirmed codes of the table, plus
/// A2.16 (only with a presa in carico). The "dedotto" codes with unknown
/// labels are left out.
#[rustfmt::skip]
pub const SPECS: &[Spec] = &[
    // Early childhood.
    Spec { periodic: 0.95, mensile: (150, 600), una_tantum: (300, 2500), isee: true, compartecipazione: true, presa_carico: 0.03, area: FAM, ..spec("A3.03", Nido, 40) },
    Spec { periodic: 0.6, mensile: (80, 300), una_tantum: (200, 1500), isee: true, presa_carico: 0.03, area: FAM, ..spec("A1.07", Nido, 25) },
    Spec { periodic: 0.5, mensile: (50, 250), una_tantum: (150, 1000), isee: true, area: FAM, presa_carico: 0.03, ..spec("A1.08", Nido, 10) },
    Spec { periodic: 0.9, mensile: (60, 250), una_tantum: (100, 800), isee: true, compartecipazione: true, ore: true, area: FAM, presa_carico: 0.05, ..spec("A2.10", Nido, 10) },
    // School age.
    Spec { periodic: 0.9, mensile: (30, 120), una_tantum: (80, 600), isee: true, compartecipazione: true, area: FAM, presa_carico: 0.02, ..spec("A2.12", Scuola, 45) },
    Spec { periodic: 0.9, mensile: (200, 900), una_tantum: (300, 2000), ore: true, presa_carico: 0.4, area: DIS, ..spec("A2.11", Scuola, 15) },
    Spec { periodic: 0.1, mensile: (20, 100), una_tantum: (50, 600), isee: true, area: FAM, presa_carico: 0.02, ..spec("A1.09", Scuola, 12) },
    Spec { periodic: 0.05, mensile: (50, 200), una_tantum: (200, 2500), isee: true, area: FAM, presa_carico: 0.0, ..spec("A1.19", Scuola, 8) },
    Spec { periodic: 0.85, mensile: (150, 800), una_tantum: (200, 1500), ore: true, presa_carico: 0.7, area: FAM, ..spec("A2.02", Scuola, 15) },
    Spec { periodic: 0.0, una_tantum: (100, 600), isee: true, area: FAM, presa_carico: 0.0, ..spec("A1.20", Scuola, 5) },
    // University.
    Spec { periodic: 0.3, mensile: (250, 500), una_tantum: (1000, 5500), isee: true, presa_carico: 0.0, ..spec("A2.03", Universita, 50) },
    Spec { periodic: 0.0, una_tantum: (150, 2500), isee: true, presa_carico: 0.0, ..spec("A2.04", Universita, 40) },
    Spec { periodic: 0.05, una_tantum: (500, 3000), isee: true, presa_carico: 0.0, ..spec("A1.19", Universita, 10) },
    // Adults.
    Spec { periodic: 0.5, mensile: (100, 800), una_tantum: (200, 3000), isee: true, presa_carico: 0.4, ..spec("A1.04", Adulto, 30) },
    Spec { periodic: 0.5, mensile: (100, 500), una_tantum: (300, 3000), isee: true, presa_carico: 0.2, ..spec("A1.05", Adulto, 15) },
    Spec { periodic: 0.1, mensile: (100, 400), una_tantum: (300, 3000), isee: true, presa_carico: 0.1, ..spec("A1.05.01", Adulto, 8) },
    Spec { periodic: 0.1, mensile: (50, 300), una_tantum: (50, 500), isee: true, presa_carico: 0.2, ..spec("A1.06", Adulto, 15) },
    Spec { periodic: 0.0, una_tantum: (500, 5000), isee: true, presa_carico: 0.2, ..spec("A1.17", Adulto, 3) },
    Spec { periodic: 0.8, mensile: (200, 600), una_tantum: (300, 2000), presa_carico: 0.6, ..spec("A1.18", Adulto, 5) },
    Spec { periodic: 0.85, mensile: (100, 500), una_tantum: (200, 1500), ore: true, presa_carico: 0.7, ..spec("A2.09", Adulto, 5) },
    Spec { periodic: 0.9, mensile: (30, 120), una_tantum: (50, 300), compartecipazione: true, presa_carico: 0.3, ..spec("A2.01", Adulto, 6) },
    Spec { periodic: 0.0, una_tantum: (50, 500), isee: true, presa_carico: 0.0, ..spec("A2.05", Adulto, 10) },
    Spec { periodic: 0.0, una_tantum: (50, 600), isee: true, presa_carico: 0.0, ..spec("A2.06", Adulto, 10) },
    Spec { periodic: 0.8, mensile: (100, 300), una_tantum: (500, 1800), isee: true, area: FAM, presa_carico: 0.05, ..spec("A1.01", Adulto, 6) },
    Spec { periodic: 0.6, mensile: (340, 410), una_tantum: (1700, 2050), isee: true, area: FAM, presa_carico: 0.05, solo_donne: true, ..spec("A1.02", Adulto, 6) },
    Spec { periodic: 0.8, mensile: (30, 200), una_tantum: (100, 800), area: DIS, presa_carico: 0.3, ..spec("A1.16", Adulto, 4) },
    Spec { periodic: 0.8, mensile: (100, 600), una_tantum: (200, 1500), ore: true, area: DIS, presa_carico: 0.5, ..spec("A1.15", Adulto, 4) },
    Spec { periodic: 0.9, mensile: (100, 400), una_tantum: (300, 1500), ore: true, presa_carico: 1.0, ..spec("A2.16", Adulto, 3) },
    Spec { periodic: 0.95, mensile: (50, 400), una_tantum: (300, 2000), isee: true, compartecipazione: true, presa_carico: 0.05, ..spec("A3.04", Adulto, 4) },
    Spec { periodic: 0.95, mensile: (300, 1200), una_tantum: (500, 3000), compartecipazione: true, ssn: true, presa_carico: 0.8, area: DIS, ..spec("A3.01", Adulto, 4) },
    // Elderly.
    Spec { periodic: 0.95, mensile: (100, 900), una_tantum: (200, 1500), ore: true, compartecipazione: true, presa_carico: 0.8, area: DIS, ..spec("A2.07", Anziano, 30) },
    Spec { periodic: 0.95, mensile: (150, 1200), una_tantum: (300, 2000), ore: true, compartecipazione: true, ssn: true, presa_carico: 0.9, area: DIS, ..spec("A2.08", Anziano, 18) },
    Spec { periodic: 0.6, mensile: (100, 600), una_tantum: (200, 2000), ssn: true, presa_carico: 0.6, area: DIS, ..spec("A1.10", Anziano, 6) },
    Spec { periodic: 0.85, mensile: (150, 700), una_tantum: (300, 2500), presa_carico: 0.7, area: DIS, ..spec("A1.11", Anziano, 10) },
    Spec { periodic: 0.95, mensile: (200, 900), una_tantum: (300, 2000), compartecipazione: true, ssn: true, presa_carico: 0.7, area: DIS, ..spec("A1.12", Anziano, 6) },
    Spec { periodic: 0.95, mensile: (200, 1000), una_tantum: (300, 2000), compartecipazione: true, presa_carico: 0.7, area: DIS, ..spec("A1.13", Anziano, 3) },
    Spec { periodic: 0.95, mensile: (400, 1800), una_tantum: (500, 4000), isee: true, compartecipazione: true, ssn: true, presa_carico: 0.8, area: DIS, ..spec("A1.14", Anziano, 8) },
    Spec { periodic: 0.98, mensile: (800, 2800), una_tantum: (1000, 5000), compartecipazione: true, ssn: true, presa_carico: 0.9, area: DIS, ..spec("A3.02", Anziano, 6) },
    Spec { periodic: 0.95, mensile: (300, 1200), una_tantum: (500, 3000), compartecipazione: true, ssn: true, presa_carico: 0.8, area: DIS, ..spec("A3.01", Anziano, 3) },
    Spec { periodic: 0.9, mensile: (40, 80), una_tantum: (80, 480), isee: true, presa_carico: 0.0, ..spec("A1.03", Anziano, 4) },
    Spec { periodic: 0.8, mensile: (30, 200), una_tantum: (100, 800), area: DIS, presa_carico: 0.3, ..spec("A1.16", Anziano, 5) },
    Spec { periodic: 0.5, mensile: (100, 500), una_tantum: (200, 2000), isee: true, presa_carico: 0.3, ..spec("A1.04", Anziano, 5) },
    Spec { periodic: 0.0, una_tantum: (50, 500), isee: true, presa_carico: 0.0, ..spec("A2.05", Anziano, 5) },
    Spec { periodic: 0.0, una_tantum: (50, 600), isee: true, presa_carico: 0.0, ..spec("A2.06", Anziano, 5) },
    Spec { periodic: 0.9, mensile: (30, 120), una_tantum: (50, 300), compartecipazione: true, presa_carico: 0.3, ..spec("A2.01", Anziano, 3) },
];

/// Codes a SINA assessment may list as needed interventions.
pub const NECESSITA: &[&str] = &[
    "A2.07", "A2.08", "A1.11", "A1.12", "A1.14", "A3.01", "A3.02", "A1.16", "A2.01", "A1.10",
];

/// Codes of the benefits delivered to children in SINBA.
pub const SINBA_PRESTAZIONI: &[&str] = &[
    "A2.02", "A2.11", "A1.04", "A3.03", "A2.12", "A3.02", "A3.01", "A1.05", "A2.10", "A1.06",
    "A1.09", "A1.07",
];

/// Typical maximum ISEE thresholds of local regulations, euros.
pub const SOGLIE_ISEE: &[u32] = &[
    6000, 8000, 9360, 12000, 15000, 17000, 20000, 25000, 30000, 40000,
];
