//! The OpenAPI 3 document of the API, generated from the handlers'
//! `#[utoipa::path]` attributes and the types' `ToSchema` derives, then
//! completed in one place with what is the same for every operation: the
//! problem responses (RFC 9457) with their headers, the rate-limit headers,
//! the security schemes, the info block (ModI conventions: `x-api-id`,
//! `x-summary`, contact, terms of service) and the servers. Two schemas
//! come from their own single sources: the receipt from
//! `docs/ricevuta.schema.json` (the schema every receipt is tested
//! against) and the JSON flow from `casellario_formats::json`.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use utoipa::{OpenApi, ToSchema};

use super::auth::{SCOPE_INVIO, SCOPE_RECORD, SCOPE_RICEVUTE};
use super::problem::{PROBLEMS, Problem, Violazione};
use crate::AppState;

/// A one-record PS flow (one beneficiary, one benefit), as the channel requires.
pub const EXAMPLE_XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Flusso xmlns="http://inps.it/Casellario">
  <IdentificazioneFlusso Nome="H501.PS.20260302.0000001">
    <Ente Codice="H501" Denominazione="Comune di Roma" Indirizzo="H501" CFOperatore="LPRFPP69D19B902A"/>
  </IdentificazioneFlusso>
  <Beneficiario CodiceFiscale="SPSSMN48P28A689R">
    <Anagrafica Cognome="ESPOSITO" Nome="SIMONE" AnnoNascita="1948" LuogoNascita="A689" Genere="1" CodiceCittadinanza="380"/>
    <Indirizzo CodiceRegione="13" CodiceComune="006177" CodiceNazione="380"/>
    <Indirizzo CodiceRegione="13" CodiceComune="006093" CodiceNazione="380"/>
    <PrestazioniSociali PresenzaProvaMezzi="1" CaratterePrestazione="1" NumeroProtocolloDSU="INPS-ISEE-2025-23248720Y-00" AnnoProtocolloDSU="2025" DataDSU="2025-11-18" CodicePrestazione="A1.04" DenominazionePrestazione="Contributi economici a integrazione del reddito familiare" ProtocolloDomanda="PROT-2025-000001" DataInizioPrestazione="2025-12-01" DataFinePrestazione="2025-12-31" PeriodoErogazione="1" ImportoMensile="289.48" ImportoSogliaISEE="15000" PresaCarico="1" AreaUtenza="3"/>
  </Beneficiario>
</Flusso>
"#;

/// The JSON form of [`EXAMPLE_XML`].
pub fn example_json() -> Value {
    super::json_flow::example(EXAMPLE_XML)
}

/// The receipt of a submission (schema: `docs/ricevuta.schema.json` plus
/// `id` and `seq`; filled in by [`document`]).
#[derive(ToSchema)]
pub struct RicevutaApi {}

/// A flow in JSON (schema from `casellario_formats::json`; filled in by
/// [`document`]).
#[derive(ToSchema)]
pub struct FlussoJson {}

#[derive(OpenApi)]
#[openapi(
    paths(
        super::token,
        super::flussi::submit,
        super::flussi::receipt,
        super::flussi::list,
        super::record::search,
        super::record::detail,
        super::status,
    ),
    components(schemas(
        Problem,
        Violazione,
        super::TokenRequest,
        super::TokenResponse,
        super::flussi::PaginaInvii,
        super::flussi::Invio,
        super::flussi::Riepilogo,
        super::record::PaginaRecord,
        super::record::RecordSintesi,
        super::record::RecordDettaglio,
        super::record::Annullamento,
        RicevutaApi,
        FlussoJson,
    )),
    tags(
        (name = "Autenticazione", description = "Token di accesso per i client dell'ente (OAuth 2.0 client credentials)."),
        (name = "Flussi", description = "Invio di flussi di un record (un beneficiario, una prestazione)."),
        (name = "Ricevute", description = "Ricevute degli invii dell'ente."),
        (name = "Record", description = "Record dell'ente registrati nel Casellario."),
        (name = "Servizio", description = "Stato del servizio."),
    )
)]
struct ApiDoc;

/// Problem responses an operation can give, by status.
fn error_statuses(method: &str, path: &str) -> Vec<u16> {
    let mut v = vec![400];
    let public = path == "/token" || path == "/status";
    if path == "/token" {
        v.extend([401, 413, 415]);
    } else if !public {
        v.extend([401, 403]);
    }
    if path.contains('{') {
        v.push(404);
    }
    if method == "post" && path == "/flussi" {
        v.extend([413, 415, 422]);
    }
    v.extend([429, 500, 503]);
    if path == "/status" {
        v.retain(|s| *s == 503);
    }
    v.sort_unstable();
    v.dedup();
    v
}

