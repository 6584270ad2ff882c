//! Informazioni: the portal's short manual, the reference tables (benefit
//! codes, regions, coded values, comuni by code), the rules catalogue, the
//! CSV layout, and the official XSDs to download.
//!
//! The pages need a session; the XSDs and the CSV layout as Markdown are
//! static downloads anyone may fetch.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use casellario_domain::catalogue::RuleDef;
use casellario_domain::codes::{CodeTable, all_tables};
use casellario_domain::reference::{
    self, BelfioreComune, Comune, Prestazione, Regione, StatoEstero,
};
use casellario_domain::{Category, Date};
use serde::Deserialize;

use crate::auth::CurrentUser;
use crate::error::AppError;
use crate::fmt::it_date;
use crate::{AppState, Chrome, html};

/// The official schemas, byte for byte as in `schemas/`.
pub const XSD_PS: &str = include_str!("../../../../schemas/PS_PSA_SINA201812.xsd");
pub const XSD_SINBA: &str = include_str!("../../../../schemas/SINBA.xsd");
/// The CSV layout (`docs/TRACCIATO_CSV.md`).
pub const TRACCIATO_CSV: &str = include_str!("../../../../docs/TRACCIATO_CSV.md");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/informazioni", get(manuale))
        .route("/informazioni/prestazioni", get(prestazioni))
        .route("/informazioni/tabelle", get(tabelle))
        .route("/informazioni/regole", get(regole))
        .route("/informazioni/tracciato-csv", get(tracciato))
        .route("/informazioni/tracciato-csv.md", get(tracciato_md))
        .route("/informazioni/xsd/{name}", get(xsd))
}

fn download(body: &'static str, mime: &'static str, filename: &str) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    // Static content: cacheable for a day.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    resp
}

async fn xsd(Path(name): Path<String>) -> Result<Response, AppError> {
    let body = match name.as_str() {
        "PS_PSA_SINA201812.xsd" => XSD_PS,
        "SINBA.xsd" => XSD_SINBA,
        _ => return Err(AppError::not_found()),
    };
    Ok(download(body, "application/xml; charset=utf-8", &name))
}

async fn tracciato_md() -> Response {
    download(
        TRACCIATO_CSV,
        "text/markdown; charset=utf-8",
        "TRACCIATO_CSV.md",
    )
}

// ---------------------------------------------------------------- manual

#[derive(Template)]
#[template(path = "informazioni_manuale.html")]
struct ManualePage {
    chrome: Chrome,
    tab: &'static str,
    min_len: usize,
}

async fn manuale(State(state): State<AppState>, user: CurrentUser) -> Result<Response, AppError> {
    let page = ManualePage {
        chrome: Chrome::new(&state, &user, "informazioni").await,
        tab: "manuale",
        min_len: crate::auth::MIN_PASSWORD,
    };
    Ok(html(&page)?.into_response())
}

// ----------------------------------------------------------- benefit codes

#[derive(Deserialize, Default)]
struct PrestazioniQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    sezione: String,
    #[serde(default)]
    vigenti: Option<String>,
}

#[derive(Template)]
#[template(path = "informazioni_prestazioni.html")]
struct PrestazioniPage {
    chrome: Chrome,
    tab: &'static str,
    q: String,
    sezione: String,
    vigenti: bool,
    rows: Vec<&'static Prestazione>,
    total: usize,
    today: String,
}

impl PrestazioniPage {
    fn date(&self, d: &Option<Date>) -> String {
        d.map(|d| it_date(&d.to_string()))
            .unwrap_or_else(|| "—".into())
    }
    fn section_label(&self, s: &str) -> &'static str {
        section_label(s)
    }
}

fn section_label(s: &str) -> &'static str {
    match s {
        "A1" => "Contributi economici",
        "A2" => "Interventi, servizi e agevolazioni",
        "A3" => "Strutture",
        _ => "",
    }
}

async fn prestazioni(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(f): Query<PrestazioniQuery>,
) -> Result<Response, AppError> {
    let today = crate::fmt::today();
    let q = f.q.trim().to_lowercase();
    let vigenti = f.vigenti.is_some();
    let all = reference::all_prestazioni();
    let rows = all
        .iter()
        .filter(|p| f.sezione.is_empty() || p.section == f.sezione)
        .filter(|p| {
            q.is_empty() || p.code.to_lowercase().contains(&q) || p.name.to_lowercase().contains(&q)
        })
        .filter(|p| !vigenti || p.valid_on(today))
        .collect();
    let page = PrestazioniPage {
        chrome: Chrome::new(&state, &user, "informazioni").await,
        tab: "prestazioni",
        q: f.q.trim().to_string(),
        sezione: f.sezione,
        vigenti,
        rows,
        total: all.len(),
        today: it_date(&today.to_string()),
    };
    Ok(html(&page)?.into_response())
}

