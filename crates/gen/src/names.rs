//! Small embedded name lists. Uppercase, as registry offices write them;
//! a few carry apostrophes, spaces or accents so that consumers meet them.

/// Common Italian surnames (ISTAT frequency lists, top ~200).
#[rustfmt::skip]
pub const COGNOMI: &[&str] = &[
    "ROSSI", "RUSSO", "FERRARI", "ESPOSITO", "BIANCHI", "ROMANO", "COLOMBO", "RICCI", "MARINO",
    "GRECO", "BRUNO", "GALLO", "CONTI", "DE LUCA", "MANCINI", "COSTA", "GIORDANO", "RIZZO",
    "LOMBARDI", "MORETTI", "BARBIERI", "FONTANA", "SANTORO", "MARIANI", "RINALDI", "CARUSO",
    "FERRARA", "GALLI", "MARTINI", "LEONE", "LONGO", "GENTILE", "MARTINELLI", "VITALE", "LOMBARDO",
    "SERRA", "COPPOLA", "DE SANTIS", "D'ANGELO", "MARCHETTI", "PARISI", "VILLA", "CONTE", "FERRARO",
    "FERRI", "FABBRI", "BIANCO", "MARINI", "GRASSO", "VALENTINI", "MESSINA", "SALA", "DE ANGELIS",
    "GATTI", "PELLEGRINI", "PALUMBO", "SANNA", "FARINA", "RIZZI", "MONTI", "CATTANEO", "MORELLI",
    "AMATO", "SILVESTRI", "MAZZA", "TESTA", "GRASSI", "PELLEGRINO", "CARBONE", "GIULIANI",
    "BENEDETTI", "BARONE", "ROSSETTI", "CAPUTO", "MONTANARI", "GUERRA", "PALMIERI", "BERNARDI",
    "MARTINO", "FIORE", "DE ROSA", "FERRETTI", "BELLINI", "BASILE", "RIVA", "DONATI", "PIRAS",
    "VITALI", "BATTAGLIA", "SARTORI", "NERI", "COSTANTINI", "MILANI", "PAGANO", "RUGGIERO",
    "SORRENTINO", "D'AMICO", "ORLANDO", "DAMICO", "NEGRI", "MAZZOLA", "FUMAGALLI", "CRISTIANI",
    "MARCHI", "BELLI", "LUCCHESI", "CASTELLI", "BONETTI", "CIRILLO", "VENTURA", "ORLANDI",
    "MELIS", "FARINELLI", "D'ALESSANDRO", "LA ROSA", "MOLINARI", "PAGANI", "MONTALDO", "RAIMONDI",
    "SIMONETTI", "CARDINALE", "FIORENTINO", "POLITO", "SALVI", "BARBERA", "TOSI", "ZANETTI",
    "BIONDI", "MARRA", "GUIDI", "FERRANTE", "CANTONI", "BONI", "POZZI", "RANIERI", "BRUNETTI",
    "VIOLA", "FIORI", "BORRELLI", "CALABRESE", "NOVELLI", "ARMANI", "PIAZZA", "PACE", "MELE",
    "SCOTTI", "DI STEFANO", "DI MARTINO", "DI PIETRO", "DI GIACOMO", "LO PRESTI", "LO BIANCO",
    "LI CAUSI", "DELL'ORTO", "ZANELLA", "BERTOLINI", "TOMASI", "PEDRAZZINI", "MOSER", "HOFER",
    "GRUBER", "PICHLER", "OBERHOFER", "CAPPELLI", "GIORGI", "RICCIARDI", "SPINA", "TRAVERSO",
    "ROSSINI", "ALBANESE", "CARLINI", "NARDI", "CAMPANA", "FORTE", "SCARPA", "BONFANTI", "PASQUALI",
    "ROMEO", "MUSSO", "PORCU", "MURGIA", "DEIANA", "CONGIU", "ATZENI", "CUCCU", "LAI", "MELONI",
    "CORONA", "CURRERI", "SCIORTINO", "LA MANNA", "GAROFALO", "ANDREOLI", "BENETTON", "ZORZI",
    "BORTOLOTTI", "CELLA", "AIELLO", "CUSUMANO", "IACONO", "ZITO", "NAPOLITANO", "DELLA VALLE",
    "SANTINI", "MANCUSO", "PERRONE", "CANNATA", "PETRUCCI", "CESARI", "ANGELINI", "BUCCI", "TORRE",
    "FONTANI", "NICOLETTI", "PIERI", "BALDI", "RIGHI", "GUERRINI", "SACCHI", "BOTTA",
];