fn problem_example(code: &str) -> Value {
    let (status, title) = PROBLEMS
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(_, s, t)| (*s, *t))
        .unwrap_or((500, "Errore interno"));
    json!({
        "type": format!("{}{code}", super::problem::TYPE_PREFIX),
        "title": title,
        "status": status,
        "detail": super::problem::title(code),
        "codice": code,
    })
}

fn header_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/headers/{name}")})
}

/// Rewrites `#/$defs/X` references of an embedded JSON Schema to
/// `#/components/schemas/<prefix>X`.
fn rewrite_refs(v: &mut Value, prefix: &str) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get_mut("$ref")
                && let Some(name) = r.strip_prefix("#/$defs/")
            {
                *r = format!("#/components/schemas/{prefix}{name}");
            }
            for x in m.values_mut() {
                rewrite_refs(x, prefix);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| rewrite_refs(x, prefix)),
        _ => {}
    }
}

/// Puts an embedded JSON Schema (with its `$defs`) among the components.
fn embed_schema(schemas: &mut Map<String, Value>, name: &str, mut schema: Value) {
    rewrite_refs(&mut schema, &format!("{name}_"));
    if let Value::Object(m) = &mut schema {
        m.remove("$schema");
        m.remove("$id");
        if let Some(Value::Object(defs)) = m.remove("$defs").or_else(|| m.remove("definitions")) {
            for (k, v) in defs {
                schemas.insert(format!("{name}_{k}"), v);
            }
        }
    }
    schemas.insert(name.to_string(), schema);
}