// -------------------------------------------------------- other tables

#[derive(Deserialize, Default)]
struct TabelleQuery {
    #[serde(default)]
    codice: String,
}

#[derive(Template)]
#[template(path = "informazioni_tabelle.html")]
struct TabellePage {
    chrome: Chrome,
    tab: &'static str,
    codice: String,
    comune: Option<&'static Comune>,
    comune_regione: String,
    storici: &'static [BelfioreComune],
    stato: Option<&'static StatoEstero>,
    regioni: Vec<&'static Regione>,
    codes: Vec<&'static CodeTable>,
    counts: reference::Counts,
}

impl TabellePage {
    fn date(&self, d: &Option<Date>) -> String {
        d.map(|d| it_date(&d.to_string()))
            .unwrap_or_else(|| "—".into())
    }
    fn nothing_found(&self) -> bool {
        !self.codice.is_empty()
            && self.comune.is_none()
            && self.storici.is_empty()
            && self.stato.is_none()
    }
}

async fn tabelle(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(f): Query<TabelleQuery>,
) -> Result<Response, AppError> {
    let codice = f.codice.trim().to_ascii_uppercase();
    let (comune, storici, stato) = if codice.is_empty() {
        (None, &[][..], None)
    } else {
        let comune =
            reference::comune_by_belfiore(&codice).or_else(|| reference::comune_istat(&codice));
        let storici = if codice.len() == 4 {
            reference::belfiore_comune(&codice)
        } else {
            comune.map_or(&[][..], |c| reference::belfiore_comune(c.belfiore))
        };
        (comune, storici, reference::stato_estero(&codice))
    };
    let comune_regione = comune
        .and_then(|c| reference::regione_dm1986(reference::regione_dm1986_for_comune(c)))
        .map(|r| format!("{} {}", r.code, r.name))
        .unwrap_or_default();
    let regioni = (1..=30)
        .filter_map(|n| reference::regione_dm1986(&format!("{n:02}")))
        .collect();
    let page = TabellePage {
        chrome: Chrome::new(&state, &user, "informazioni").await,
        tab: "tabelle",
        codice,
        comune,
        comune_regione,
        storici,
        stato,
        regioni,
        codes: all_tables(),
        counts: reference::counts(),
    };
    Ok(html(&page)?.into_response())
}

// ------------------------------------------------------------- rules

#[derive(Deserialize, Default)]
struct RegoleQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    categoria: String,
    #[serde(default)]
    flusso: String,
}

#[derive(Template)]
#[template(path = "informazioni_regole.html")]
struct RegolePage {
    chrome: Chrome,
    tab: &'static str,
    q: String,
    categoria: String,
    flusso: String,
    rows: Vec<&'static RuleDef>,
    total: usize,
}

impl RegolePage {
    fn category(&self, c: &Category) -> &'static str {
        match c {
            Category::Xml => "XML",
            Category::Schema => "Schema",
            Category::Dominio => "Dominio",
        }
    }
}

async fn regole(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(f): Query<RegoleQuery>,
) -> Result<Response, AppError> {
    let all = casellario_domain::rules::all_rules();
    let total = all.len();
    let q = f.q.trim().to_lowercase();
    let rows = all
        .into_iter()
        .filter(|r| f.categoria.is_empty() || r.category.wire() == f.categoria)
        .filter(|r| f.flusso.is_empty() || r.flows == f.flusso || r.flows == "tutti")
        .filter(|r| {
            q.is_empty()
                || r.code.to_lowercase().contains(&q)
                || r.title.to_lowercase().contains(&q)
        })
        .collect();
    let page = RegolePage {
        chrome: Chrome::new(&state, &user, "informazioni").await,
        tab: "regole",
        q: f.q.trim().to_string(),
        categoria: f.categoria,
        flusso: f.flusso,
        rows,
        total,
    };
    Ok(html(&page)?.into_response())
}

// -------------------------------------------------------- CSV layout

#[derive(Template)]
#[template(path = "informazioni_tracciato.html")]
struct TracciatoPage {
    chrome: Chrome,
    tab: &'static str,
    body: String,
}

