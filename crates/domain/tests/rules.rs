//! Business rules: the three INPS samples under both profiles, one triggering
//! and one clean case per rule, cancellations, the catalogue.
#![allow(clippy::unwrap_used)]

use casellario_domain::cf;
use casellario_domain::codes::{CaratterePrestazione, CodeEnum, ComposizioneFamiglia, InvCiv};
use casellario_domain::model::{
    Beneficiario, IdentificazioneFlusso, Indirizzo, PrestazioniSociali, Sina, Sinba, XsdElement,
};
use casellario_domain::rules::{self, RuleContext};
use casellario_domain::{Category, Channel, Date, FlowType, Profile, Severity, Violation};
use std::collections::BTreeSet;

const SAMPLE_1: &str = include_str!(
    "../../../tests/fixtures/inps/openapi_example1_PS_PSA_SINA_H501.PS.20210520.0000002.xml"
);
const SAMPLE_2: &str = include_str!(
    "../../../tests/fixtures/inps/openapi_example2_SINBA_H501.SINBA.20210520.00000004.xml"
);
const SAMPLE_3: &str = include_str!(
    "../../../tests/fixtures/inps/openapi_schema_example_PS_PSA_SINA_H501.PS.INPS.20160423.115235.xml"
);

fn today() -> Date {
    Date::new(2025, 6, 15).unwrap()
}

fn ctx(profile: Profile) -> RuleContext {
    RuleContext::new(profile, Channel::Upload, today())
}

// ------------------------------------------------------------ a flow in memory

#[derive(Debug, Clone, Default)]
struct Flow {
    sinba_flow: bool,
    header: IdentificazioneFlusso,
    beneficiari: Vec<(Beneficiario, Vec<PrestazioniSociali>)>,
    sinba: Vec<Sinba>,
}

impl Flow {
    fn tipo(&self) -> FlowType {
        if self.sinba_flow {
            FlowType::Sinba
        } else {
            FlowType::PsPsaSina
        }
    }

    /// Runs every check the way the pipeline does: header, then each
    /// beneficiary once and each of its benefits, then each SINBA record.
    fn check(&self, profile: Profile) -> Vec<Violation> {
        let ctx = ctx(profile);
        let mut out = Vec::new();
        rules::check_header(&ctx, self.tipo(), &self.header, &mut out);
        for (b, ps) in &self.beneficiari {
            if ps
                .iter()
                .all(|p| p.tipo_operazione.map(|t| t.code()) == Some("C"))
            {
                rules::check_beneficiario_chiave(&ctx, b, &mut out);
            } else {
                rules::check_beneficiario(&ctx, b, &mut out);
            }
            for p in ps {
                rules::check_prestazione(&ctx, b, p, &mut out);
            }
        }
        for s in &self.sinba {
            rules::check_sinba(&ctx, s, &mut out);
        }
        out
    }

    fn b(&mut self) -> &mut Beneficiario {
        &mut self.beneficiari[0].0
    }
    fn p(&mut self) -> &mut PrestazioniSociali {
        &mut self.beneficiari[0].1[0]
    }
    fn s(&mut self) -> &mut Sinba {
        &mut self.sinba[0]
    }
}

/// A personal CF with its correct check character.
fn with_cin(first15: &str) -> String {
    let mut b = [0u8; 15];
    b.copy_from_slice(first15.as_bytes());
    format!("{first15}{}", char::from(cf::compute_check_char(&b)))
}

fn set<T: XsdElement>(el: &mut T, name: &str, value: &str) {
    match el.set_attr(name, value) {
        Some((_, Ok(()))) => {}
        other => panic!("{}/@{name}={value:?}: {other:?}", T::ELEMENT),
    }
}

fn el<T: XsdElement + Default>(attrs: &[(&str, &str)]) -> T {
    let mut e = T::default();
    for (n, v) in attrs {
        set(&mut e, n, v);
    }
    e
}

// ------------------------------------------------- a tiny reader for the samples

/// Start tag (name, attributes), end tag, or text, for the simple documents of
/// the INPS samples (no entities, comments or CDATA).
enum Tok {
    Start(String, Vec<(String, String)>, bool),
    End(String),
    Text(String),
}

fn tokens(xml: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(lt) = rest.find('<') {
        let text = rest[..lt].trim();
        if !text.is_empty() {
            out.push(Tok::Text(text.to_string()));
        }
        let gt = rest[lt..].find('>').unwrap() + lt;
        let tag = &rest[lt + 1..gt];
        rest = &rest[gt + 1..];
        if tag.starts_with('?') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            out.push(Tok::End(name.trim().to_string()));
            continue;
        }
        let empty = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let name_end = tag.find(char::is_whitespace).unwrap_or(tag.len());
        let mut attrs = Vec::new();
        let mut a = &tag[name_end..];
        while let Some(eq) = a.find('=') {
            let name = a[..eq].trim().to_string();
            let q1 = a[eq..].find('"').unwrap() + eq;
            let q2 = a[q1 + 1..].find('"').unwrap() + q1 + 1;
            attrs.push((name, a[q1 + 1..q2].to_string()));
            a = &a[q2 + 1..];
        }
        out.push(Tok::Start(tag[..name_end].to_string(), attrs, empty));
    }
    out
}

