//! The ModI ruleset (`api/modi.spectral.yaml`) bites: a small document
//! written to the conventions passes, documents breaking them fail with the
//! rules named, and the JSON flow schema the API embeds passes as is.

#![allow(clippy::unwrap_used)]

#[path = "api/lint.rs"]
mod lint;

use serde_json::{Value, json};

/// A small API following every rule: metadata, https and /vN servers,
/// /status, OAuth2 applied per operation, problem+json errors, 429 with its
/// headers, bounded strings, integers and arrays, snake_case names, examples.
fn good() -> Value {
    json!(
    {
      "openapi": "3.0.3",
      "info": {
        "title": "Esempio ModI",
        "description": "API di prova conforme alle regole ModI del progetto.",
        "version": "1.0.0",
        "x-summary": "API di prova",
        "x-api-id": "esempio-modi",
        "termsOfService": "https://example.it/condizioni",
        "contact": {
          "name": "Supporto",
          "email": "supporto@example.it",
          "url": "https://example.it"
        },
        "license": {
          "name": "EUPL-1.2",
          "url": "https://eupl.eu/1.2/it/"
        }
      },
      "servers": [
        {
          "url": "https://api.example.it/api/v1",
          "description": "Produzione"
        },
        {
          "url": "http://localhost:8080/api/v1",
          "description": "Sviluppo locale"
        }
      ],
      "tags": [
        {
          "name": "stato",
          "description": "Stato del servizio"
        },
        {
          "name": "flussi",
          "description": "Invio dei flussi"
        }
      ],
      "paths": {
        "/status": {
          "get": {
            "operationId": "leggiStato",
            "summary": "Stato del servizio",
            "description": "Risponde 200 quando il servizio è attivo.",
            "tags": [
              "stato"
            ],
            "security": [],
            "responses": {
              "200": {
                "description": "Servizio attivo",
                "content": {
                  "application/problem+json": {
                    "schema": {
                      "$ref": "#/components/schemas/Problem"
                    },
                    "example": {
                      "type": "about:blank",
                      "title": "OK",
                      "status": 200,
                      "detail": "Servizio attivo"
                    }
                  }
                }
              },
              "503": {
                "description": "Servizio non disponibile",
                "headers": {
                  "Retry-After": {
                    "$ref": "#/components/headers/Retry-After"
                  }
                },
                "content": {
                  "application/problem+json": {
                    "schema": {
                      "$ref": "#/components/schemas/Problem"
                    }
                  }
                }
              }
            }
          }
        },
        "/flussi/{id_flusso}": {
          "get": {
            "operationId": "leggiFlusso",
            "summary": "Un flusso",
            "description": "Legge un flusso inviato.",
            "tags": [
              "flussi"
            ],
            "security": [
              {
                "oauth2": [
                  "ricevute:lettura"
                ]
              }
            ],
            "parameters": [
              {
                "name": "id_flusso",
                "in": "path",
                "required": true,
                "description": "Identificativo",
                "schema": {
                  "type": "string",
                  "maxLength": 50,
                  "pattern": "^[A-Za-z0-9._-]+$"
                }
              },
              {
                "name": "limite",
                "in": "query",
                "required": false,
                "description": "Quanti elementi",
                "schema": {
                  "type": "integer",
                  "format": "int32",
                  "minimum": 1,
                  "maximum": 100
                }
              }
            ],
            "responses": {
              "200": {
                "description": "Il flusso",
                "headers": {
                  "X-RateLimit-Limit": {
                    "$ref": "#/components/headers/X-RateLimit-Limit"
                  },
                  "X-RateLimit-Remaining": {
                    "$ref": "#/components/headers/X-RateLimit-Remaining"
                  },
                  "X-RateLimit-Reset": {
                    "$ref": "#/components/headers/X-RateLimit-Reset"
                  }
                },
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/Flusso"
                    },
                    "example": {
                      "id_flusso": "H501.PS.1",
                      "esiti": [
                        "OK"
                      ],
                      "importo_totale": 10.5
                    }
                  }
                }
              },
              "404": {
                "description": "Non trovato",
                "content": {
                  "application/problem+json": {
                    "schema": {
                      "$ref": "#/components/schemas/Problem"
                    }
                  }
                }
              },
              "429": {
                "description": "Troppe richieste",
                "headers": {
                  "Retry-After": {
                    "$ref": "#/components/headers/Retry-After"
                  },
                  "X-RateLimit-Limit": {
                    "$ref": "#/components/headers/X-RateLimit-Limit"
                  },
                  "X-RateLimit-Remaining": {
                    "$ref": "#/components/headers/X-RateLimit-Remaining"
                  },
                  "X-RateLimit-Reset": {
                    "$ref": "#/components/headers/X-RateLimit-Reset"
                  }
                },
                "content": {
                  "application/problem+json": {
                    "schema": {
                      "$ref": "#/components/schemas/Problem"
                    }
                  }
                }
              }
            }
          }
        }
      },
      "components": {
        "securitySchemes": {
          "oauth2": {
            "type": "oauth2",
            "description": "Credenziali del client scambiate con un token JWT.",
            "flows": {
              "clientCredentials": {
                "tokenUrl": "/api/v1/token",
                "scopes": {
                  "ricevute:lettura": "Lettura delle ricevute"
                }
              }
            }
          }
        },
        "headers": {
          "Retry-After": {
            "description": "Secondi da attendere",
            "schema": {
              "type": "integer",
              "format": "int32",
              "minimum": 0,
              "maximum": 86400
            }
          },
          "X-RateLimit-Limit": {
            "description": "Richieste ammesse nella finestra",
            "schema": {
              "type": "integer",
              "format": "int32",
              "minimum": 0,
              "maximum": 1000000
            }
          },
          "X-RateLimit-Remaining": {
            "description": "Richieste rimaste",
            "schema": {
              "type": "integer",
              "format": "int32",
              "minimum": 0,
              "maximum": 1000000
            }
          },
          "X-RateLimit-Reset": {
            "description": "Secondi alla nuova finestra",
            "schema": {
              "type": "integer",
              "format": "int32",
              "minimum": 0,
              "maximum": 86400
            }
          }
        },
        "schemas": {
          "Problem": {
            "type": "object",
            "description": "Errore RFC 9457",
            "properties": {
              "type": {
                "type": "string",
                "maxLength": 200,
                "format": "uri-reference",
                "description": "Tipo"
              },
              "title": {
                "type": "string",
                "maxLength": 200,
                "description": "Titolo"
              },
              "status": {
                "type": "integer",
                "format": "int32",
                "minimum": 100,
                "maximum": 599,
                "description": "Stato HTTP"
              },
              "detail": {
                "type": "string",
                "maxLength": 4000,
                "description": "Dettaglio"
              }
            }
          },
          "Flusso": {
            "type": "object",
            "description": "Un flusso",
            "properties": {
              "id_flusso": {
                "type": "string",
                "maxLength": 50,
                "description": "Id"
              },
              "esiti": {
                "type": "array",
                "maxItems": 100,
                "items": {
                  "type": "string",
                  "enum": [
                    "OK",
                    "KO"
                  ]
                }
              },
              "importo_totale": {
                "type": "number",
                "format": "decimal128",
                "description": "Importo"
              },
              "tracciato": {
                "type": "object",
                "x-nomi-esterni": true,
                "properties": {
                  "CodiceFiscale": {
                    "type": "string",
                    "maxLength": 16
                  }
                }
              }
            }
          }
        }
      }
    }
    )
}

