//! Definitions of the business and reference rules (the `DOMAIN_RULES` part of
//! the catalogue). Severity policy, applied rule by rule below:
//! - `strict`: official rules (Allegati B/C, XSD annotations) and reference
//!   checks are errors; inferred rules (DOMAIN.md §3.4) are warnings unless the
//!   violation is impossible data (the note says why);
//! - `compat`: reference checks stay errors, every other domain rule is a
//!   warning (INPS's own samples break several official notes, §8). The one
//!   exception is the privacy rule on `IDBeneficiario`, an error in both.

use crate::catalogue::{RuleDef, Source, declare_rule};
use crate::outcome::{Category, Severity};

const E: Severity = Severity::Errore;
const A: Severity = Severity::Avviso;

// --- Intestazione del flusso --------------------------------------------
declare_rule!(FLUSSO_NOME_FORMATO, "FLUSSO_NOME_FORMATO", Dominio, Specifica, E, A, "tutti",
    "Il nome del flusso (IdentificazioneFlusso/@Nome) deve avere la forma {CodiceEnte}.{PS|PSA|SINA|SINBA}[.INPS].{AAAAMMGG}.{progressivo}: codice ente di lettere maiuscole e cifre (al massimo 32), data di invio esistente, progressivo giornaliero di 6-8 cifre.",
    "Forma accettata: `^[A-Z0-9]{1,32}\\.(PS|PSA|SINA|SINBA)(\\.INPS)?\\.\\d{8}\\.\\d{6,8}$`, che comprende le varianti dell'Allegato B/C, di WaaS e dell'esempio INPS del 2016. Avviso in compat perché l'XSD ammette qualsiasi testo fino a 50 caratteri.");
declare_rule!(FLUSSO_NOME_TIPO, "FLUSSO_NOME_TIPO", Dominio, Specifica, E, A, "tutti",
    "Il tipo nel nome del flusso deve corrispondere al flusso: SINBA per i flussi SINBA; PS, PSA o SINA per i flussi PS-PSA-SINA.",
    "Allegato B: {PS,PSA,SINA}; Allegato C: SINBA. Errore in strict, avviso in compat.");
declare_rule!(FLUSSO_NOME_ENTE, "FLUSSO_NOME_ENTE", Dominio, Specifica, E, A, "tutti",
    "Il codice ente all'inizio del nome del flusso deve essere uguale a IdentificazioneFlusso/Ente/@Codice.",
    "L'Allegato B costruisce il nome a partire dal codice ente (gli esempi INPS usano H501 in entrambi): un nome con un altro ente indica un flusso preparato per un altro ente o rinominato a mano. Errore in strict, avviso in compat.");
declare_rule!(REF_ENTE_BELFIORE, "REF_ENTE_BELFIORE", Dominio, Tabelle, E, E, "tutti",
    "Ente/@Indirizzo deve essere il codice catastale (Belfiore) di un comune esistente: in vigore oggi o alla data di invio indicata nel nome del flusso.",
    "È un errore di intestazione: scarta l'intero flusso.");
declare_rule!(CF_OPERATORE, "CF_OPERATORE", Dominio, Specifica, E, A, "tutti",
    "Ente/@CFOperatore deve essere un codice fiscale valido: 16 caratteri con mese, giorno e carattere di controllo corretti, oppure 11 cifre con cifra di controllo corretta.",
    "L'XSD controlla solo la forma; il carattere di controllo è parte del codice fiscale. Errore di intestazione in strict (scarta l'intero flusso: l'esempio INPS n. 1 ha CFOperatore CCCDDD25A42H199X, controllo atteso E, ed è respinto), avviso in compat.");

// --- Beneficiario (PS-PSA-SINA) -----------------------------------------
declare_rule!(CF_BENEFICIARIO, "CF_BENEFICIARIO", Dominio, Specifica, E, A, "PS_PSA_SINA",
    "Beneficiario/@CodiceFiscale deve essere un codice fiscale valido: 16 caratteri con mese, giorno e carattere di controllo corretti (omocodia ammessa), oppure 11 cifre con cifra di controllo corretta.",
    "Il codice fiscale è la chiave del beneficiario: un codice errato scarta tutte le prestazioni del beneficiario in strict. Avviso in compat: gli esempi INPS contengono codici con carattere di controllo errato.");
declare_rule!(CF_ANAGRAFICA, "CF_ANAGRAFICA", Dominio, Dedotta, A, A, "PS_PSA_SINA",
    "Anno di nascita, genere e luogo di nascita dell'Anagrafica devono corrispondere a quelli contenuti nel codice fiscale personale.",
    "Regola dedotta: i codici numerici (provvisori) non contengono dati anagrafici e non sono confrontati.");