fn parse(xml: &str) -> Flow {
    let mut f = Flow::default();
    let mut stack: Vec<String> = Vec::new();
    for t in tokens(xml) {
        match t {
            Tok::Start(name, attrs, empty) => {
                let apply = |e: &mut dyn FnMut(&str, &str)| {
                    for (n, v) in &attrs {
                        if !n.starts_with("xmlns") && !n.starts_with("xsi:") {
                            e(n, v);
                        }
                    }
                };
                match name.as_str() {
                    "IdentificazioneFlusso" => apply(&mut |n, v| set(&mut f.header, n, v)),
                    "Ente" => apply(&mut |n, v| set(&mut f.header.ente, n, v)),
                    "Beneficiario" => {
                        let mut b = Beneficiario::default();
                        apply(&mut |n, v| set(&mut b, n, v));
                        f.beneficiari.push((b, Vec::new()));
                    }
                    "Anagrafica" => apply(&mut |n, v| {
                        set(&mut f.beneficiari.last_mut().unwrap().0.anagrafica, n, v)
                    }),
                    "Indirizzo" => {
                        let mut i = Indirizzo::default();
                        apply(&mut |n, v| set(&mut i, n, v));
                        f.beneficiari.last_mut().unwrap().0.indirizzi.push(i);
                    }
                    "PrestazioniSociali" => {
                        let mut p = PrestazioniSociali::default();
                        apply(&mut |n, v| set(&mut p, n, v));
                        f.beneficiari.last_mut().unwrap().1.push(p);
                    }
                    "SINA" => {
                        let mut s = Sina::default();
                        apply(&mut |n, v| set(&mut s, n, v));
                        f.beneficiari.last_mut().unwrap().1.last_mut().unwrap().sina = Some(s);
                    }
                    "SINBA" => {
                        f.sinba_flow = true;
                        let mut s = Sinba::default();
                        apply(&mut |n, v| set(&mut s, n, v));
                        f.sinba.push(s);
                    }
                    _ => {}
                }
                if !empty {
                    stack.push(name);
                }
            }
            Tok::End(name) => {
                assert_eq!(stack.pop().as_deref(), Some(name.as_str()));
            }
            Tok::Text(text) => {
                let parent = stack.iter().rev().nth(1).map(String::as_str);
                match (stack.last().map(String::as_str), parent) {
                    (Some("CodicePrestazione"), Some("NecessitaInterventiSociali")) => {
                        let p = f.beneficiari.last_mut().unwrap().1.last_mut().unwrap();
                        p.sina
                            .as_mut()
                            .unwrap()
                            .necessita_interventi_sociali
                            .get_or_insert_default()
                            .push(text);
                    }
                    (Some("InvCiv"), _) => {
                        let p = f.beneficiari.last_mut().unwrap().1.last_mut().unwrap();
                        let v = InvCiv::from_code(&text).unwrap();
                        p.sina
                            .as_mut()
                            .unwrap()
                            .invalidita_civile
                            .get_or_insert_default()
                            .push(v);
                    }
                    (Some("CodicePrestazione"), Some("Prestazioni")) => {
                        f.sinba.last_mut().unwrap().prestazioni.push(text)
                    }
                    (Some("ComposizioneFamiglia"), _) => {
                        let v = ComposizioneFamiglia::from_code(&text).unwrap();
                        f.sinba.last_mut().unwrap().famiglia.push(v);
                    }
                    other => panic!("testo inatteso {text:?} in {other:?}"),
                }
            }
        }
    }
    assert!(stack.is_empty());
    f
}

fn by_severity(v: &[Violation], s: Severity) -> BTreeSet<String> {
    v.iter()
        .filter(|x| x.severity == s)
        .map(|x| x.rule.clone())
        .collect()
}

fn set_of(codes: &[&str]) -> BTreeSet<String> {
    codes.iter().map(|s| s.to_string()).collect()
}

// ------------------------------------------------------------------- samples

#[test]
fn sample_1_strict_and_compat() {
    let f = parse(SAMPLE_1);
    assert_eq!(f.beneficiari[0].1.len(), 3);
    let v = f.check(Profile::Strict);
    assert_eq!(
        by_severity(&v, Severity::Errore),
        set_of(&["CF_OPERATORE", "CF_BENEFICIARIO", "PS_QUOTE_SOMMA"]),
        "{v:#?}"
    );
    assert_eq!(
        by_severity(&v, Severity::Avviso),
        set_of(&["PS_QUOTA_ZERO"]),
        "{v:#?}"
    );
    // Only the first benefit (A1.16) breaks the sum rule.
    let somma: Vec<_> = v.iter().filter(|x| x.rule == "PS_QUOTE_SOMMA").collect();
    assert_eq!(somma.len(), 1);
    assert_eq!(somma[0].field, "PrestazioniSociali/@ImportoQuotaEnte");
    assert_eq!(
        somma[0].message,
        "La somma delle quote (Ente 52.54 + Utente 21.71 + SSN 0) è 74.25 ma l'importo mensile è 101.23: \
         correggere le quote o l'importo."
    );
    let cf = v.iter().find(|x| x.rule == "CF_BENEFICIARIO").unwrap();
    assert_eq!(cf.field, "Beneficiario/@CodiceFiscale");
    assert!(
        cf.message.contains("AAABBB39M66A351C") && cf.message.contains("atteso T"),
        "{}",
        cf.message
    );
    let op = v.iter().find(|x| x.rule == "CF_OPERATORE").unwrap();
    assert_eq!(op.field, "IdentificazioneFlusso/Ente/@CFOperatore");
    assert!(op.message.contains("atteso E"), "{}", op.message);
    assert!(v.iter().all(|x| x.category == Category::Dominio));

    let c = f.check(Profile::Compat);
    assert!(by_severity(&c, Severity::Errore).is_empty(), "{c:#?}");
    assert_eq!(
        by_severity(&c, Severity::Avviso),
        set_of(&[
            "CF_OPERATORE",
            "CF_BENEFICIARIO",
            "PS_QUOTE_SOMMA",
            "PS_QUOTA_ZERO"
        ])
    );
}