/// Male first names.
#[rustfmt::skip]
pub const NOMI_M: &[&str] = &[
    "GIUSEPPE", "GIOVANNI", "ANTONIO", "MARIO", "LUIGI", "FRANCESCO", "ANGELO", "VINCENZO",
    "PIETRO", "SALVATORE", "CARLO", "FRANCO", "DOMENICO", "BRUNO", "PAOLO", "MICHELE", "GIORGIO",
    "ALDO", "SERGIO", "LUCIANO", "GIANNI", "STEFANO", "ROBERTO", "ANDREA", "MARCO", "ALESSANDRO",
    "LUCA", "MASSIMO", "GIANLUCA", "MATTEO", "LORENZO", "LEONARDO", "EDOARDO", "TOMMASO",
    "RICCARDO", "GABRIELE", "DAVIDE", "FEDERICO", "DIEGO", "ALBERTO", "NICOLÒ", "NICOLA", "FILIPPO",
    "SAMUELE", "CHRISTIAN", "SIMONE", "EMANUELE", "DANIELE", "FABIO", "ENRICO", "CLAUDIO",
    "MAURIZIO", "GIACOMO", "UMBERTO", "RENATO", "ENZO", "EMILIO", "ALFREDO", "ARMANDO", "RAFFAELE",
    "GAETANO", "ROCCO", "CALOGERO", "CIRO", "GENNARO", "SAVERIO", "ORAZIO", "COSIMO", "BIAGIO",
    "CORRADO", "RENZO", "ERMANNO", "ETTORE", "FERRUCCIO", "GUIDO", "IGNAZIO", "MARIANO", "NATALE",
    "OSVALDO", "PASQUALE", "RAIMONDO", "SILVIO", "TULLIO", "VALERIO", "VITTORIO", "WALTER",
    "ALBERTINO", "AMEDEO", "ARTURO", "ATTILIO", "BENITO", "BENIAMINO", "CESARE", "DARIO", "DINO",
    "ELIO", "EUGENIO", "FLAVIO", "GINO", "GIULIO", "IVAN", "IVO", "LIVIO", "MANUEL", "MATTIA",
    "MIRKO", "OTTAVIO", "PIERO", "PIERLUIGI", "PRIMO", "REMO", "RINO", "ROMANO", "RUGGERO", "SANTO",
    "SEBASTIANO", "TIZIANO", "UGO", "VALENTINO", "VASCO", "ALESSIO", "ANDREINO", "CRISTIAN",
    "DENIS", "ELIA", "GIOSUÈ", "IACOPO", "JACOPO", "KEVIN", "LUDOVICO", "MARTINO", "MIRCO", "NOAH",
    "OLIVER", "PIETRO PAOLO", "GIAN MARCO", "GIAN PAOLO", "ACHILLE", "ADRIANO", "AGOSTINO",
    "ALBINO", "ALDINO", "AMERIGO", "ANSELMO", "ARNALDO", "AURELIO", "BALDASSARE", "BERNARDO",
    "CARMELO", "CARMINE", "CELESTINO", "CLEMENTE", "COSTANTINO", "DAMIANO", "DONATO", "EDMONDO",
    "EGIDIO", "ELVIO", "ERNESTO", "EZIO", "FAUSTO", "FELICE", "FERDINANDO", "FIORENZO", "FULVIO",
    "GERARDO", "GERMANO", "GILBERTO", "GUGLIELMO", "ILARIO", "LAZZARO", "LEONE", "LINO", "LORIS",
    "MARCELLO", "MARINO", "MAURO", "NAZZARENO", "NELLO", "OLINDO", "ORESTE", "PALMIRO", "PRIMIANO",
    "QUINTO", "RAFFAELLO", "ROLANDO", "ROMOLO", "SANDRO", "SERAFINO", "TEODORO", "TERENZIO",
    "VALTER", "VIRGILIO", "VITO", "ZENO",
];

