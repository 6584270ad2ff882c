//! End-to-end tests of the `casellario` binary: the INPS samples under both
//! profiles and channels, idempotency, cancellations, export round trip,
//! exit codes, and atomicity under `kill -9`.

use casellario_store::Store;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_casellario"))
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/inps")
        .join(name)
}

const S1: &str = "openapi_example1_PS_PSA_SINA_H501.PS.20210520.0000002.xml";
const S2: &str = "openapi_example2_SINBA_H501.SINBA.20210520.00000004.xml";
const S3: &str = "openapi_schema_example_PS_PSA_SINA_H501.PS.INPS.20160423.115235.xml";

fn run(args: &[&str]) -> (i32, Value, Output) {
    let out = bin().args(args).output().expect("run casellario");
    let code = out.status.code().unwrap_or(-1);
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (code, json, out)
}

/// Runs `casellario <cmd> FILE --format json [db] [extra]` and returns the exit code and receipt.
fn receipt(cmd: &str, file: &Path, db: Option<&Path>, extra: &[&str]) -> (i32, Value) {
    let f = file.to_string_lossy().to_string();
    let d = db.map(|d| d.to_string_lossy().to_string());
    let mut args = vec![cmd, f.as_str(), "--format", "json"];
    if let Some(d) = &d {
        args.extend_from_slice(&["--db", d.as_str()]);
    }
    args.extend_from_slice(extra);
    let (code, json, out) = run(&args);
    assert!(
        json.is_object(),
        "no JSON receipt: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (code, json)
}

fn validate(file: &Path, extra: &[&str]) -> (i32, Value) {
    receipt("validate", file, None, extra)
}

fn import(db: &Path, file: &Path, extra: &[&str]) -> (i32, Value) {
    receipt("import", file, Some(db), extra)
}

/// Every rule code reported anywhere in a receipt.
fn rules(r: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut push = |vs: &Value| {
        for v in vs.as_array().into_iter().flatten() {
            out.push(format!(
                "{}:{}",
                v["regola"].as_str().unwrap_or(""),
                v["gravita"].as_str().unwrap_or("")
            ));
        }
    };
    push(&r["violazioni"]);
    for rec in r["record"].as_array().into_iter().flatten() {
        push(&rec["violazioni"]);
    }
    out
}

fn has_error(r: &Value, prefix: &str) -> bool {
    rules(r)
        .iter()
        .any(|x| x.starts_with(prefix) && x.ends_with(":errore"))
}

fn generate(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let p = dir.join(name);
    let ps = p.to_string_lossy().to_string();
    let mut a = vec!["gen", "--output", ps.as_str()];
    a.extend_from_slice(args);
    let out = bin().args(&a).output().expect("gen");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    p
}

#[test]
fn sample1_strict_is_rejected_for_the_right_reasons() {
    let (code, r) = validate(&fixture(S1), &[]);
    assert_eq!(code, 1);
    assert_eq!(r["riepilogo"]["record"], 3);
    assert_eq!(r["riepilogo"]["accettati"], 0);
    // Quota sum on the first benefit, wrong check character of the beneficiary's and the operator's codici fiscali.
    assert!(has_error(&r, "PS_QUOTE"), "{:?}", rules(&r));
    assert!(has_error(&r, "CF_"), "{:?}", rules(&r));
    let first = &r["record"][0];
    assert_eq!(first["esito"], "scartato");
}

#[test]
fn samples_compat_are_accepted_with_warnings() {
    for s in [S1, S2, S3] {
        let (code, r) = validate(&fixture(s), &["--profile", "compat"]);
        assert_eq!(code, 0, "{s}: {r}");
        assert_eq!(r["codice_esito"], "OK", "{s}");
        assert_eq!(r["riepilogo"]["scartati"], 0, "{s}");
        assert!(r["riepilogo"]["avvisi"].as_u64().unwrap_or(0) > 0, "{s}");
    }
}

#[test]
fn sample1_through_cooperation_is_richiesta_invalida() {
    for profile in ["strict", "compat"] {
        let (code, r) = validate(&fixture(S1), &["--channel", "coop", "--profile", profile]);
        assert_eq!(code, 1);
        assert_eq!(r["codice_esito"], "RICHIESTA_INVALIDA", "{profile}");
        assert!(has_error(&r, "CANALE_UN_RECORD"));
        assert_eq!(r["riepilogo"]["scartati"], 3);
    }
}

#[test]
fn sample2_and_3_strict() {
    let (code, r) = validate(&fixture(S2), &[]);
    assert_eq!(code, 1);
    assert!(has_error(&r, "SINBA_"), "{:?}", rules(&r));
    assert_eq!(r["record"][0]["codice_esito"], "DATI_NON_TROVATI");
    let (code, r) = validate(&fixture(S3), &[]);
    assert_eq!(code, 1);
    assert!(has_error(&r, "PS_QUOTE"), "{:?}", rules(&r));
    assert!(
        rules(&r)
            .iter()
            .any(|x| x.contains("ANNO") && x.ends_with(":errore")),
        "{:?}",
        rules(&r)
    );
}

#[test]
fn exit_code_2_when_unreadable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("rotto.xml");
    std::fs::write(
        &bad,
        "<Flusso xmlns=\"http://inps.it/Casellario\"><IdentificazioneFlusso",
    )
    .expect("write");
    let (code, r) = validate(&bad, &[]);
    assert_eq!(code, 2);
    assert!(has_error(&r, "XML_"), "{r}");
    let missing = dir.path().join("manca.xml");
    let (code, _, _) = run(&["validate", missing.to_str().unwrap_or("")]);
    assert_eq!(code, 2);
}