#[test]
fn sample_2_strict_and_compat() {
    let f = parse(SAMPLE_2);
    assert_eq!(f.sinba[0].prestazioni, vec!["A1.02", "A2.06"]);
    let v = f.check(Profile::Strict);
    assert_eq!(
        by_severity(&v, Severity::Errore),
        set_of(&["SINBA_REGIONE_OBBLIGATORIA"]),
        "{v:#?}"
    );
    assert_eq!(
        by_severity(&v, Severity::Avviso),
        set_of(&["SINBA_FASCIA_ETA"]),
        "{v:#?}"
    );
    let r = v
        .iter()
        .find(|x| x.rule == "SINBA_REGIONE_OBBLIGATORIA")
        .unwrap();
    assert_eq!(r.field, "SINBA/@CodiceRegioneResidenza");
    let eta = v.iter().find(|x| x.rule == "SINBA_FASCIA_ETA").unwrap();
    assert!(
        eta.message.contains("2005") && eta.message.contains("06/2016"),
        "{}",
        eta.message
    );

    let c = f.check(Profile::Compat);
    assert!(by_severity(&c, Severity::Errore).is_empty(), "{c:#?}");
}

#[test]
fn sample_3_strict_and_compat() {
    let f = parse(SAMPLE_3);
    let v = f.check(Profile::Strict);
    assert_eq!(
        by_severity(&v, Severity::Errore),
        set_of(&["PS_DATA_FINE_ANNO", "PS_QUOTE_SOMMA"]),
        "{v:#?}"
    );
    assert_eq!(
        by_severity(&v, Severity::Avviso),
        set_of(&["PS_QUOTA_ZERO"]),
        "{v:#?}"
    );
    let somma = v.iter().find(|x| x.rule == "PS_QUOTE_SOMMA").unwrap();
    assert!(
        somma.message.contains("è 0 ma l'importo mensile è 200"),
        "{}",
        somma.message
    );

    let c = f.check(Profile::Compat);
    assert!(by_severity(&c, Severity::Errore).is_empty(), "{c:#?}");
}

// ------------------------------------------------------------ clean fixtures

fn clean_ps() -> Flow {
    let header = {
        let mut h: IdentificazioneFlusso = el(&[("Nome", "H501.PS.20240520.0000001")]);
        h.ente = el(&[
            ("Codice", "H501"),
            ("Indirizzo", "H501"),
            ("CFOperatore", "RSSMRK66C14H501U"),
        ]);
        h
    };
    let mut b: Beneficiario = el(&[("CodiceFiscale", "RSSMRK66C14H501U")]);
    b.anagrafica = el(&[
        ("Cognome", "ROSSI"),
        ("Nome", "MIRKO"),
        ("AnnoNascita", "1966"),
        ("LuogoNascita", "H501"),
        ("Genere", "1"),
        ("CodiceCittadinanza", "380"),
        ("CodiceSecondaCittadinanza", "250"),
    ]);
    b.indirizzi = vec![
        el(&[
            ("CodiceRegione", "08"),
            ("CodiceComune", "058091"),
            ("CodiceNazione", "380"),
        ]),
        el(&[("CodiceNazione", "250")]),
    ];
    let mut periodica: PrestazioniSociali = el(&[
        ("TipoOperazione", "I"),
        ("PresenzaProvaMezzi", "1"),
        ("CaratterePrestazione", "1"),
        ("NumeroProtocolloDSU", "INPS-ISEE-2024-00597381W-00"),
        ("AnnoProtocolloDSU", "2024"),
        ("DataDSU", "2024-02-10"),
        ("CodicePrestazione", "A1.16"),
        ("DenominazionePrestazione", "Contributo trasporto"),
        ("ProtocolloDomanda", "P-2024-1"),
        ("DataEvento", "2024-02-20"),
        ("DataInizioPrestazione", "2024-03-01"),
        ("DataFinePrestazione", "2024-05-31"),
        ("PeriodoErogazione", "3"),
        ("ImportoMensile", "101.23"),
        ("ImportoQuotaEnte", "52.54"),
        ("ImportoQuotaUtente", "21.71"),
        ("ImportoQuotaSSN", "26.98"),
        ("ImportoQuotaRichiesta", "150"),
        ("ImportoSogliaISEE", "17000.00"),
        ("OreServizioMensile", "2.59"),
        ("PresaCarico", "1"),
        ("AreaUtenza", "2"),
    ]);
    let mut sina: Sina = el(&[
        ("Mobilita", "1"),
        ("AttivitaVitaQuotidiana", "2"),
        ("DisturbiComportamentali", "1"),
        ("AreaReddituale", "2"),
        ("AreaSupporto", "1"),
        ("FonteDerivazioneValutazione", "1"),
        ("StrumentoValutazione", "1"),
    ]);
    sina.necessita_interventi_sociali = Some(vec!["A2.07".into(), "A2.17".into()]);
    periodica.sina = Some(sina);
    let occasionale: PrestazioniSociali = el(&[
        ("PresenzaProvaMezzi", "4"),
        ("CaratterePrestazione", "2"),
        ("CodicePrestazione", "A1.09"),
        ("DenominazionePrestazione", "Contributo servizi scolastici"),
        ("ProtocolloDomanda", "P-2024-2"),
        ("DataErogazionePrestazione", "2024-09-01"),
        ("ImportoPrestazione", "300"),
        ("ImportoQuotaEnte", "300"),
        ("ImportoQuotaUtente", "0"),
        ("PresaCarico", "2"),
    ]);
    Flow {
        sinba_flow: false,
        header,
        beneficiari: vec![(b, vec![periodica, occasionale])],
        sinba: vec![],
    }
}