/// Female first names.
#[rustfmt::skip]
pub const NOMI_F: &[&str] = &[
    "MARIA", "ANNA", "GIUSEPPINA", "ROSA", "ANGELA", "GIOVANNA", "TERESA", "LUCIA", "CARMELA",
    "CATERINA", "FRANCESCA", "ANNA MARIA", "ANTONIETTA", "CARLA", "ELENA", "CONCETTA", "RITA",
    "MARGHERITA", "FRANCA", "PAOLA", "LAURA", "GIULIA", "SOFIA", "AURORA", "ALICE", "GINEVRA",
    "EMMA", "GIORGIA", "GRETA", "BEATRICE", "ANNA CHIARA", "CHIARA", "MARTINA", "SARA", "FEDERICA",
    "VALENTINA", "ALESSIA", "SILVIA", "ELISA", "MONICA", "BARBARA", "CRISTINA", "SIMONA", "DANIELA",
    "PATRIZIA", "ROBERTA", "STEFANIA", "MANUELA", "SABRINA", "ELISABETTA", "LOREDANA", "GRAZIA",
    "ASSUNTA", "IMMACOLATA", "FILOMENA", "NUNZIA", "ADDOLORATA", "LUIGIA", "PIERINA", "ELVIRA",
    "ELSA", "EMILIA", "ERMINIA", "GINA", "IDA", "IRMA", "ITALIA", "LEA", "LIDIA", "LINA", "LUCIANA",
    "MAFALDA", "MARISA", "NELLA", "NORA", "OLGA", "PINA", "RINA", "SANTA", "SILVANA", "TINA",
    "VANDA", "VITTORIA", "WANDA", "ZAIRA", "ADA", "ADELE", "AGNESE", "ALBA", "AMALIA", "ANGELINA",
    "ARIANNA", "BENEDETTA", "BIANCA", "CAMILLA", "CECILIA", "CLARA", "CLAUDIA", "COSTANZA",
    "DEBORA", "DILETTA", "DONATELLA", "EDDA", "ELEONORA", "ERICA", "ESTER", "FABIOLA", "FIORELLA",
    "FLAVIA", "GABRIELLA", "GEMMA", "ILARIA", "IRENE", "ISABELLA", "LETIZIA", "LIVIA", "LORENA",
    "LUISA", "MARCELLA", "MARINA", "MARTA", "MATILDE", "MICHELA", "MIRELLA", "NADIA", "NICOLETTA",
    "NOEMI", "ORNELLA", "OTTAVIA", "RACHELE", "REBECCA", "RENATA", "ROSSANA", "SERENA", "TAMARA",
    "TIZIANA", "VALERIA", "VERONICA", "VIOLA", "VIVIANA", "ANITA", "ASIA", "AZZURRA", "CARLOTTA",
    "CHANEL", "DESIRÈ", "ELENIA", "GAIA", "LUDOVICA", "MIA", "NICOLE", "PENELOPE", "RICCARDA",
    "SOLE", "VITTORIA MARIA", "ALESSANDRA", "ANGELICA", "ANNUNZIATA", "ANTONELLA", "CARMEN",
    "CINZIA", "DOMENICA", "DORIANA", "ENRICA", "FIAMMETTA", "GIANNA", "GIOVANNINA", "GRAZIELLA",
    "IOLANDA", "LORELLA", "MADDALENA", "MARIANNA", "MARIAROSA", "MIRANDA", "ORIETTA", "PAOLINA",
    "PIERA", "ROSALBA", "ROSARIA", "ROSETTA", "SANDRA", "SONIA", "TERESINA", "UMBERTA", "VINCENZA",
    "ADRIANA", "ALBERTA", "ANNALISA", "CATIA", "CORINNA", "ERSILIA",
];