declare_rule!(REF_LUOGO_NASCITA, "REF_LUOGO_NASCITA", Dominio, Tabelle, E, E, "PS_PSA_SINA",
    "Anagrafica/@LuogoNascita deve essere il codice catastale di un comune in vigore nell'anno di nascita oppure il codice Z di uno stato estero.",
    "I codici Z degli stati esteri sono accettati anche per anni precedenti alla nascita dello stato, come nella prassi anagrafica.");
declare_rule!(REF_PAESE, "REF_PAESE", Dominio, Tabelle, E, E, "tutti",
    "I codici di cittadinanza e di nazione (CodiceCittadinanza, CodiceSecondaCittadinanza, CodiceNazione, CodiceNazioneResidenza, CodiceCittadinanzaPadre/Madre) devono essere codici numerici ISO 3166-1 oppure 990 (non disponibile).",
    "Tabella ISO 3166-1 numerica (380 = Italia); 990 è ammesso per tutti i campi. Non vanno usati i codici ISTAT degli stati (Italia = 100) né i codici Z.");
declare_rule!(PS_ANNO_NASCITA, "PS_ANNO_NASCITA", Dominio, Dedotta, E, A, "PS_PSA_SINA",
    "Anagrafica/@AnnoNascita non può essere nel futuro né precedente al 1880.",
    "Errore in strict anche se dedotta: un anno futuro è impossibile e nessuna persona vivente è nata prima del 1880, quindi si tratta sempre di un errore di digitazione.");
declare_rule!(PS_INDIRIZZO_ITALIA, "PS_INDIRIZZO_ITALIA", Dominio, Specifica, E, A, "PS_PSA_SINA",
    "Se Indirizzo/@CodiceNazione è 380 (Italia), CodiceRegione e CodiceComune sono obbligatori.",
    "Annotazione dell'XSD e Allegato B. Si controlla ciascuna residenza (fino a 5).");
declare_rule!(REF_COMUNE, "REF_COMUNE", Dominio, Tabelle, E, E, "PS_PSA_SINA",
    "Indirizzo/@CodiceComune deve essere il codice ISTAT a 6 cifre di un comune esistente.",
    "La tabella è l'elenco ISTAT corrente: il codice di un comune soppresso per fusione non è più accettato.");
declare_rule!(REF_REGIONE, "REF_REGIONE", Dominio, Tabelle, E, E, "tutti",
    "I codici regione (Indirizzo/@CodiceRegione, SINBA/@CodiceRegioneResidenza, CodiceRegioneResidenzaPadre/Madre) devono appartenere alla codifica DM 1986 (01 Abruzzo … 21 Veneto, 03 Bolzano e 18 Trento distinti).",
    "La specifica rimanda alla codifica \"DM 1986\" (tabella ENTI-T0 dell'Agenzia delle Entrate, ordine alfabetico), non alla numerazione ISTAT.");
declare_rule!(PS_REGIONE_COMUNE, "PS_REGIONE_COMUNE", Dominio, Dedotta, A, A, "PS_PSA_SINA",
    "Indirizzo/@CodiceRegione deve essere la regione (codifica DM 1986) del comune indicato in CodiceComune.",
    "Regola dedotta: il confronto usa la regione del comune nell'elenco ISTAT convertita in codifica DM 1986 (Trentino-Alto Adige diviso per provincia).");

// --- Prestazione sociale --------------------------------------------------
declare_rule!(PS_CARATTERE_MANCANTE, "PS_CARATTERE_MANCANTE", Dominio, Specifica, E, A, "PS_PSA_SINA",
    "CaratterePrestazione è obbligatorio per la specifica (1 periodica, 2 occasionale) anche se l'XSD lo dichiara facoltativo.",
    "Non si applica alle cancellazioni (TipoOperazione=\"C\").");
declare_rule!(PS_PERIODICA_CAMPI, "PS_PERIODICA_CAMPI", Dominio, Specifica, E, A, "PS_PSA_SINA",
    "Una prestazione periodica (CaratterePrestazione=1) deve avere DataInizioPrestazione e ImportoMensile.",
    "Nelle cancellazioni (TipoOperazione=\"C\") si controlla solo DataInizioPrestazione, che fa parte della chiave del record.");