fn clean_sinba() -> Flow {
    let mut header: IdentificazioneFlusso = el(&[("Nome", "H501.SINBA.20240520.00000001")]);
    header.ente = el(&[
        ("Codice", "H501"),
        ("Indirizzo", "H501"),
        ("CFOperatore", "12345678903"),
    ]);
    let mut s: Sinba = el(&[
        ("IDBeneficiario", "H501-000123"),
        ("MinoreStranieroNoAcc", "2"),
        ("CondizioneMinore", "1"),
        ("LuogoVita", "1"),
        ("ScuolaFrequentata", "5"),
        ("CondizioneLavoro", "1"),
        ("Disabilita", "2"),
        ("CodiceCittadinanzaPadre", "380"),
        ("CodiceCittadinanzaMadre", "990"),
        ("CodiceRegioneResidenzaPadre", "08"),
        ("CodiceRegioneResidenzaMadre", "21"),
        ("DataPrimaSegnalazione", "01/2024"),
        ("FonteSegnalazione", "13"),
        ("ValutazioneMinore", "2"),
        ("ValutazioneFamigliaMinore", "12"),
        ("SegnalazioneAutoritaGiudiziaria", "2"),
        ("ProvvedimentoGiudiziario", "2"),
        ("NumeroComponentiISEE", "4"),
        ("FasciaEtaBeneficiario", "4"),
        ("AnnoNascita", "2015"),
        ("CodiceRegioneResidenza", "08"),
        ("CodiceNazioneResidenza", "380"),
    ]);
    s.prestazioni = vec!["A1.02".into(), "A2.02".into()];
    s.famiglia = vec![ComposizioneFamiglia::from_code("1").unwrap()];
    Flow {
        sinba_flow: true,
        header,
        beneficiari: vec![],
        sinba: vec![s],
    }
}

#[test]
fn clean_fixtures_have_no_violations() {
    for profile in [Profile::Strict, Profile::Compat] {
        let v = clean_ps().check(profile);
        assert!(v.is_empty(), "{v:#?}");
        let v = clean_sinba().check(profile);
        assert!(v.is_empty(), "{v:#?}");
    }
}

// ------------------------------------------------------ one case per rule

type Mutation = fn(&mut Flow);

/// (base fixture, mutation, exact set of rules expected, field of the first).
struct Case {
    sinba: bool,
    mutate: Mutation,
    expect: &'static [&'static str],
    field: &'static str,
}

const fn ps(mutate: Mutation, expect: &'static [&'static str], field: &'static str) -> Case {
    Case {
        sinba: false,
        mutate,
        expect,
        field,
    }
}
const fn sb(mutate: Mutation, expect: &'static [&'static str], field: &'static str) -> Case {
    Case {
        sinba: true,
        mutate,
        expect,
        field,
    }
}