#[test]
fn import_is_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("r.db");
    let f = generate(dir.path(), "a.xml", &["-n", "500", "--seed", "7"]);
    let (code, r) = import(&db, &f, &[]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["riepilogo"]["accettati"], 500);
    let counts = Store::open(&db).expect("open").counts().expect("counts");
    let (code, r2) = import(&db, &f, &[]);
    assert_eq!(code, 0);
    assert_eq!(r2["riepilogo"]["duplicati"], 500);
    assert_eq!(r2["riepilogo"]["accettati"], 0);
    assert_eq!(r2["acquisito_in_precedenza"], true);
    assert!(
        r2["record"]
            .as_array()
            .is_some_and(|a| a.iter().all(|x| x["esito"] == "duplicato"))
    );
    let counts2 = Store::open(&db).expect("open").counts().expect("counts");
    assert_eq!(format!("{counts:?}"), format!("{counts2:?}"));

    // Same name, different content: rejected whole, nothing stored.
    let g = generate(dir.path(), "b.xml", &["-n", "500", "--seed", "8"]);
    let text = std::fs::read_to_string(&g).expect("read");
    let name_a = r["id_flusso"].as_str().unwrap_or_default().to_string();
    let name_b = text
        .split("Nome=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_default()
        .to_string();
    let renamed = dir.path().join("b2.xml");
    std::fs::write(&renamed, text.replacen(&name_b, &name_a, 1)).expect("write");
    let ente_a = r["codice_ente"].as_str().unwrap_or_default();
    let fixed = std::fs::read_to_string(&renamed).expect("read");
    let ente_b = fixed
        .split("Codice=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_default()
        .to_string();
    std::fs::write(
        &renamed,
        fixed.replace(
            &format!("Codice=\"{ente_b}\""),
            &format!("Codice=\"{ente_a}\""),
        ),
    )
    .expect("write");
    let (code, r3) = import(&db, &renamed, &[]);
    assert_eq!(code, 1, "{r3}");
    assert!(
        has_error(&r3, "REG_FLUSSO_NOME_RIUSATO"),
        "{:?}",
        rules(&r3)
    );
    let counts3 = Store::open(&db).expect("open").counts().expect("counts");
    assert_eq!(format!("{counts:?}"), format!("{counts3:?}"));
}

#[test]
fn export_round_trip_gives_the_same_current_view() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db1 = dir.path().join("1.db");
    let db2 = dir.path().join("2.db");
    for (tipo, n) in [("ps", "400"), ("sinba", "150")] {
        let f = generate(
            dir.path(),
            &format!("{tipo}.xml"),
            &["-n", n, "--seed", "3", "--tipo", tipo, "--ente", "F205"],
        );
        let (code, r) = import(&db1, &f, &[]);
        assert_eq!(code, 0, "{r}");
    }
    let d1 = db1.to_string_lossy().to_string();
    for (tipo, fmt) in [
        ("ps", "xml"),
        ("sinba", "xml"),
        ("ps", "csv"),
        ("sinba", "csv"),
    ] {
        let e1 = dir.path().join(format!("e1-{tipo}.{fmt}"));
        let e2 = dir.path().join(format!("e2-{tipo}.{fmt}"));
        let nome = if tipo == "ps" {
            "F205.PS.20260101.0000001"
        } else {
            "F205.SINBA.20260101.0000001"
        };
        let args = |db: &str, out: &Path| {
            let mut c = bin();
            c.args([
                "export", "--ente", "F205", "--tipo", tipo, "--format", fmt, "--nome", nome,
                "--db", db, "--output",
            ])
            .arg(out);
            c
        };
        assert!(args(&d1, &e1).output().expect("export").status.success());
        let db_fmt = dir.path().join(format!("{tipo}-{fmt}.db"));
        let (code, r) = import(&db_fmt, &e1, &[]);
        assert_eq!(code, 0, "{r}");
        assert!(
            args(&db_fmt.to_string_lossy(), &e2)
                .output()
                .expect("export")
                .status
                .success()
        );
        assert_eq!(
            std::fs::read(&e1).expect("e1"),
            std::fs::read(&e2).expect("e2"),
            "{tipo} {fmt}"
        );
        if fmt == "xml" {
            let (code, r) = import(&db2, &e1, &[]);
            assert_eq!(code, 0, "{r}");
        }
    }
    let live = |db: &Path| {
        Store::open(db)
            .expect("open")
            .counts()
            .expect("counts")
            .live
    };
    assert_eq!(live(&db1), 550);
    assert_eq!(live(&db2), 550);
}