async fn tracciato(State(state): State<AppState>, user: CurrentUser) -> Result<Response, AppError> {
    static BODY: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| markdown::to_html(TRACCIATO_CSV));
    let page = TracciatoPage {
        chrome: Chrome::new(&state, &user, "informazioni").await,
        tab: "tracciato",
        body: BODY.clone(),
    };
    Ok(html(&page)?.into_response())
}

/// The small subset of Markdown the shipped documents use: headings,
/// paragraphs, nested bullet lists, tables, fenced code, and inline code,
/// bold, italics and links. Every piece of text is HTML-escaped.
mod markdown {
    use std::fmt::Write;

    pub fn escape(s: &str) -> String {
        let mut o = String::with_capacity(s.len());
        for c in s.chars() {
            match c {
                '&' => o.push_str("&amp;"),
                '<' => o.push_str("&lt;"),
                '>' => o.push_str("&gt;"),
                '"' => o.push_str("&quot;"),
                '\'' => o.push_str("&#39;"),
                c => o.push(c),
            }
        }
        o
    }

    /// GitHub-style anchor of a heading.
    pub fn slug(s: &str) -> String {
        s.chars()
            .filter_map(|c| {
                if c.is_alphanumeric() || c == '_' || c == '-' {
                    Some(c.to_lowercase().next().unwrap_or(c))
                } else if c == ' ' {
                    Some('-')
                } else {
                    None
                }
            })
            .collect()
    }