fn cases() -> Vec<Case> {
    vec![
        // Header
        ps(
            |f| set(&mut f.header, "Nome", "H501_PS_20240520"),
            &["FLUSSO_NOME_FORMATO"],
            "IdentificazioneFlusso/@Nome",
        ),
        ps(
            |f| set(&mut f.header, "Nome", "H501.PS.20240230.000001"),
            &["FLUSSO_NOME_FORMATO"],
            "IdentificazioneFlusso/@Nome",
        ),
        ps(
            |f| set(&mut f.header, "Nome", "H501.SINBA.20240520.000001"),
            &["FLUSSO_NOME_TIPO"],
            "IdentificazioneFlusso/@Nome",
        ),
        sb(
            |f| set(&mut f.header, "Nome", "H501.PS.20240520.000001"),
            &["FLUSSO_NOME_TIPO"],
            "IdentificazioneFlusso/@Nome",
        ),
        ps(
            |f| set(&mut f.header, "Nome", "F205.PSA.INPS.20240520.000001"),
            &["FLUSSO_NOME_ENTE"],
            "IdentificazioneFlusso/@Nome",
        ),
        ps(
            |f| set(&mut f.header.ente, "Indirizzo", "Z999"),
            &["REF_ENTE_BELFIORE"],
            "IdentificazioneFlusso/Ente/@Indirizzo",
        ),
        // A351 exists but is not valid on a date before 1892.
        ps(
            |f| set(&mut f.header.ente, "CFOperatore", "RSSMRK66C14H501A"),
            &["CF_OPERATORE"],
            "IdentificazioneFlusso/Ente/@CFOperatore",
        ),
        ps(
            |f| set(&mut f.header.ente, "CFOperatore", "12345678901"),
            &["CF_OPERATORE"],
            "IdentificazioneFlusso/Ente/@CFOperatore",
        ),
        // Beneficiary
        ps(
            |f| set(f.b(), "CodiceFiscale", "RSSMRK66C14H501X"),
            &["CF_BENEFICIARIO"],
            "Beneficiario/@CodiceFiscale",
        ),
        ps(
            |f| set(f.b(), "CodiceFiscale", "RSSMRK66Z14H501U"),
            &["CF_BENEFICIARIO"],
            "Beneficiario/@CodiceFiscale",
        ),
        ps(
            |f| set(&mut f.b().anagrafica, "AnnoNascita", "1965"),
            &["CF_ANAGRAFICA"],
            "Beneficiario/Anagrafica/@AnnoNascita",
        ),
        ps(
            |f| set(&mut f.b().anagrafica, "Genere", "2"),
            &["CF_ANAGRAFICA"],
            "Beneficiario/Anagrafica/@Genere",
        ),
        ps(
            |f| set(&mut f.b().anagrafica, "LuogoNascita", "F205"),
            &["CF_ANAGRAFICA"],
            "Beneficiario/Anagrafica/@LuogoNascita",
        ),
        ps(
            |f| {
                set(f.b(), "CodiceFiscale", &with_cin("RSSMRK66C14Z999"));
                set(&mut f.b().anagrafica, "LuogoNascita", "Z999");
            },
            &["REF_LUOGO_NASCITA"],
            "Beneficiario/Anagrafica/@LuogoNascita",
        ),
        // A351 (Aragona) is a comune only from 1892.
        ps(
            |f| {
                set(f.b(), "CodiceFiscale", "12345678903");
                set(&mut f.b().anagrafica, "LuogoNascita", "A351");
                set(&mut f.b().anagrafica, "AnnoNascita", "1885");
            },
            &["REF_LUOGO_NASCITA"],
            "Beneficiario/Anagrafica/@LuogoNascita",
        ),
        ps(
            |f| set(&mut f.b().anagrafica, "CodiceCittadinanza", "000"),
            &["REF_PAESE"],
            "Beneficiario/Anagrafica/@CodiceCittadinanza",
        ),
        ps(
            |f| set(&mut f.b().anagrafica, "CodiceSecondaCittadinanza", "999"),
            &["REF_PAESE"],
            "Beneficiario/Anagrafica/@CodiceSecondaCittadinanza",
        ),
        ps(
            |f| set(&mut f.b().indirizzi[1], "CodiceNazione", "000"),
            &["REF_PAESE"],
            "Beneficiario/Indirizzo[2]/@CodiceNazione",
        ),
        ps(
            |f| {
                set(f.b(), "CodiceFiscale", "12345678903");
                set(&mut f.b().anagrafica, "AnnoNascita", "2031");
            },
            &["PS_ANNO_NASCITA"],
            "Beneficiario/Anagrafica/@AnnoNascita",
        ),
        ps(
            |f| {
                set(f.b(), "CodiceFiscale", "12345678903");
                set(&mut f.b().anagrafica, "LuogoNascita", "Z110");
                set(&mut f.b().anagrafica, "AnnoNascita", "1066");
            },
            &["PS_ANNO_NASCITA"],
            "Beneficiario/Anagrafica/@AnnoNascita",
        ),
        ps(
            |f| f.b().indirizzi[0].codice_regione = None,
            &["PS_INDIRIZZO_ITALIA"],
            "Beneficiario/Indirizzo[1]/@CodiceRegione",
        ),
        ps(
            |f| f.b().indirizzi[0].codice_comune = None,
            &["PS_INDIRIZZO_ITALIA"],
            "Beneficiario/Indirizzo[1]/@CodiceComune",
        ),
        ps(
            |f| set(&mut f.b().indirizzi[0], "CodiceComune", "058999"),
            &["REF_COMUNE"],
            "Beneficiario/Indirizzo[1]/@CodiceComune",
        ),
        ps(
            |f| set(&mut f.b().indirizzi[0], "CodiceRegione", "22"),
            &["REF_REGIONE"],
            "Beneficiario/Indirizzo[1]/@CodiceRegione",
        ),
        ps(
            |f| set(&mut f.b().indirizzi[0], "CodiceRegione", "01"),
            &["PS_REGIONE_COMUNE"],
            "Beneficiario/Indirizzo[1]/@CodiceRegione",
        ),
        // Benefit
        ps(
            |f| f.p().carattere_prestazione = None,
            &["PS_CARATTERE_MANCANTE"],
            "PrestazioniSociali/@CaratterePrestazione",
        ),
        ps(
            |f| f.p().data_inizio_prestazione = None,
            &["PS_PERIODICA_CAMPI"],
            "PrestazioniSociali/@DataInizioPrestazione",
        ),
        ps(
            |f| {
                let p = f.p();
                p.importo_mensile = None;
                p.importo_quota_ente = None;
                p.importo_quota_utente = None;
                p.importo_quota_ssn = None;
            },
            &["PS_PERIODICA_CAMPI"],
            "PrestazioniSociali/@ImportoMensile",
        ),
        ps(
            |f| f.beneficiari[0].1[1].data_erogazione_prestazione = None,
            &["PS_OCCASIONALE_CAMPI"],
            "PrestazioniSociali/@DataErogazionePrestazione",
        ),
        ps(
            |f| f.beneficiari[0].1[1].importo_prestazione = None,
            &["PS_OCCASIONALE_CAMPI"],
            "PrestazioniSociali/@ImportoPrestazione",
        ),
        ps(
            |f| {
                let p = &mut f.beneficiari[0].1[1];
                set(p, "ImportoPrestazione", "0.00");
                p.importo_quota_ente = None;
                p.importo_quota_utente = None;
            },
            &["PS_IMPORTO_NON_POSITIVO"],
            "PrestazioniSociali/@ImportoPrestazione",
        ),
        ps(
            |f| set(f.p(), "ImportoSogliaISEE", "-1"),
            &["PS_IMPORTO_NEGATIVO"],
            "PrestazioniSociali/@ImportoSogliaISEE",
        ),
        ps(
            |f| {
                set(f.p(), "ImportoQuotaUtente", "-1.00");
                set(f.p(), "ImportoQuotaEnte", "75.25");
            },
            &["PS_IMPORTO_NEGATIVO"],
            "PrestazioniSociali/@ImportoQuotaUtente",
        ),
        ps(
            |f| {
                set(f.p(), "ImportoQuotaSSN", "0.0");
                set(f.p(), "ImportoQuotaUtente", "48.69");
            },
            &["PS_QUOTA_ZERO"],
            "PrestazioniSociali/@ImportoQuotaSSN",
        ),
        ps(
            |f| set(f.p(), "ImportoQuotaSSN", "26.97"),
            &["PS_QUOTE_SOMMA"],
            "PrestazioniSociali/@ImportoQuotaEnte",
        ),
        ps(
            |f| set(&mut f.beneficiari[0].1[1], "ImportoQuotaUtente", "0.01"),
            &["PS_QUOTE_SOMMA"],
            "PrestazioniSociali/@ImportoQuotaEnte",
        ),
        ps(
            |f| set(f.p(), "DataFinePrestazione", "2025-01-31"),
            &["PS_DATA_FINE_ANNO"],
            "PrestazioniSociali/@DataFinePrestazione",
        ),
        ps(
            |f| set(f.p(), "DataFinePrestazione", "2024-02-28"),
            &["PS_DATA_FINE_PRECEDENTE"],
            "PrestazioniSociali/@DataFinePrestazione",
        ),
        ps(
            |f| {
                set(f.b(), "CodiceFiscale", "12345678903");
                set(&mut f.b().anagrafica, "AnnoNascita", "2025");
            },
            &[
                "PS_PRESTAZIONE_PRIMA_NASCITA",
                "PS_PRESTAZIONE_PRIMA_NASCITA",
            ],
            "PrestazioniSociali/@DataInizioPrestazione",
        ),
        ps(
            |f| set(f.p(), "DataEvento", "2031-01-01"),
            &["PS_DATA_IMPLAUSIBILE"],
            "PrestazioniSociali/@DataEvento",
        ),
        ps(
            |f| set(f.p(), "DataEvento", "0202-01-01"),
            &["PS_DATA_IMPLAUSIBILE"],
            "PrestazioniSociali/@DataEvento",
        ),
        ps(
            |f| f.p().data_dsu = None,
            &["PS_DSU_INCOMPLETA"],
            "PrestazioniSociali/@DataDSU",
        ),
        ps(
            |f| set(f.p(), "NumeroProtocolloDSU", ""),
            &["PS_DSU_INCOMPLETA"],
            "PrestazioniSociali/@NumeroProtocolloDSU",
        ),
        ps(
            |f| set(f.p(), "NumeroProtocolloDSU", "2024-00597381W"),
            &["PS_DSU_PROTOCOLLO"],
            "PrestazioniSociali/@NumeroProtocolloDSU",
        ),
        ps(
            |f| set(f.p(), "AnnoProtocolloDSU", "2023"),
            &["PS_DSU_ANNO"],
            "PrestazioniSociali/@AnnoProtocolloDSU",
        ),
        ps(
            |f| {
                let p = f.p();
                p.numero_protocollo_dsu = None;
                p.anno_protocollo_dsu = None;
                p.data_dsu = None;
            },
            &["PS_DSU_ATTESA"],
            "PrestazioniSociali/@NumeroProtocolloDSU",
        ),
        ps(
            |f| f.p().area_utenza = None,
            &["PS_AREA_UTENZA"],
            "PrestazioniSociali/@AreaUtenza",
        ),
        ps(
            |f| set(f.p(), "OreServizioMensile", "2.75"),
            &["PS_ORE_FORMATO"],
            "PrestazioniSociali/@OreServizioMensile",
        ),
        ps(
            |f| set(f.p(), "OreServizioMensile", "2.6"),
            &["PS_ORE_FORMATO"],
            "PrestazioniSociali/@OreServizioMensile",
        ),
        ps(
            |f| set(f.p(), "OreServizioMensile", "2.305"),
            &["PS_ORE_FORMATO"],
            "PrestazioniSociali/@OreServizioMensile",
        ),
        ps(
            |f| set(f.p(), "PeriodoErogazione", "4"),
            &["PS_PERIODO_EROGAZIONE"],
            "PrestazioniSociali/@PeriodoErogazione",
        ),
        ps(
            |f| {
                f.p().data_fine_prestazione = None;
                set(f.p(), "DataInizioPrestazione", "2024-11-01");
            },
            &["PS_PERIODO_EROGAZIONE"],
            "PrestazioniSociali/@PeriodoErogazione",
        ),
        ps(
            |f| set(&mut f.beneficiari[0].1[1], "CodicePrestazione", "A2.20"),
            &["PS_SOLO_PRESA_IN_CARICO"],
            "PrestazioniSociali/@PresaCarico",
        ),
        ps(
            |f| set(f.p(), "CodicePrestazione", "A9.99"),
            &["REF_PRESTAZIONE"],
            "PrestazioniSociali/@CodicePrestazione",
        ),
        ps(
            |f| {
                f.p().sina.as_mut().unwrap().necessita_interventi_sociali =
                    Some(vec!["A2.07".into(), "a2.17".into()])
            },
            &["REF_PRESTAZIONE"],
            "PrestazioniSociali/SINA/NecessitaInterventiSociali/CodicePrestazione[2]",
        ),
        // A1.05.01 exists only from 2022.
        ps(
            |f| {
                set(f.p(), "CodicePrestazione", "A1.05.01");
                set(f.p(), "DataInizioPrestazione", "2021-03-01");
                set(f.p(), "DataFinePrestazione", "2021-05-31");
            },
            &["REF_PRESTAZIONE_DATA"],
            "PrestazioniSociali/@CodicePrestazione",
        ),
        ps(
            |f| f.p().sina = None,
            &["SINA_MANCANTE"],
            "PrestazioniSociali/SINA",
        ),
        ps(
            |f| {
                let s = f.p().sina.clone();
                f.beneficiari[0].1[1].sina = s;
            },
            &["SINA_SENZA_PRESA_IN_CARICO"],
            "PrestazioniSociali/SINA",
        ),
        // SINBA
        sb(
            |f| f.s().codice_regione_residenza = None,
            &["SINBA_REGIONE_OBBLIGATORIA"],
            "SINBA/@CodiceRegioneResidenza",
        ),
        sb(
            |f| set(f.s(), "CodiceRegioneResidenza", "00"),
            &["REF_REGIONE"],
            "SINBA/@CodiceRegioneResidenza",
        ),
        sb(
            |f| set(f.s(), "CodiceRegioneResidenzaMadre", "99"),
            &["REF_REGIONE"],
            "SINBA/@CodiceRegioneResidenzaMadre",
        ),
        sb(
            |f| set(f.s(), "CodiceCittadinanzaPadre", "000"),
            &["REF_PAESE"],
            "SINBA/@CodiceCittadinanzaPadre",
        ),
        sb(
            |f| set(f.s(), "CodiceNazioneResidenza", "001"),
            &["REF_PAESE"],
            "SINBA/@CodiceNazioneResidenza",
        ),
        sb(
            |f| f.s().prestazioni[1] = "A2.99".into(),
            &["REF_PRESTAZIONE"],
            "SINBA/Prestazioni/CodicePrestazione[2]",
        ),
        sb(
            |f| set(f.s(), "NumeroComponentiISEE", "0"),
            &["SINBA_NUMERO_COMPONENTI_ISEE"],
            "SINBA/@NumeroComponentiISEE",
        ),
        sb(
            |f| set(f.s(), "Disabilita", "1"),
            &["SINBA_DISABILITA", "SINBA_DISABILITA"],
            "SINBA/@TipoDisabilita",
        ),
        sb(
            |f| set(f.s(), "TipoDisabilita", "1"),
            &["SINBA_DISABILITA"],
            "SINBA/@TipoDisabilita",
        ),
        sb(
            |f| set(f.s(), "SegnalazioneAutoritaGiudiziaria", "1"),
            &["SINBA_SEGNALAZIONE_DATA"],
            "SINBA/@DataSegnalazione",
        ),
        sb(
            |f| set(f.s(), "DataSegnalazione", "03/2024"),
            &["SINBA_SEGNALAZIONE_DATA"],
            "SINBA/@DataSegnalazione",
        ),
        sb(
            |f| set(f.s(), "ProvvedimentoGiudiziario", "1"),
            &["SINBA_PROVVEDIMENTO_DATA"],
            "SINBA/@DataProvvedimentoGiudiziario",
        ),
        sb(
            |f| set(f.s(), "DataProvvedimentoGiudiziario", "03/2024"),
            &["SINBA_PROVVEDIMENTO_DATA"],
            "SINBA/@DataProvvedimentoGiudiziario",
        ),
        sb(
            |f| set(f.s(), "FasciaEtaBeneficiario", "1"),
            &["SINBA_FASCIA_ETA"],
            "SINBA/@FasciaEtaBeneficiario",
        ),
        sb(
            |f| set(f.s(), "IDBeneficiario", "RSSMRK66C14H501U"),
            &["SINBA_ID_CODICE_FISCALE"],
            "SINBA/@IDBeneficiario",
        ),
        sb(
            |f| set(f.s(), "IDBeneficiario", "X-RSSMRK66C14H501U"),
            &["SINBA_ID_CODICE_FISCALE"],
            "SINBA/@IDBeneficiario",
        ),
        sb(
            |f| {
                set(f.s(), "SegnalazioneAutoritaGiudiziaria", "1");
                set(f.s(), "DataSegnalazione", "07/2025");
            },
            &["SINBA_DATA_FUTURA"],
            "SINBA/@DataSegnalazione",
        ),
        sb(
            |f| {
                set(f.s(), "AnnoNascita", "2026");
                f.s().fascia_eta_beneficiario = None;
            },
            &["SINBA_ANNO_NASCITA"],
            "SINBA/@AnnoNascita",
        ),
    ]
}