/// Bounds of the receipt schema the ModI rules ask for, which
/// `docs/ricevuta.schema.json` (a file format, not an API) leaves open:
/// integers are int64 within JavaScript's safe range, free text is at most
/// 4 KiB, a flow's records at most 10^8 (a 4 GiB upload holds fewer), the
/// violations of one record or flow at most 10^4.
fn bound(v: &mut Value, key: &str) {
    match v {
        Value::Object(m) => {
            let ty = m.get("type").cloned();
            let is = |t: &str| match &ty {
                Some(Value::String(s)) => s == t,
                Some(Value::Array(a)) => a.iter().any(|x| x == t),
                _ => false,
            };
            if is("integer") {
                m.entry("format").or_insert_with(|| json!("int64"));
                m.entry("minimum").or_insert_with(|| json!(0));
                m.entry("maximum")
                    .or_insert_with(|| json!(9_007_199_254_740_991_i64));
            }
            if is("string")
                && !m.contains_key("maxLength")
                && !m.contains_key("enum")
                && !m.contains_key("format")
            {
                m.insert("maxLength".into(), json!(4096));
            }
            if is("array") && !m.contains_key("maxItems") {
                let max = if key == "record" { 100_000_000 } else { 10_000 };
                m.insert("maxItems".into(), json!(max));
            }
            for (k, x) in m.iter_mut() {
                if k != "example" && k != "examples" {
                    bound(x, k);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| bound(x, key)),
        _ => {}
    }
}

fn receipt_schema() -> Value {
    let mut s: Value = serde_json::from_str(include_str!("../../../../docs/ricevuta.schema.json"))
        .unwrap_or_else(|_| json!({"type": "object"}));
    if let Value::Object(m) = &mut s {
        m.insert(
            "description".into(),
            json!(
                "Ricevuta di un invio: la ricevuta del flusso (come da docs/ricevuta.schema.json) \
                   con l'identificativo dell'invio (`id`) e la sua posizione nella sequenza degli \
                   invii dell'ente (`seq`, il cursore di GET /ricevute)."
            ),
        );
        if let Some(Value::Object(p)) = m.get_mut("properties") {
            let int = json!({"type": "integer", "format": "int64", "minimum": 1,
                             "description": "Identificativo dell'invio e cursore."});
            p.insert("id".into(), int.clone());
            p.insert("seq".into(), int);
        }
        if let Some(Value::Array(r)) = m.get_mut("required") {
            r.insert(0, json!("seq"));
            r.insert(0, json!("id"));
        }
        m.insert(
            "example".into(),
            json!({
                "id": 42, "seq": 42,
                "id_flusso": "H501.PS.20260302.0000001", "tipo": "PS_PSA_SINA",
                "codice_ente": "H501", "codice_esito": "OK",
                "descrizione_esito": "Flusso elaborato: 1 record acquisiti, 0 duplicati.",
                "profilo": "strict", "canale": "coop", "id_acquisizione": "17",
                "acquisito_in_precedenza": false,
                "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                "riepilogo": {"record": 1, "accettati": 1, "duplicati": 0, "scartati": 0, "avvisi": 0},
                "violazioni": [],
                "record": [{"posizione": 1, "esito": "accettato", "codice_esito": "OK",
                            "id_acquisizione": "7", "violazioni": []}]
            }),
        );
    }
    bound(&mut s, "");
    s
}

/// The whole document, for a server reachable at `base_url` accepting
/// bodies of at most `max_body` bytes.
pub fn document(base_url: &str, max_body: usize) -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_else(|_| json!({}));
    let api_url = format!("{base_url}{}", super::BASE);
    doc["info"] = json!({
        "title": "Casellario dell'assistenza – API di cooperazione applicativa",
        "version": "1.0.0",
        "description": "API con cui il software della cartella sociale di un ente erogatore trasmette al \
            Casellario dell'assistenza un record alla volta (un beneficiario, una prestazione) in XML \
            secondo gli XSD INPS o nel JSON equivalente, riceve la ricevuta con l'esito di ogni \
            record, rilegge le ricevute passate a partire da un cursore e consulta i record del \
            proprio ente.\n\nAutenticazione: credenziali del client (rilasciate \
            dall'amministratore, sezione Amministrazione → ente → Credenziali API) scambiate con \
            un token JWT di breve durata su `POST /token`, da inviare come `Authorization: Bearer`.\n\n\
            Idempotenza: lo stesso flusso (stesso `id_flusso` e contenuto) o la stessa \
            `Idempotency-Key` con lo stesso corpo ricevono sempre la stessa ricevuta e non \
            registrano mai un secondo record.\n\nErrori: `application/problem+json` (RFC 9457) con \
            un `type` stabile `urn:casellario:problema:<CODICE>`.",
        "termsOfService": format!("{base_url}/informazioni"),
        "contact": {
            "name": "Casellario dell'assistenza – assistenza tecnica",
            "email": "assistenza@casellario.invalid",
            "url": format!("{base_url}/informazioni"),
        },
        "license": {"name": "EUPL-1.2", "identifier": "EUPL-1.2"},
        "x-api-id": "b5a3c0de-6f3e-4c1a-9d2b-casellario01",
        "x-summary": "Trasmissione di record al Casellario dell'assistenza e lettura di ricevute e record dell'ente.",
    });
    doc["servers"] = json!([{
        "url": api_url,
        "description": "Casellario dell'assistenza",
    }]);
    let comp = &mut doc["components"];
    comp["securitySchemes"] = json!({
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "Token di accesso (JWT HS256, `typ` at+jwt, RFC 9068 e RFC 8725) ottenuto da POST /token."
        },
        "oauth2": {
            "type": "oauth2",
            "description": "OAuth 2.0 client credentials.",
            "flows": {"clientCredentials": {
                "tokenUrl": format!("{api_url}/token"),
                "scopes": {
                    SCOPE_INVIO: "Inviare flussi.",
                    SCOPE_RICEVUTE: "Leggere le ricevute degli invii dell'ente.",
                    SCOPE_RECORD: "Leggere i record dell'ente.",
                }
            }}
        }
    });
    comp["headers"] = json!({
        "Retry-After": {
            "description": "Secondi da attendere prima di riprovare.",
            "schema": {"type": "integer", "format": "int32", "minimum": 0, "maximum": 86400},
            "example": 1
        },
        "X-RateLimit-Limit": {
            "description": "Richieste al secondo consentite al client.",
            "schema": {"type": "integer", "format": "int32", "minimum": 0, "maximum": 1000000},
            "example": 50
        },
        "X-RateLimit-Remaining": {
            "description": "Richieste che il client può fare subito.",
            "schema": {"type": "integer", "format": "int32", "minimum": 0, "maximum": 1000000},
            "example": 99
        },
        "X-RateLimit-Reset": {
            "description": "Secondi dopo i quali la disponibilità del client è di nuovo piena.",
            "schema": {"type": "integer", "format": "int32", "minimum": 0, "maximum": 86400},
            "example": 1
        },
        "WWW-Authenticate": {
            "description": "Schema di autenticazione richiesto ed errore (RFC 6750).",
            "schema": {"type": "string", "maxLength": 512},
            "example": "Bearer realm=\"casellario\", error=\"invalid_token\""
        }
    });
    // Shared problem responses, one per status.
    let mut responses = Map::new();
    for status in [400u16, 401, 403, 404, 413, 415, 422, 429, 500, 503] {
        let codes: Vec<&str> = PROBLEMS
            .iter()
            .filter(|(_, s, _)| *s == status)
            .map(|(c, _, _)| *c)
            .collect();
        let first = codes.first().copied().unwrap_or("ERRORE_INTERNO");
        let mut examples = Map::new();
        for c in &codes {
            examples.insert(
                (*c).to_string(),
                json!({"summary": super::problem::title(c), "value": problem_example(c)}),
            );
        }
        let mut resp = json!({
            "description": format!("Problema: {}.", codes.iter().map(|c| super::problem::title(c)).collect::<Vec<_>>().join("; ")),
            "content": {"application/problem+json": {
                "schema": {"$ref": "#/components/schemas/Problem"},
                "example": problem_example(first),
            }}
        });
        if examples.len() > 1
            && let Some(m) = resp["content"]["application/problem+json"].as_object_mut()
        {
            m.remove("example");
            m.insert("examples".into(), Value::Object(examples));
        }
        let mut headers = Map::new();
        if status == 429 || status == 503 {
            headers.insert("Retry-After".into(), header_ref("Retry-After"));
        }
        if status == 429 {
            for h in [
                "X-RateLimit-Limit",
                "X-RateLimit-Remaining",
                "X-RateLimit-Reset",
            ] {
                headers.insert(h.into(), header_ref(h));
            }
        }
        if status == 401 || status == 403 {
            headers.insert("WWW-Authenticate".into(), header_ref("WWW-Authenticate"));
        }
        if !headers.is_empty() {
            resp["headers"] = Value::Object(headers);
        }
        responses.insert(format!("Problema{status}"), resp);
    }
    comp["responses"] = Value::Object(responses);
    if let Some(schemas) = comp["schemas"].as_object_mut() {
        embed_schema(schemas, "RicevutaApi", receipt_schema());
        embed_schema(schemas, "FlussoJson", super::json_flow::schema());
    }
    // Every operation: its problem responses, and rate-limit headers on
    // the answers of the protected ones.
    if let Some(paths) = doc["paths"].as_object_mut() {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (method, op) in item.iter_mut() {
                let protected = path != "/token" && path != "/status";
                if !protected && let Some(o) = op.as_object_mut() {
                    // Public: no security requirement at all (the token
                    // endpoint authenticates the client in its body).
                    o.insert("security".into(), json!([]));
                }
                if let Some(x) = op
                    .pointer_mut("/requestBody/content/application~1xml/schema")
                    .and_then(Value::as_object_mut)
                {
                    x.insert("maxLength".into(), json!(max_body));
                }
                let Some(resps) = op.get_mut("responses").and_then(Value::as_object_mut) else {
                    continue;
                };
                // Headers an operation declares inline (Location) are short paths.
                for (_, r) in resps.iter_mut() {
                    if let Some(hs) = r.get_mut("headers").and_then(Value::as_object_mut) {
                        for (_, h) in hs.iter_mut() {
                            if let Some(sc) = h.get_mut("schema").and_then(Value::as_object_mut)
                                && sc.get("type") == Some(&json!("string"))
                            {
                                sc.entry("maxLength").or_insert_with(|| json!(256));
                            }
                        }
                    }
                }
                if protected {
                    for (_, r) in resps.iter_mut() {
                        let Some(r) = r.as_object_mut() else { continue };
                        let h = r.entry("headers").or_insert_with(|| json!({}));
                        for name in [
                            "X-RateLimit-Limit",
                            "X-RateLimit-Remaining",
                            "X-RateLimit-Reset",
                        ] {
                            h[name] = header_ref(name);
                        }
                    }
                }
                for s in error_statuses(method, path) {
                    resps.insert(
                        s.to_string(),
                        json!({"$ref": format!("#/components/responses/Problema{s}")}),
                    );
                }
            }
        }
    }
    doc
}

/// `GET /api/v1/openapi.json`.
pub async fn serve(State(state): State<AppState>) -> Response {
    let doc = document(&state.cfg.base_url(), state.cfg.api_max_body_bytes);
    let mut r = axum::Json(doc).into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    r
}