#[test]
fn kill_9_during_import_leaves_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("k.db");
    let f = generate(dir.path(), "big.xml", &["-n", "300000", "--seed", "11"]);
    // Make sure the schema exists before the import starts, so the only
    // thing the killed process can have begun is the flow.
    Store::open(&db).expect("create");
    let mut killed_mid_import = false;
    for delay_ms in [400u64, 900, 1600] {
        let mut child = bin()
            .args([
                "import",
                f.to_str().unwrap_or(""),
                "--db",
                db.to_str().unwrap_or(""),
                "--format",
                "json",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn import");
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        if child.try_wait().expect("try_wait").is_none() {
            // SIGKILL: no destructor, no rollback by the process itself.
            child.kill().expect("kill -9");
            let _ = child.wait();
            killed_mid_import = true;
            let c = Store::open(&db)
                .expect("reopen after kill")
                .counts()
                .expect("counts");
            assert_eq!(
                (c.flows, c.versions, c.outcomes),
                (0, 0, 0),
                "partial flow after kill -9: {c:?}"
            );
        } else {
            let _ = child.wait();
            break;
        }
    }
    assert!(
        killed_mid_import,
        "the import finished before it could be killed: make the flow bigger"
    );
    // The flow is then imported in full.
    let (code, r) = import(&db, &f, &[]);
    assert_eq!(code, 0, "{}", r["riepilogo"]);
    assert_eq!(r["riepilogo"]["accettati"], 300000);
}

#[test]
fn cancellation_and_key_conflicts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("c.db");
    let f = generate(
        dir.path(),
        "a.xml",
        &["-n", "20", "--seed", "5", "--ente", "L219"],
    );
    let (code, _) = import(&db, &f, &[]);
    assert_eq!(code, 0);
    let text = std::fs::read_to_string(&f).expect("read");
    // Turn the flow into cancellations of every record under a new name.
    let name = text
        .split("Nome=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_default()
        .to_string();
    let cancel = text
        .replacen(&name, &format!("{}9", &name[..name.len() - 1]), 1)
        .replace("TipoOperazione=\"I\" ", "")
        .replace(
            "<PrestazioniSociali ",
            "<PrestazioniSociali TipoOperazione=\"C\" ",
        );
    let c = dir.path().join("c.xml");
    std::fs::write(&c, &cancel).expect("write");
    let (code, r) = import(&db, &c, &[]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["riepilogo"]["accettati"], 20);
    assert_eq!(
        Store::open(&db)
            .expect("open")
            .counts()
            .expect("counts")
            .live,
        0
    );
    // Cancelling again: nothing to cancel.
    let c2 = dir.path().join("c2.xml");
    std::fs::write(
        &c2,
        cancel.replacen(
            &format!("{}9", &name[..name.len() - 1]),
            &format!("{}8", &name[..name.len() - 1]),
            1,
        ),
    )
    .expect("write");
    let (code, r) = import(&db, &c2, &[]);
    assert_eq!(code, 1);
    assert!(has_error(&r, "REG_CANCELLAZIONE_SENZA_RECORD"));
    assert_eq!(r["record"][0]["codice_esito"], "DATI_NON_TROVATI");
}

#[test]
fn shipped_rules_catalogue_is_generated_from_the_code() {
    let out = bin().arg("regole").output().expect("regole");
    let shipped =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/REGOLE.md"))
            .expect("docs/REGOLE.md");
    assert!(
        String::from_utf8_lossy(&out.stdout) == shipped,
        "docs/REGOLE.md is stale: regenerate it with `casellario regole > docs/REGOLE.md`"
    );
}

#[test]
fn client_crea_prints_credentials_once_and_stores_only_a_hash() {
    let dir = tempfile::tempdir().expect("client crea");
    let db = dir.path().join("r.db");
    let d = db.to_string_lossy().to_string();
    // An unknown ente.
    let out = bin()
        .args(["client", "crea", "--ente", "H501", "--db", &d])
        .output()
        .expect("client crea");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("non registrato"));
    // The ente registers with its first flow.
    import(&db, &fixture(S2), &["--profile", "compat"]);
    let out = bin()
        .args([
            "client",
            "crea",
            "--ente",
            "H501",
            "--db",
            &d,
            "--scope",
            "flussi:invio",
            "--scope",
            "ricevute:lettura",
            "--label",
            "Gestionale",
        ])
        .output()
        .expect("client crea");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("client crea");
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .expect("client crea")
            .trim()
            .to_string()
    };
    let (id, secret) = (field("client_id:"), field("client_secret:"));
    assert_eq!(field("scope:"), "flussi:invio ricevute:lettura");
    assert_eq!(secret.len(), 64);
    let store = Store::open(&db).expect("client crea");
    let c = store
        .api_client(&id)
        .expect("client crea")
        .expect("client crea");
    assert_eq!(c.ente_codice, "H501");
    assert_eq!(c.label, "Gestionale");
    assert_eq!(
        c.secret_hash,
        casellario_server::api::auth::secret_hash(&secret)
    );
    // An unknown scope.
    let out = bin()
        .args([
            "client", "crea", "--ente", "H501", "--db", &d, "--scope", "tutto",
        ])
        .output()
        .expect("client crea");
    assert!(!out.status.success());
}