#[test]
fn every_rule_triggers_alone() {
    let mut covered = BTreeSet::new();
    for (i, c) in cases().into_iter().enumerate() {
        let mut f = if c.sinba { clean_sinba() } else { clean_ps() };
        (c.mutate)(&mut f);
        let v = f.check(Profile::Strict);
        let mut got: Vec<&str> = v.iter().map(|x| x.rule.as_str()).collect();
        got.sort_unstable();
        let mut want = c.expect.to_vec();
        want.sort_unstable();
        assert_eq!(got, want, "case {i}: {v:#?}");
        assert_eq!(v[0].field, c.field, "case {i}");
        for x in &v {
            assert!(
                !x.message.is_empty() && x.message.ends_with('.'),
                "case {i}: {}",
                x.message
            );
            let def = rules::find_rule(&x.rule).unwrap();
            assert_eq!(x.severity, def.strict);
            assert_eq!(x.category, Category::Dominio);
        }
        // Under compat only reference tables and the privacy rule are errors.
        for x in f.check(Profile::Compat) {
            let def = rules::find_rule(&x.rule).unwrap();
            let must_be_error = x.rule.starts_with("REF_") || x.rule == "SINBA_ID_CODICE_FISCALE";
            assert_eq!(
                x.is_error(),
                must_be_error,
                "case {i}: {x:?} ({:?})",
                def.source
            );
        }
        covered.extend(want.into_iter().map(str::to_string));
    }
    let all: BTreeSet<String> = rules::DOMAIN_RULES
        .iter()
        .map(|r| r.code.to_string())
        .collect();
    let missing: Vec<_> = all.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "rules without a triggering case: {missing:?}"
    );
}