/// A country of origin of foreign-born beneficiaries: Belfiore Z-code, ISO
/// 3166-1 numeric code, relative weight (roughly the foreign resident
/// population of Italy) and a few names common there.
pub struct Origine {
    pub belfiore: &'static str,
    pub iso: &'static str,
    pub weight: u32,
    pub cognomi: &'static [&'static str],
    pub nomi_m: &'static [&'static str],
    pub nomi_f: &'static [&'static str],
}

#[rustfmt::skip]
pub const ORIGINI: &[Origine] = &[
    Origine { belfiore: "Z129", iso: "642", weight: 20, cognomi: &["POPESCU", "IONESCU", "POPA", "STAN", "DUMITRU", "RADU"], nomi_m: &["ANDREI", "ION", "MIHAI", "CONSTANTIN"], nomi_f: &["ELENA", "IOANA", "MIHAELA", "ANDREEA"] },
    Origine { belfiore: "Z100", iso: "008", weight: 8, cognomi: &["HOXHA", "SHEHU", "KOLA", "DOKA", "LLESHI"], nomi_m: &["ARBEN", "GENTI", "ILIR", "KLODIAN"], nomi_f: &["ANJEZA", "ELONA", "BLERINA", "MIRELA"] },
    Origine { belfiore: "Z330", iso: "504", weight: 8, cognomi: &["EL AMRANI", "BENALI", "EL IDRISSI", "BOUZIANE", "TAHIRI"], nomi_m: &["MOHAMED", "YOUSSEF", "HAMID", "KARIM"], nomi_f: &["FATIMA", "KHADIJA", "AICHA", "SALMA"] },
    Origine { belfiore: "Z210", iso: "156", weight: 6, cognomi: &["CHEN", "HU", "ZHOU", "WANG", "ZHANG", "LIN"], nomi_m: &["WEI", "JIAN", "HAO", "MING"], nomi_f: &["XIAOLI", "MEI", "YAN", "LING"] },
    Origine { belfiore: "Z138", iso: "804", weight: 5, cognomi: &["KOVALENKO", "SHEVCHENKO", "BONDARENKO", "TKACHENKO"], nomi_m: &["OLEKSANDR", "ANDRIY", "VASYL", "SERHIY"], nomi_f: &["OLENA", "NATALIYA", "OKSANA", "IRYNA"] },
    Origine { belfiore: "Z216", iso: "608", weight: 3, cognomi: &["SANTOS", "REYES", "CRUZ", "BAUTISTA", "GARCIA"], nomi_m: &["JOSE", "MARK", "JOHN PAUL", "RAMON"], nomi_f: &["MARICEL", "JOCELYN", "ROSALIE", "ANALYN"] },
    Origine { belfiore: "Z222", iso: "356", weight: 4, cognomi: &["SINGH", "KAUR", "KUMAR", "SHARMA"], nomi_m: &["GURPREET", "HARJIT", "RAJESH", "AMANDEEP"], nomi_f: &["MANPREET", "PRIYA", "SUNITA", "HARPREET"] },
    Origine { belfiore: "Z249", iso: "050", weight: 4, cognomi: &["RAHMAN", "HOSSAIN", "ISLAM", "AHMED", "MIAH"], nomi_m: &["MD RAHIM", "ABDUL", "SHAHIN", "KAMAL"], nomi_f: &["NASRIN", "FARZANA", "RUMA", "SHAHANA"] },
    Origine { belfiore: "Z336", iso: "818", weight: 3, cognomi: &["MOHAMED", "HASSAN", "IBRAHIM", "ABDELRAHMAN"], nomi_m: &["AHMED", "MAHMOUD", "MOSTAFA", "OMAR"], nomi_f: &["MARWA", "DINA", "NOUR", "HEBA"] },
    Origine { belfiore: "Z236", iso: "586", weight: 3, cognomi: &["KHAN", "ALI", "HUSSAIN", "BUTT"], nomi_m: &["IMRAN", "BILAL", "ASIF", "WAQAS"], nomi_f: &["AYESHA", "SAIMA", "NADIA", "SADIA"] },
    Origine { belfiore: "Z140", iso: "498", weight: 3, cognomi: &["ROTARU", "CIOBANU", "MUNTEANU", "BIVOL"], nomi_m: &["VASILE", "VICTOR", "SERGIU", "DUMITRU"], nomi_f: &["TATIANA", "MARIANA", "SVETLANA", "DOINA"] },
    Origine { belfiore: "Z335", iso: "566", weight: 3, cognomi: &["OKAFOR", "ADEYEMI", "OKONKWO", "EZE", "IDOWU"], nomi_m: &["CHINEDU", "EMEKA", "OLUWASEUN", "IKECHUKWU"], nomi_f: &["BLESSING", "CHIOMA", "NGOZI", "JOY"] },
    Origine { belfiore: "Z343", iso: "686", weight: 2, cognomi: &["DIOP", "NDIAYE", "FALL", "SECK", "GUEYE"], nomi_m: &["MAMADOU", "CHEIKH", "MODOU", "IBRAHIMA"], nomi_f: &["AWA", "FATOU", "MARIAMA", "NDEYE"] },
    Origine { belfiore: "Z209", iso: "144", weight: 2, cognomi: &["PERERA", "FERNANDO", "SILVA", "DE SILVA"], nomi_m: &["NUWAN", "CHAMINDA", "ROSHAN", "SAMAN"], nomi_f: &["NILUKA", "DILANI", "CHAMARI", "SHANIKA"] },
    Origine { belfiore: "Z352", iso: "788", weight: 2, cognomi: &["BEN SALAH", "TRABELSI", "GHARBI", "JLASSI"], nomi_m: &["MOHAMED ALI", "SAMI", "NIZAR", "WALID"], nomi_f: &["AMIRA", "SONIA", "RIM", "INES"] },
    Origine { belfiore: "Z611", iso: "604", weight: 2, cognomi: &["QUISPE", "FLORES", "MAMANI", "ROJAS"], nomi_m: &["LUIS", "CARLOS", "JUAN", "JORGE"], nomi_f: &["ROSA", "CARMEN", "MILAGROS", "MARIBEL"] },
    Origine { belfiore: "Z605", iso: "218", weight: 2, cognomi: &["VERA", "ZAMBRANO", "MORA", "CEDEÑO"], nomi_m: &["JUAN CARLOS", "MIGUEL", "PEDRO", "ANGEL"], nomi_f: &["GLORIA", "NANCY", "PATRICIA", "MARIA JOSE"] },
    Origine { belfiore: "Z112", iso: "276", weight: 1, cognomi: &["MÜLLER", "SCHMIDT", "SCHNEIDER", "FISCHER"], nomi_m: &["THOMAS", "MICHAEL", "STEFAN", "KLAUS"], nomi_f: &["SABINE", "PETRA", "MONIKA", "ANDREA"] },
    Origine { belfiore: "Z602", iso: "076", weight: 1, cognomi: &["SILVA", "OLIVEIRA", "SOUZA", "PEREIRA"], nomi_m: &["JOÃO", "RAFAEL", "THIAGO", "LUCAS"], nomi_f: &["ANA PAULA", "FERNANDA", "JULIANA", "CAMILA"] },
];