    /// Bold, italics and links on already escaped text.
    fn emphasis(s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        // Links: [text](target), only local anchors, site paths or http(s).
        while let Some(open) = rest.find('[') {
            let after = &rest[open + 1..];
            let parsed = after.find("](").and_then(|close| {
                let target_start = close + 2;
                after[target_start..].find(')').map(|end| {
                    (
                        close,
                        &after[target_start..target_start + end],
                        target_start + end + 1,
                    )
                })
            });
            match parsed {
                Some((close, target, consumed))
                    if target.starts_with('#')
                        || target.starts_with('/')
                        || target.starts_with("https://")
                        || target.starts_with("http://") =>
                {
                    out.push_str(&rest[..open]);
                    let _ = write!(out, "<a href=\"{target}\">{}</a>", &after[..close]);
                    rest = &after[consumed..];
                }
                Some((close, _, consumed)) => {
                    // A link to a file of the repository: keep its text.
                    out.push_str(&rest[..open]);
                    out.push_str(&after[..close]);
                    rest = &after[consumed..];
                }
                None => {
                    out.push_str(&rest[..=open]);
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        pairs(&pairs(&out, "**", "strong"), "*", "em")
    }

    /// Replaces `mark`…`mark` pairs with an element; an unpaired mark stays.
    fn pairs(s: &str, mark: &str, tag: &str) -> String {
        let parts: Vec<&str> = s.split(mark).collect();
        if parts.len() < 3 {
            return s.to_string();
        }
        let mut out = String::with_capacity(s.len() + 16);
        let paired = if parts.len() % 2 == 1 {
            parts.len()
        } else {
            parts.len() - 1
        };
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                if i < paired {
                    let _ = write!(out, "<{}{tag}>", if i % 2 == 1 { "" } else { "/" });
                } else {
                    out.push_str(mark);
                }
            }
            out.push_str(p);
        }
        out
    }

    pub fn inline(s: &str) -> String {
        let mut out = String::with_capacity(s.len() + 16);
        for (i, part) in s.split('`').enumerate() {
            if i % 2 == 1 {
                let _ = write!(out, "<code>{}</code>", escape(part));
            } else {
                out.push_str(&emphasis(&escape(part)));
            }
        }
        out
    }

    fn cells(line: &str) -> Vec<String> {
        let l = line.trim().trim_start_matches('|').trim_end_matches('|');
        l.replace("\\|", "\u{1}")
            .split('|')
            .map(|c| inline(&c.trim().replace('\u{1}', "|")))
            .collect()
    }

    pub fn to_html(md: &str) -> String {
        let lines: Vec<&str> = md.lines().collect();
        let mut out = String::new();
        let mut i = 0;
        let mut caption = String::new();
        let mut tables = 0;
        let mut para: Vec<&str> = Vec::new();
        let flush = |para: &mut Vec<&str>, out: &mut String| {
            if !para.is_empty() {
                let _ = writeln!(out, "<p>{}</p>", inline(&para.join(" ")));
                para.clear();
            }
        };
        while i < lines.len() {
            let line = lines[i];
            let t = line.trim_start();
            if t.is_empty() || t.starts_with("<!--") {
                flush(&mut para, &mut out);
                i += 1;
            } else if t.starts_with("```") {
                flush(&mut para, &mut out);
                i += 1;
                // Focusable: a long example scrolls sideways and must be
                // reachable from the keyboard (WCAG 2.1.1).
                out.push_str("<pre tabindex=\"0\"><code>");
                while i < lines.len() && !lines[i].trim_start().starts_with("```") {
                    out.push_str(&escape(lines[i]));
                    out.push('\n');
                    i += 1;
                }
                out.push_str("</code></pre>\n");
                i += 1;
            } else if t.starts_with('#') {
                flush(&mut para, &mut out);
                let level = t.chars().take_while(|c| *c == '#').count().min(6);
                let text = t[level..].trim();
                caption = text.replace('`', "");
                let _ = writeln!(
                    out,
                    "<h{level} id=\"{}\">{}</h{level}>",
                    escape(&slug(&caption)),
                    inline(text)
                );
                i += 1;
            } else if t.starts_with('|') {
                flush(&mut para, &mut out);
                tables += 1;
                let head = cells(t);
                i += 1;
                if i < lines.len() && lines[i].trim_start().starts_with("|-") {
                    i += 1;
                }
                let _ = write!(
                    out,
                    "<div class=\"table-wrap\" role=\"region\" tabindex=\"0\" aria-labelledby=\"md-tab-{tables}\">\n<table class=\"table table-sm\">\n<caption id=\"md-tab-{tables}\">{}</caption>\n<thead><tr>",
                    escape(&caption)
                );
                for h in &head {
                    let _ = write!(out, "<th scope=\"col\">{h}</th>");
                }
                out.push_str("</tr></thead>\n<tbody>\n");
                while i < lines.len() && lines[i].trim_start().starts_with('|') {
                    out.push_str("<tr>");
                    for c in cells(lines[i]) {
                        let _ = write!(out, "<td>{c}</td>");
                    }
                    out.push_str("</tr>\n");
                    i += 1;
                }
                out.push_str("</tbody>\n</table>\n</div>\n");
            } else if t.starts_with("- ") || t.starts_with("* ") {
                flush(&mut para, &mut out);
                // Nested bullet lists by indentation; continuation lines
                // (indented, not bullets) belong to the open item.
                let mut stack: Vec<usize> = Vec::new();
                while i < lines.len() {
                    let l = lines[i];
                    let lt = l.trim_start();
                    if lt.is_empty() {
                        break;
                    }
                    let indent = l.len() - lt.len();
                    if lt.starts_with("- ") || lt.starts_with("* ") {
                        match stack.last() {
                            None => {
                                out.push_str("<ul>\n<li>");
                                stack.push(indent);
                            }
                            Some(&top) if indent > top => {
                                out.push_str("\n<ul>\n<li>");
                                stack.push(indent);
                            }
                            Some(_) => {
                                while stack.len() > 1 && stack.last().is_some_and(|&s| indent < s) {
                                    out.push_str("</li>\n</ul>\n");
                                    stack.pop();
                                }
                                out.push_str("</li>\n<li>");
                            }
                        }
                        out.push_str(&inline(&lt[2..]));
                    } else if indent > 0 {
                        out.push(' ');
                        out.push_str(&inline(lt));
                    } else {
                        break;
                    }
                    i += 1;
                }
                for _ in &stack {
                    out.push_str("</li>\n</ul>\n");
                }
            } else {
                para.push(t);
                i += 1;
            }
        }
        flush(&mut para, &mut out);
        out
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn renders_the_subset() {
            let h = to_html(
                "# Titolo `A`\n\nUn **grassetto** e <b>, [link](#x).\n\n- uno\n  - due\n- tre\n\n| a | b \\| c |\n|---|---|\n| `x` | y |\n",
            );
            assert!(
                h.contains("<h1 id=\"titolo-a\">Titolo <code>A</code></h1>"),
                "{h}"
            );
            assert!(
                h.contains("<strong>grassetto</strong> e &lt;b&gt;, <a href=\"#x\">link</a>."),
                "{h}"
            );
            assert!(
                h.contains("<li>uno\n<ul>\n<li>due</li>\n</ul>\n</li>\n<li>tre</li>"),
                "{h}"
            );
            assert!(h.contains("<th scope=\"col\">b | c</th>"), "{h}");
            assert!(h.contains("<td><code>x</code></td>"), "{h}");
            assert!(!to_html("[x](javascript:alert(1))").contains("href"));
        }
    }
}