declare_rule!(PS_OCCASIONALE_CAMPI, "PS_OCCASIONALE_CAMPI", Dominio, Specifica, E, A, "PS_PSA_SINA",
    "Una prestazione occasionale (CaratterePrestazione=2) deve avere DataErogazionePrestazione e ImportoPrestazione.",
    "Nelle cancellazioni (TipoOperazione=\"C\") si controlla solo DataErogazionePrestazione, che fa parte della chiave del record.");
declare_rule!(PS_IMPORTO_NON_POSITIVO, "PS_IMPORTO_NON_POSITIVO", Dominio, Specifica, E, A, "PS_PSA_SINA",
    "ImportoMensile e ImportoPrestazione, se presenti, devono essere maggiori di zero.",
    "Allegato B, colonna Formato: \"Maggiore 0\".");
declare_rule!(PS_IMPORTO_NEGATIVO, "PS_IMPORTO_NEGATIVO", Dominio, Specifica, E, A, "PS_PSA_SINA",
    "Quote, ImportoQuotaRichiesta, ImportoSogliaISEE e OreServizioMensile non possono essere negativi.",
    "La specifica chiede quota utente ≥ 0 e quote ente e SSN > 0; il divieto di valori negativi è esteso per coerenza agli altri importi.");
declare_rule!(PS_QUOTA_ZERO, "PS_QUOTA_ZERO", Dominio, Specifica, A, A, "PS_PSA_SINA",
    "ImportoQuotaEnte e ImportoQuotaSSN, se presenti, dovrebbero essere maggiori di zero (specifica: \"Maggiore 0\").",
    "Avviso in entrambi i profili: una quota pari a zero equivale a una quota assente nella regola della somma, e l'esempio INPS n. 1 invia ImportoQuotaSSN=\"0.0\". Le quote negative sono errori (PS_IMPORTO_NEGATIVO).");
declare_rule!(PS_QUOTE_SOMMA, "PS_QUOTE_SOMMA", Dominio, Specifica, E, A, "PS_PSA_SINA",
    "Se è presente almeno una quota, ImportoQuotaEnte + ImportoQuotaUtente + ImportoQuotaSSN (assenti = 0) deve essere uguale a ImportoMensile (periodica) o a ImportoPrestazione (occasionale).",
    "Somma decimale esatta, senza arrotondamenti.");
declare_rule!(PS_DATA_FINE_ANNO, "PS_DATA_FINE_ANNO", Dominio, Specifica, E, A, "PS_PSA_SINA",
    "DataFinePrestazione, se presente, deve cadere nello stesso anno di DataInizioPrestazione: una prestazione pluriennale va inviata con un record per anno.",
    "Allegato B. Gli esportatori reali dividono le prestazioni pluriennali in un record per anno con lo stesso ProtocolloDomanda. L'esempio INPS del 2016 (2015-08-13 / 2016-08-13) non la rispetta ed è respinto in strict.");
declare_rule!(PS_DATA_FINE_PRECEDENTE, "PS_DATA_FINE_PRECEDENTE", Dominio, Dedotta, E, A, "PS_PSA_SINA",
    "DataFinePrestazione non può precedere DataInizioPrestazione.",
    "Errore in strict anche se dedotta: un periodo che finisce prima di iniziare non ha significato.");
declare_rule!(PS_PRESTAZIONE_PRIMA_NASCITA, "PS_PRESTAZIONE_PRIMA_NASCITA", Dominio, Dedotta, A, A, "PS_PSA_SINA",
    "La data della prestazione (inizio o erogazione) non dovrebbe essere in un anno precedente l'anno di nascita del beneficiario.",
    "Avviso: l'anno di nascita è noto ma non il giorno; una prestazione per un nascituro va intestata al genitore.");
declare_rule!(PS_DATA_IMPLAUSIBILE, "PS_DATA_IMPLAUSIBILE", Dominio, Dedotta, A, A, "PS_PSA_SINA",
    "Le date della prestazione (DataEvento, DataInizio/Fine/ErogazionePrestazione, DataDSU) non dovrebbero essere precedenti al 1900 né successive al 31 dicembre dell'anno prossimo.",
    "Una data di inizio vicina nel futuro è ammessa (prestazioni già concesse).");
declare_rule!(PS_DSU_INCOMPLETA, "PS_DSU_INCOMPLETA", Dominio, Specifica, E, A, "PS_PSA_SINA",
    "NumeroProtocolloDSU, AnnoProtocolloDSU e DataDSU vanno compilati tutti o nessuno.",
    "Un NumeroProtocolloDSU vuoto conta come non compilato.");