/// Runs the lint, expecting failure; returns Spectral's report.
fn report(doc: &Value) -> String {
    match lint::lint_openapi(&doc.to_string()) {
        Ok(()) => panic!("the ruleset let this through:\n{doc:#}"),
        Err(e) => e,
    }
}

fn assert_rules(report: &str, rules: &[&str]) {
    let missing: Vec<&&str> = rules
        .iter()
        .filter(|r| !report.lines().any(|l| l.contains(&format!(" {r} "))))
        .collect();
    assert!(
        missing.is_empty(),
        "rules that did not fire: {missing:?}\n{report}"
    );
}

#[test]
fn good_document_passes() {
    if !lint::spectral_or_skip("good_document_passes") {
        return;
    }
    lint::lint_openapi(&good().to_string()).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn each_convention_broken_is_named() {
    if !lint::spectral_or_skip("each_convention_broken_is_named") {
        return;
    }
    let mut bad = good();
    let info = bad["info"].as_object_mut().unwrap();
    for k in ["contact", "x-summary", "x-api-id", "termsOfService"] {
        info.remove(k);
    }
    info.insert("version".into(), json!("v1"));
    bad["servers"] = json!([{ "url": "http://api.example.it/api" }]);
    bad["components"]["securitySchemes"]["chiave"] =
        json!({ "type": "apiKey", "in": "query", "name": "chiave" });
    let paths = bad["paths"].as_object_mut().unwrap();
    paths.remove("/status");
    let mut op = paths.remove("/flussi/{id_flusso}").unwrap();
    let get = op["get"].as_object_mut().unwrap();
    get.remove("operationId");
    get["parameters"][1]["schema"] = json!({ "type": "integer" });
    get["parameters"].as_array_mut().unwrap().push(
        json!({ "name": "access_token", "in": "query", "description": "token",
                      "schema": { "type": "string", "maxLength": 100 } }),
    );
    let responses = get["responses"].as_object_mut().unwrap();
    responses["404"] = json!({ "description": "Non trovato", "content": { "application/json": {
        "schema": { "type": "object", "properties": { "message": { "type": "string", "maxLength": 10 } } } } } });
    responses["429"].as_object_mut().unwrap().remove("headers");
    responses["200"]["content"]["application/json"]
        .as_object_mut()
        .unwrap()
        .remove("example");
    paths.insert("/getFlussi/{id_flusso}".into(), op);
    paths.insert(
        "/v1/altro".into(),
        json!({ "post": {
            "operationId": "altro", "summary": "Altro", "description": "Altro.", "tags": ["flussi"],
            "security": [ { "oauth2": ["ricevute:lettura"] } ],
            "responses": {
                "200": { "description": "OK", "content": { "application/json": { "example": {}, "schema": {
                    "type": "object", "properties": {
                        "elenco": { "type": "array", "items": { "type": "string", "maxLength": 3 } },
                        "importo": { "type": "number" },
                        "testo": { "type": "string" },
                        "idFlusso": { "type": "string", "maxLength": 10 },
                        "Nome-Strano": { "type": "string", "maxLength": 10 }
                    } } } } },
                "500": { "description": "Errore interno" }
            } } }),
    );
    bad["components"]["schemas"]["Problem"]["properties"]["status"] =
        json!({ "type": "string", "maxLength": 3 });
    let report = report(&bad);
    assert_rules(
        &report,
        &[
            "modi-info-contact",
            "modi-info-x-summary",
            "modi-info-x-api-id",
            "modi-info-terms-of-service",
            "modi-info-version",
            "modi-major-version-in-url",
            "modi-servers-https",
            "modi-servers-description",
            "modi-no-apikey-in-query",
            "modi-status-endpoint",
            "operation-operationId",
            "modi-integer-format",
            "modi-no-credentials-in-url",
            "modi-problem-json-media-type",
            "modi-problem-json-present",
            "modi-problem-schema",
            "modi-429-headers",
            "modi-429-documented",
            "modi-response-examples",
            "modi-paths-kebab-case",
            "modi-array-max-items",
            "modi-number-format",
            "modi-string-bounded",
            "modi-property-casing",
        ],
    );
}

#[test]
fn missing_security_and_a_text_status_fail() {
    if !lint::spectral_or_skip("missing_security_and_a_text_status_fail") {
        return;
    }
    let mut bad = good();
    bad["components"]
        .as_object_mut()
        .unwrap()
        .remove("securitySchemes");
    let paths = bad["paths"].as_object_mut().unwrap();
    paths.remove("/flussi/{id_flusso}");
    paths["/status"]["get"]["responses"]["200"]["content"] = json!({ "text/plain": { "schema": { "type": "string", "maxLength": 2 }, "example": "OK" } });
    assert_rules(
        &report(&bad),
        &[
            "modi-security-schemes-defined",
            "modi-security-applied",
            "modi-status-get",
        ],
    );
}

/// Security applied to the whole document counts too: an operation that
/// inherits it must document 429; one that opts out (`security: []`) need not.
#[test]
fn inherited_security_needs_429_too() {
    if !lint::spectral_or_skip("inherited_security_needs_429_too") {
        return;
    }
    let mut doc = good();
    doc["security"] = json!([{ "oauth2": ["ricevute:lettura"] }]);
    let get = doc["paths"]["/flussi/{id_flusso}"]["get"]
        .as_object_mut()
        .unwrap();
    get.remove("security");
    get["responses"].as_object_mut().unwrap().remove("429");
    let report = report(&doc);
    assert_rules(&report, &["modi-429-documented"]);
    assert!(!report.contains("/status"), "/status opts out: {report}");
}

/// The JSON flow schema of `casellario_formats::json`, embedded as the API
/// embeds it (a request body), breaks none of the rules: its XSD names are
/// exempt from the casing rule through `x-nomi-esterni`, everything else holds.
#[test]
fn the_json_flow_schema_passes() {
    if !lint::spectral_or_skip("the_json_flow_schema_passes") {
        return;
    }
    let example: Value =
        serde_json::from_slice(
            &std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(
                "../../tests/fixtures/json/example1_PS_PSA_SINA_H501.PS.20210520.0000002.json",
            ))
            .unwrap(),
        )
        .unwrap();
    let mut doc = good();
    doc["paths"]["/flussi/{id_flusso}"]["put"] = json!({
        "operationId": "inviaFlusso",
        "summary": "Invio di un flusso",
        "description": "Invia un flusso JSON.",
        "tags": ["flussi"],
        "security": [ { "oauth2": ["ricevute:lettura"] } ],
        "parameters": [ { "name": "id_flusso", "in": "path", "required": true, "description": "Identificativo",
                          "schema": { "type": "string", "maxLength": 50, "pattern": "^[A-Za-z0-9._-]+$" } } ],
        "requestBody": { "required": true, "content": { "application/json": {
            "schema": casellario_formats::json::flow_json_schema(),
            // Spectral checks examples against their schema (AJV): the INPS
            // sample, as JSON, must satisfy the flow schema there too.
            "example": example } } },
        "responses": doc["paths"]["/flussi/{id_flusso}"]["get"]["responses"].clone(),
    });
    lint::lint_openapi(&doc.to_string()).unwrap_or_else(|e| panic!("{e}"));
}