// ------------------------------------------------------------ cancellations

#[test]
fn cancellation_checks_only_the_key() {
    let mut f = clean_ps();
    f.beneficiari[0].1.truncate(1);
    {
        // Everything but the key is broken.
        let b = f.b();
        set(&mut b.anagrafica, "CodiceCittadinanza", "100");
        b.indirizzi[0].codice_regione = None;
        let p = f.p();
        set(p, "TipoOperazione", "C");
        set(p, "ImportoQuotaSSN", "0");
        set(p, "DataFinePrestazione", "2025-12-31");
        set(p, "OreServizioMensile", "9.99");
        p.data_dsu = None;
        p.area_utenza = None;
        p.sina = None;
        // The code must exist, not be in force.
        set(p, "CodicePrestazione", "A1.05.01");
    }
    let v = f.check(Profile::Strict);
    assert!(v.is_empty(), "{v:#?}");

    // Key fields are still checked.
    set(f.b(), "CodiceFiscale", "RSSMRK66C14H501X");
    set(f.p(), "CodicePrestazione", "A9.99");
    f.p().data_inizio_prestazione = None;
    let v = f.check(Profile::Strict);
    let got: BTreeSet<String> = v.iter().map(|x| x.rule.clone()).collect();
    assert_eq!(
        got,
        set_of(&["CF_BENEFICIARIO", "REF_PRESTAZIONE", "PS_PERIODICA_CAMPI"]),
        "{v:#?}"
    );

    // A one-off cancellation is keyed by the payment date.
    let p = f.p();
    p.carattere_prestazione = Some(CaratterePrestazione::OccasionaleUnicaSoluzione);
    set(p, "CodicePrestazione", "A1.09");
    let v: Vec<String> = f
        .check(Profile::Strict)
        .into_iter()
        .map(|x| x.field)
        .collect();
    assert!(
        v.contains(&"PrestazioniSociali/@DataErogazionePrestazione".to_string()),
        "{v:?}"
    );
}