declare_rule!(PS_DSU_PROTOCOLLO, "PS_DSU_PROTOCOLLO", Dominio, Dedotta, A, A, "PS_PSA_SINA",
    "NumeroProtocolloDSU dovrebbe avere la forma INPS-ISEE-AAAA-NNNNNNNNL-PP (es. INPS-ISEE-2020-00597381W-00).",
    "Forma usata dalle attestazioni ISEE e dai prodotti regionali: `INPS-ISEE-[0-9]{4}-[0-9]{8}[A-Z]-[0-9]{2}`. Avviso: il campo ammette fino a 30 caratteri liberi.");
declare_rule!(PS_DSU_ANNO, "PS_DSU_ANNO", Dominio, Dedotta, A, A, "PS_PSA_SINA",
    "AnnoProtocolloDSU dovrebbe essere l'anno di DataDSU e l'anno contenuto nel NumeroProtocolloDSU.",
    "Avviso: il protocollo è assegnato alla presentazione della DSU, quindi i tre anni coincidono salvo errori.");
declare_rule!(PS_DSU_ATTESA, "PS_DSU_ATTESA", Dominio, Dedotta, A, A, "PS_PSA_SINA",
    "Una prestazione soggetta a ISEE (PresenzaProvaMezzi=1) dovrebbe riportare la DSU (protocollo, anno e data).",
    "Avviso: un esportatore regionale reale ha questo controllo disattivato, quindi INPS non sembra richiederlo.");
declare_rule!(PS_AREA_UTENZA, "PS_AREA_UTENZA", Dominio, Specifica, E, A, "PS_PSA_SINA",
    "Con presa in carico (PresaCarico=1) AreaUtenza è obbligatoria.",
    "Allegato B: \"Campo obbligatorio se presa in carico uguale 1\".");
declare_rule!(PS_ORE_FORMATO, "PS_ORE_FORMATO", Dominio, Specifica, E, A, "PS_PSA_SINA",
    "OreServizioMensile è nel formato HH,MM: la parte intera sono le ore, i decimali (al massimo due) sono i minuti, da 00 a 59 (es. 2.59 = 2 ore e 59 minuti).",
    "Un solo decimale vale decine di minuti: 2.6 equivale a 2.60, cioè 60 minuti, e non è ammesso.");
declare_rule!(PS_PERIODO_EROGAZIONE, "PS_PERIODO_EROGAZIONE", Dominio, Dedotta, A, A, "PS_PSA_SINA",
    "PeriodoErogazione (mesi) non dovrebbe superare i mesi di calendario tra DataInizioPrestazione e DataFinePrestazione (o fino a dicembre, se la data di fine manca).",
    "Un periodo inferiore è ammesso (erogazione non continuativa; 14/10-13/11 è un mese).");
declare_rule!(PS_SOLO_PRESA_IN_CARICO, "PS_SOLO_PRESA_IN_CARICO", Dominio, Dedotta, A, A, "PS_PSA_SINA",
    "Le prestazioni da trasmettere solo con presa in carico (A2.16-A2.29) dovrebbero avere PresaCarico=1.",
    "Dalla nota della tabella prestazioni riportata da un prodotto regionale (flag \"esporta solo se presa in carico\"); le prestazioni interessate sono marcate nella tabella di riferimento.");
declare_rule!(REF_PRESTAZIONE, "REF_PRESTAZIONE", Dominio, Tabelle, E, E, "tutti",
    "Ogni CodicePrestazione (della prestazione, dei bisogni SINA e delle prestazioni SINBA) deve esistere nella tabella dei codici delle prestazioni.",
    "Si applica anche alle cancellazioni, perché il codice fa parte della chiave del record.");
declare_rule!(REF_PRESTAZIONE_DATA, "REF_PRESTAZIONE_DATA", Dominio, Tabelle, E, E, "PS_PSA_SINA",
    "Il CodicePrestazione deve essere in vigore alla data della prestazione (DataInizioPrestazione se periodica, DataErogazionePrestazione se occasionale).",
    "Non si applica alle cancellazioni: un record inserito quando il codice era in vigore deve poter essere cancellato.");

// --- SINA -------------------------------------------------------------------
declare_rule!(SINA_MANCANTE, "SINA_MANCANTE", Dominio, Dedotta, A, A, "PS_PSA_SINA",
    "Con presa in carico (PresaCarico=1) nell'area disabilità e non autosufficienza (AreaUtenza=2) è attesa la valutazione SINA.",
    "Avviso: un esportatore reale richiede la SINA per anziani e disabili presi in carico; la SINA resta facoltativa nell'XSD.");