// ------------------------------------------------------ skipping and messages

#[test]
fn absent_inputs_are_skipped() {
    // Everything optional or rejected by the schema: no domain rule may fire
    // on a missing input (only "required if" rules, on present conditions).
    let mut f = clean_ps();
    let b = f.b();
    b.codice_fiscale = None;
    b.anagrafica = Default::default();
    b.indirizzi = vec![Default::default()];
    f.header = Default::default();
    let p = f.p();
    *p = PrestazioniSociali {
        carattere_prestazione: p.carattere_prestazione,
        ..Default::default()
    };
    let v = f.check(Profile::Strict);
    let got: BTreeSet<String> = v.iter().map(|x| x.rule.clone()).collect();
    assert_eq!(got, set_of(&["PS_PERIODICA_CAMPI"]), "{v:#?}");

    let mut s = clean_sinba();
    s.sinba[0] = Sinba::default();
    s.header = Default::default();
    assert!(s.check(Profile::Strict).is_empty());
}

#[test]
fn messages_name_values_and_remedy() {
    let mut f = clean_ps();
    set(f.p(), "DataFinePrestazione", "2025-01-31");
    set(&mut f.b().indirizzi[0], "CodiceRegione", "01");
    let v = f.check(Profile::Strict);
    let anno = v.iter().find(|x| x.rule == "PS_DATA_FINE_ANNO").unwrap();
    assert!(
        anno.message.contains("2024-03-01") && anno.message.contains("2025-01-31"),
        "{}",
        anno.message
    );
    let reg = v.iter().find(|x| x.rule == "PS_REGIONE_COMUNE").unwrap();
    assert!(
        reg.message.contains("Roma")
            && reg.message.contains("08 Lazio")
            && reg.message.contains("01 Abruzzo"),
        "{}",
        reg.message
    );

    let mut s = clean_sinba();
    set(s.s(), "IDBeneficiario", "RSSMRK66C14H501U");
    let v = s.check(Profile::Strict);
    // The message must not echo the codice fiscale.
    assert!(!v[0].message.contains("RSSMRK66C14H501U"));
}

#[test]
fn header_accepts_every_documented_name_variant() {
    for (nome, sinba) in [
        ("H501.PS.20210520.0000002", false),
        ("H501.PSA.INPS.20160423.115235", false),
        ("H501.SINA.20210520.00000004", false),
        ("H501.SINBA.20210520.00000004", true),
    ] {
        let mut f = if sinba { clean_sinba() } else { clean_ps() };
        set(&mut f.header, "Nome", nome);
        assert!(f.check(Profile::Strict).is_empty(), "{nome}");
    }
}

// ------------------------------------------------------------ catalogue

#[test]
fn catalogue_is_consistent() {
    let all = rules::all_rules();
    let codes: BTreeSet<&str> = all.iter().map(|r| r.code).collect();
    assert_eq!(codes.len(), all.len(), "duplicate codes");
    for r in rules::DOMAIN_RULES {
        assert_eq!(r.category, Category::Dominio, "{}", r.code);
        assert!(
            ["CF_", "REF_", "PS_", "SINA_", "SINBA_", "FLUSSO_"]
                .iter()
                .any(|p| r.code.starts_with(p)),
            "{}",
            r.code
        );
        assert!(
            r.code.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'),
            "{}",
            r.code
        );
        assert!(
            ["tutti", "PS_PSA_SINA", "SINBA"].contains(&r.flows),
            "{}",
            r.code
        );
        assert!(!r.title.is_empty() && !r.note.is_empty(), "{}", r.code);
        assert!(std::ptr::eq(rules::find_rule(r.code).unwrap(), *r));
        use casellario_domain::catalogue::Source;
        match r.source {
            Source::Tabelle => assert!(
                r.strict == Severity::Errore && r.compat == Severity::Errore,
                "{}",
                r.code
            ),
            Source::Specifica => assert_eq!(r.compat, Severity::Avviso, "{}", r.code),
            Source::Dedotta => {
                assert!(
                    r.compat == Severity::Avviso || r.code == "SINBA_ID_CODICE_FISCALE",
                    "{}",
                    r.code
                )
            }
            other => panic!("{}: {other:?}", r.code),
        }
    }
    assert!(rules::find_rule("XSD_VALORE").is_some());
    assert!(rules::find_rule("NON_ESISTE").is_none());
}

#[test]
fn catalogue_markdown_lists_every_rule() {
    let md = rules::catalogue_markdown();
    assert!(md.starts_with("# Catalogo delle regole di validazione\n"));
    assert_eq!(
        md.matches("| Codice | Gravità strict | Gravità compat | Flussi | Fonte | Regola | Nota |")
            .count(),
        3
    );
    for r in rules::all_rules() {
        let row = md
            .lines()
            .find(|l| l.starts_with(&format!("| `{}` |", r.code)))
            .unwrap();
        // 7 cells: escaped pipes do not split them.
        assert_eq!(row.replace("\\|", "").matches('|').count(), 8, "{row}");
    }
    assert!(md.contains("(PS\\|PSA\\|SINA\\|SINBA)"));
    assert!(md.contains("&lt;!DOCTYPE>") && !md.contains("<!DOCTYPE"));
    assert_eq!(md, rules::catalogue_markdown(), "deterministic");
}