declare_rule!(SINA_SENZA_PRESA_IN_CARICO, "SINA_SENZA_PRESA_IN_CARICO", Dominio, Dedotta, A, A, "PS_PSA_SINA",
    "La valutazione SINA si compila solo quando c'è presa in carico (PresaCarico=1).",
    "DM 206/2014 art. 5: la banca dati delle valutazioni multidimensionali si alimenta solo con la presa in carico.");

// --- SINBA ------------------------------------------------------------------
declare_rule!(SINBA_REGIONE_OBBLIGATORIA, "SINBA_REGIONE_OBBLIGATORIA", Dominio, Specifica, E, A, "SINBA",
    "Se CodiceNazioneResidenza è 380 (Italia), CodiceRegioneResidenza è obbligatorio.",
    "L'esempio INPS SINBA (H501.SINBA.20210520.00000004) non rispetta questa regola ed è respinto in strict.");
declare_rule!(SINBA_NUMERO_COMPONENTI_ISEE, "SINBA_NUMERO_COMPONENTI_ISEE", Dominio, Specifica, E, A, "SINBA",
    "NumeroComponentiISEE, se presente, deve essere almeno 1 (l'XSD fissa solo il massimo, 9).",
    "L'XSD dichiara solo maxInclusive 9, quindi 0 e i negativi passano lo schema.");
declare_rule!(SINBA_DISABILITA, "SINBA_DISABILITA", Dominio, Dedotta, A, A, "SINBA",
    "Con Disabilita=1 vanno indicati TipoDisabilita e InvCivCertificazioni; con Disabilita=2 non vanno indicati.",
    "Dal controllo di un esportatore regionale reale. Avviso: la certificazione può mancare per un minore con disabilità non ancora certificata.");
declare_rule!(SINBA_SEGNALAZIONE_DATA, "SINBA_SEGNALAZIONE_DATA", Dominio, Dedotta, A, A, "SINBA",
    "Con SegnalazioneAutoritaGiudiziaria=1 va indicata DataSegnalazione; con SegnalazioneAutoritaGiudiziaria=2 non va indicata.",
    "Dal controllo di un esportatore regionale reale.");
declare_rule!(SINBA_PROVVEDIMENTO_DATA, "SINBA_PROVVEDIMENTO_DATA", Dominio, Dedotta, A, A, "SINBA",
    "Con ProvvedimentoGiudiziario=1 va indicata DataProvvedimentoGiudiziario; con ProvvedimentoGiudiziario=2 non va indicata.",
    "Dal controllo di un esportatore regionale reale.");
declare_rule!(SINBA_FASCIA_ETA, "SINBA_FASCIA_ETA", Dominio, Dedotta, A, A, "SINBA",
    "FasciaEtaBeneficiario dovrebbe corrispondere all'età ricavata da AnnoNascita nell'anno della data più recente del record (DataPrimaSegnalazione, DataSegnalazione, DataProvvedimentoGiudiziario).",
    "L'età è nota a meno di un anno (solo l'anno di nascita). L'esempio INPS (nato nel 2005, fascia 3-6 anni, date fino al 2016) non la rispetta: la fascia corrisponde all'età alla prima segnalazione, quindi il momento di riferimento non è certo.");
declare_rule!(SINBA_ID_CODICE_FISCALE, "SINBA_ID_CODICE_FISCALE", Dominio, Dedotta, E, E, "SINBA",
    "IDBeneficiario è uno pseudonimo assegnato dall'ente: non può essere né contenere un codice fiscale.",
    "Errore in entrambi i profili: per il DM 206/2014 art. 5 c. 4 i dati SINBA sono raccolti senza riferimenti che consentano di identificare il minore; accettarli esporrebbe un dato identificativo di un minore in una banca dati pseudonima. Non si segnalano gli identificativi di 11 cifre, indistinguibili da un numero di pratica.");
declare_rule!(SINBA_DATA_FUTURA, "SINBA_DATA_FUTURA", Dominio, Dedotta, E, A, "SINBA",
    "DataPrimaSegnalazione, DataSegnalazione e DataProvvedimentoGiudiziario (MM/AAAA) non possono essere successive al mese corrente.",
    "Errore in strict anche se dedotta: descrivono eventi già avvenuti. Non si controlla l'ordine tra le date: una segnalazione o un provvedimento dell'autorità giudiziaria possono precedere la prima segnalazione al servizio (che può venire dal tribunale).");
declare_rule!(SINBA_ANNO_NASCITA, "SINBA_ANNO_NASCITA", Dominio, Dedotta, E, A, "SINBA",
    "SINBA/@AnnoNascita non può essere nel futuro.",
    "Errore in strict anche se dedotta: un anno di nascita futuro è impossibile.");
