//! Amministrazione: enti and accounts.
//!
//! Administrators (`ManageEnti`, `ManageUsers`) manage every ente and every
//! account; a referente (`ManageOwnOperators`) manages only the `operatore`
//! accounts of their own ente. Any other account of any other ente answers
//! 404, like an id that does not exist. Every change is audited with a JSON
//! detail.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use casellario_domain::access::{EnteKind, Permission, Role};
use casellario_domain::reference;
use casellario_store::EnteId;
use casellario_store::StoreError;
use casellario_store::portal::{
    Account, AccountId, EnteAttrs, EnteProfile, EnteStats, NewAccount, NewAuditEvent,
};
use serde::Deserialize;

use super::parse_id;
use crate::auth::{self, CurrentUser};
use crate::error::AppError;
use crate::fmt::now_ms;
use crate::fmt::{Millis, Num, it_datetime, it_num};
use crate::{AppState, Chrome, html};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/amministrazione", get(index))
        .route("/amministrazione/enti", post(ente_create))
        .route("/amministrazione/enti/nuovo", get(ente_new))
        .route(
            "/amministrazione/enti/{id}",
            get(ente_detail).post(ente_update),
        )
        .route("/amministrazione/utenti", get(users).post(user_create))
        .route("/amministrazione/utenti/nuovo", get(user_new))
        .route(
            "/amministrazione/utenti/{id}",
            get(user_detail).post(user_update),
        )
        .route("/amministrazione/utenti/{id}/password", post(user_reset))
}

// ----------------------------------------------------------------- scope

/// What the signed-in person may manage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Every ente and every account.
    Admin,
    /// The `operatore` accounts of this ente.
    Referente(EnteId),
}

fn scope(user: &CurrentUser) -> Result<Scope, AppError> {
    if user.can(Permission::ManageUsers) {
        Ok(Scope::Admin)
    } else if user.can(Permission::ManageOwnOperators) {
        Ok(Scope::Referente(user.ente()?))
    } else {
        Err(AppError::forbidden())
    }
}

impl Scope {
    fn may_manage(self, a: &Account) -> bool {
        match self {
            Scope::Admin => true,
            Scope::Referente(e) => a.ente_id == Some(e) && a.role == Role::Operatore,
        }
    }
    fn roles(self) -> Vec<Role> {
        match self {
            Scope::Admin => Role::ALL.to_vec(),
            Scope::Referente(_) => vec![Role::Operatore],
        }
    }
}

// ---------------------------------------------------------------- errors

/// Validation messages of a form, next to their fields and in a summary.
#[derive(Default, Debug)]
pub struct Errors(Vec<FieldError>);

#[derive(Debug)]
pub struct FieldError {
    pub field: &'static str,
    pub label: &'static str,
    pub message: String,
}

impl Errors {
    /// [`Errors::add`] for the other pages of Amministrazione.
    pub(super) fn add_public(
        &mut self,
        field: &'static str,
        label: &'static str,
        message: impl Into<String>,
    ) {
        self.add(field, label, message);
    }
    fn add(&mut self, field: &'static str, label: &'static str, message: impl Into<String>) {
        self.0.push(FieldError {
            field,
            label,
            message: message.into(),
        });
    }
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }
    pub fn has(&self, field: &str) -> bool {
        self.get(field).is_some()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn all(&self) -> &[FieldError] {
        &self.0
    }
}

// ----------------------------------------------------------------- enti

#[derive(Template)]
#[template(path = "admin_enti.html")]
struct EntiPage {
    chrome: Chrome,
    rows: Vec<EnteRow>,
}

struct EnteRow {
    ente: EnteProfile,
    stats: EnteStats,
    users: u64,
}

impl EntiPage {
    fn n(&self, v: impl Num) -> String {
        it_num(v.get())
    }
    fn when(&self, ms: &Option<i64>) -> String {
        ms.map(it_datetime).unwrap_or_else(|| "—".into())
    }
}

async fn index(State(state): State<AppState>, user: CurrentUser) -> Result<Response, AppError> {
    match scope(&user)? {
        Scope::Referente(_) => Ok(Redirect::to("/amministrazione/utenti").into_response()),
        Scope::Admin => {
            user.require(Permission::ManageEnti)?;
            let rows = state
                .db
                .run(|s| {
                    let stats = s.all_ente_stats()?;
                    let accounts = s.list_accounts(None)?;
                    let mut rows = Vec::new();
                    for e in s.list_ente_profiles()? {
                        let users = accounts.iter().filter(|a| a.ente_id == Some(e.id)).count();
                        rows.push(EnteRow {
                            stats: stats.get(&e.id).copied().unwrap_or_default(),
                            users: users as u64,
                            ente: e,
                        });
                    }
                    Ok(rows)
                })
                .await?;
            let page = EntiPage {
                chrome: Chrome::new(&state, &user, "amministrazione").await,
                rows,
            };
            Ok(html(&page)?.into_response())
        }
    }
}

/// Values of the ente form, as typed.
#[derive(Debug, Default, Deserialize)]
struct EnteForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    codice: String,
    #[serde(default)]
    denominazione: String,
    #[serde(default)]
    belfiore: String,
    #[serde(default)]
    tipo: String,
    #[serde(default)]
    attivo: Option<String>,
}

#[derive(Template)]
#[template(path = "admin_ente_nuovo.html")]
struct EnteNewPage {
    chrome: Chrome,
    form: EnteForm,
    errors: Errors,
    kinds: &'static [EnteKind],
}

async fn ente_new(State(state): State<AppState>, user: CurrentUser) -> Result<Response, AppError> {
    user.require(Permission::ManageEnti)?;
    let page = EnteNewPage {
        chrome: Chrome::new(&state, &user, "amministrazione").await,
        form: EnteForm {
            tipo: EnteKind::Comune.wire().into(),
            ..EnteForm::default()
        },
        errors: Errors::default(),
        kinds: &EnteKind::ALL,
    };
    Ok(html(&page)?.into_response())
}

/// Checks the attributes common to creation and edit; the comune of the seat.
fn check_ente_attrs(f: &EnteForm, errors: &mut Errors) -> Option<EnteKind> {
    let den = f.denominazione.trim();
    if den.is_empty() {
        errors.add(
            "denominazione",
            "Denominazione",
            "Indicare la denominazione dell'ente.",
        );
    } else if den.chars().count() > 100 {
        errors.add(
            "denominazione",
            "Denominazione",
            "La denominazione può avere al massimo 100 caratteri (limite del tracciato INPS).",
        );
    }
    let b = f.belfiore.trim();
    if b.is_empty() {
        errors.add(
            "belfiore",
            "Comune sede",
            "Indicare il codice Belfiore del comune sede dell'ente (es. G479 per Pesaro).",
        );
    } else if reference::comune_by_belfiore(b).is_none() {
        errors.add(
            "belfiore",
            "Comune sede",
            format!(
                "Il codice Belfiore «{b}» non corrisponde a nessun comune italiano in vigore: usare 4 caratteri, una lettera e tre cifre (es. G479)."
            ),
        );
    }
    let kind = EnteKind::from_wire(&f.tipo);
    if kind.is_none() {
        errors.add("tipo", "Tipo di ente", "Scegliere il tipo di ente.");
    }
    kind
}

fn check_codice(codice: &str, errors: &mut Errors) {
    // The flow name starts with the codice: `^[A-Z0-9]{1,32}\.` and at most
    // 50 characters in all.
    let ok_chars = codice
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if codice.is_empty() {
        errors.add(
            "codice",
            "Codice ente",
            "Indicare il codice dell'ente, come comparirà in Ente/@Codice dei flussi.",
        );
    } else if codice.len() > 20 || !ok_chars {
        errors.add(
            "codice",
            "Codice ente",
            "Il codice può contenere solo lettere e cifre, senza spazi né simboli, al massimo 20 caratteri: il nome dei flussi inizia con il codice e non deve superare 50 caratteri.",
        );
    }
}

async fn ente_create(
    State(state): State<AppState>,
    user: CurrentUser,
    Form(f): Form<EnteForm>,
) -> Result<Response, AppError> {
    user.check_csrf(&f.csrf)?;
    user.require(Permission::ManageEnti)?;
    let mut errors = Errors::default();
    let codice = f.codice.trim().to_ascii_uppercase();
    check_codice(&codice, &mut errors);
    let kind = check_ente_attrs(&f, &mut errors);
    if let (true, Some(kind)) = (errors.is_empty(), kind) {
        let den = f.denominazione.trim().to_string();
        let belfiore = f.belfiore.trim().to_ascii_uppercase();
        let (by, name) = (user.id(), user.account.username.clone());
        let cod = codice.clone();
        let created = state
            .db
            .run(move |s| {
                let attrs = EnteAttrs {
                    denominazione: &den,
                    belfiore: &belfiore,
                    tipo: kind,
                    attivo: true,
                };
                match s.create_ente(&cod, &attrs, Some(by)) {
                    Ok(id) => {
                        let detail = serde_json::json!({
                            "codice": cod, "denominazione": den, "belfiore": belfiore,
                            "tipo": kind.wire(),
                        });
                        s.audit(&NewAuditEvent {
                            account_id: Some(by),
                            username: Some(&name),
                            action: "ente.creazione",
                            ente_id: Some(id),
                            detail: &detail.to_string(),
                            ip: None,
                        })?;
                        Ok(Some(id))
                    }
                    Err(StoreError::Conflict(_)) => Ok(None),
                    Err(e) => Err(e.into()),
                }
            })
            .await?;
        match created {
            Some(id) => {
                return Ok(
                    Redirect::to(&format!("/amministrazione/enti/{id}?esito=creato"))
                        .into_response(),
                );
            }
            None => errors.add(
                "codice",
                "Codice ente",
                format!("Esiste già un ente con il codice {codice}."),
            ),
        }
    }
    let page = EnteNewPage {
        chrome: Chrome::new(&state, &user, "amministrazione").await,
        form: f,
        errors,
        kinds: &EnteKind::ALL,
    };
    Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, html(&page)?).into_response())
}

#[derive(Template)]
#[template(path = "admin_ente.html")]
struct EntePage {
    chrome: Chrome,
    ente: EnteProfile,
    comune: String,
    stats: EnteStats,
    accounts: Vec<Account>,
    form: EnteForm,
    errors: Errors,
    kinds: &'static [EnteKind],
}

impl EntePage {
    fn n(&self, v: impl Num) -> String {
        it_num(v.get())
    }
    fn when(&self, ms: impl Millis) -> String {
        it_datetime(ms.get())
    }
}

#[derive(Deserialize)]
struct EsitoQuery {
    esito: Option<String>,
}

fn comune_label(belfiore: &str) -> String {
    match reference::comune_by_belfiore(belfiore) {
        Some(c) => format!("{} ({})", c.name, c.province),
        None => "comune non più in vigore".into(),
    }
}

async fn load_ente_page(
    state: &AppState,
    user: &CurrentUser,
    id: EnteId,
    form: Option<EnteForm>,
    errors: Errors,
) -> Result<EntePage, AppError> {
    let (ente, stats, accounts) = state
        .db
        .run(move |s| {
            let ente = s.ente_profile(id)?.ok_or_else(AppError::not_found)?;
            Ok((ente, s.ente_stats(id)?, s.list_accounts(Some(id))?))
        })
        .await?;
    let form = form.unwrap_or_else(|| EnteForm {
        csrf: String::new(),
        codice: ente.codice.clone(),
        denominazione: ente.denominazione.clone(),
        belfiore: ente.belfiore.clone(),
        tipo: ente.tipo.wire().into(),
        attivo: ente.attivo.then(|| "si".to_string()),
    });
    Ok(EntePage {
        chrome: Chrome::new(state, user, "amministrazione").await,
        comune: comune_label(&ente.belfiore),
        ente,
        stats,
        accounts,
        form,
        errors,
        kinds: &EnteKind::ALL,
    })
}

async fn ente_detail(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Query(q): Query<EsitoQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageEnti)?;
    let id = parse_id(&id)?;
    let mut page = load_ente_page(&state, &user, id, None, Errors::default()).await?;
    match q.esito.as_deref() {
        Some("creato") => {
            page.chrome = page.chrome.with_flash(
                "success",
                "Ente registrato. Ora è possibile creare il referente e gli operatori.",
            )
        }
        Some("modificato") => {
            page.chrome = page
                .chrome
                .with_flash("success", "Dati dell'ente aggiornati.")
        }
        _ => {}
    }
    Ok(html(&page)?.into_response())
}

async fn ente_update(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Form(f): Form<EnteForm>,
) -> Result<Response, AppError> {
    user.check_csrf(&f.csrf)?;
    user.require(Permission::ManageEnti)?;
    let id = parse_id(&id)?;
    let mut errors = Errors::default();
    let kind = check_ente_attrs(&f, &mut errors);
    if let (true, Some(kind)) = (errors.is_empty(), kind) {
        let den = f.denominazione.trim().to_string();
        let belfiore = f.belfiore.trim().to_ascii_uppercase();
        let attivo = f.attivo.is_some();
        let (by, name) = (user.id(), user.account.username.clone());
        state
            .db
            .run(move |s| {
                let before = s.ente_profile(id)?.ok_or_else(AppError::not_found)?;
                s.revise_ente(
                    id,
                    &EnteAttrs {
                        denominazione: &den,
                        belfiore: &belfiore,
                        tipo: kind,
                        attivo,
                    },
                    Some(by),
                )?;
                let detail = serde_json::json!({
                    "codice": before.codice,
                    "prima": {"denominazione": before.denominazione, "belfiore": before.belfiore,
                              "tipo": before.tipo.wire(), "attivo": before.attivo},
                    "dopo": {"denominazione": den, "belfiore": belfiore,
                             "tipo": kind.wire(), "attivo": attivo},
                });
                s.audit(&NewAuditEvent {
                    account_id: Some(by),
                    username: Some(&name),
                    action: "ente.modifica",
                    ente_id: Some(id),
                    detail: &detail.to_string(),
                    ip: None,
                })?;
                Ok(())
            })
            .await?;
        return Ok(
            Redirect::to(&format!("/amministrazione/enti/{id}?esito=modificato")).into_response(),
        );
    }
    let page = load_ente_page(&state, &user, id, Some(f), errors).await?;
    Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, html(&page)?).into_response())
}

// ------------------------------------------------------------- accounts

#[derive(Template)]
#[template(path = "admin_utenti.html")]
struct UsersPage {
    chrome: Chrome,
    is_admin: bool,
    /// The referente's ente, or the filter.
    ente: Option<EnteProfile>,
    enti: Vec<EnteProfile>,
    rows: Vec<UserRow>,
}

struct UserRow {
    account: Account,
    ente_label: String,
    manageable: bool,
    locked: bool,
}

impl UsersPage {
    fn selected(&self, id: &EnteId) -> bool {
        self.ente.as_ref().is_some_and(|e| e.id == *id)
    }
}

#[derive(Deserialize)]
struct UsersQuery {
    ente: Option<String>,
}

async fn users(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<UsersQuery>,
) -> Result<Response, AppError> {
    let sc = scope(&user)?;
    let filter = match sc {
        Scope::Referente(e) => Some(e),
        Scope::Admin => q
            .ente
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(parse_id)
            .transpose()?,
    };
    let now = now_ms();
    let (ente, enti, rows) = state
        .db
        .run(move |s| {
            let enti = s.list_ente_profiles()?;
            let ente = match filter {
                Some(id) => Some(
                    enti.iter()
                        .find(|e| e.id == id)
                        .cloned()
                        .ok_or_else(AppError::not_found)?,
                ),
                None => None,
            };
            let rows = s
                .list_accounts(filter)?
                .into_iter()
                .map(|a| UserRow {
                    ente_label: a
                        .ente_id
                        .and_then(|id| enti.iter().find(|e| e.id == id))
                        .map(|e| e.denominazione.clone())
                        .unwrap_or_else(|| "INPS".into()),
                    manageable: sc.may_manage(&a),
                    locked: a.locked_until_ms.is_some_and(|t| t > now),
                    account: a,
                })
                .collect::<Vec<_>>();
            Ok((ente, enti, rows))
        })
        .await?;
    let page = UsersPage {
        chrome: Chrome::new(&state, &user, "amministrazione").await,
        is_admin: sc == Scope::Admin,
        ente,
        enti: if sc == Scope::Admin { enti } else { Vec::new() },
        rows,
    };
    Ok(html(&page)?.into_response())
}

/// Values of the account form, as typed.
#[derive(Debug, Default, Deserialize)]
struct UserForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    nome: String,
    #[serde(default)]
    ruolo: String,
    #[serde(default)]
    ente: String,
    #[serde(default)]
    attivo: Option<String>,
    /// `genera` or `scegli`.
    #[serde(default)]
    password_modo: String,
    #[serde(default)]
    password: String,
}

#[derive(Template)]
#[template(path = "admin_utente.html")]
struct UserPage {
    chrome: Chrome,
    /// None: creation.
    account: Option<Account>,
    is_admin: bool,
    /// The referente's ente (fixed).
    own_ente: Option<EnteProfile>,
    enti: Vec<EnteProfile>,
    roles: Vec<Role>,
    form: UserForm,
    errors: Errors,
    locked: bool,
    min_len: usize,
}

impl UserPage {
    fn when(&self, ms: impl Millis) -> String {
        it_datetime(ms.get())
    }
    fn ente_selected(&self, id: &EnteId) -> bool {
        self.form.ente == id.to_string()
    }
}

#[derive(Template)]
#[template(path = "admin_password.html")]
struct PasswordShown {
    chrome: Chrome,
    account: Account,
    password: String,
    created: bool,
}

#[derive(Deserialize)]
struct NewUserQuery {
    ente: Option<String>,
}

/// Enti a scope can assign, and the referente's own ente.
async fn enti_for(
    state: &AppState,
    sc: Scope,
) -> Result<(Vec<EnteProfile>, Option<EnteProfile>), AppError> {
    state
        .db
        .run(move |s| match sc {
            Scope::Admin => Ok((s.list_ente_profiles()?, None)),
            Scope::Referente(e) => Ok((Vec::new(), s.ente_profile(e)?)),
        })
        .await
}

async fn user_new(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<NewUserQuery>,
) -> Result<Response, AppError> {
    let sc = scope(&user)?;
    let (enti, own_ente) = enti_for(&state, sc).await?;
    let page = UserPage {
        chrome: Chrome::new(&state, &user, "amministrazione").await,
        account: None,
        is_admin: sc == Scope::Admin,
        own_ente,
        enti,
        roles: sc.roles(),
        form: UserForm {
            ruolo: Role::Operatore.wire().into(),
            ente: q.ente.unwrap_or_default(),
            attivo: Some("si".into()),
            password_modo: "genera".into(),
            ..UserForm::default()
        },
        errors: Errors::default(),
        locked: false,
        min_len: auth::MIN_PASSWORD,
    };
    Ok(html(&page)?.into_response())
}

/// Role and ente the form asks for, checked against the scope: a referente
/// asking for another role or another ente is refused outright (403).
fn role_and_ente(
    sc: Scope,
    f: &UserForm,
    enti: &[EnteProfile],
    errors: &mut Errors,
) -> Result<Option<(Role, Option<EnteId>)>, AppError> {
    match sc {
        Scope::Referente(own) => {
            if !f.ruolo.is_empty() && f.ruolo != Role::Operatore.wire() {
                return Err(AppError::forbidden());
            }
            if !f.ente.is_empty() && f.ente != own.to_string() {
                return Err(AppError::forbidden());
            }
            Ok(Some((Role::Operatore, Some(own))))
        }
        Scope::Admin => {
            let Some(role) = Role::from_wire(&f.ruolo) else {
                errors.add("ruolo", "Ruolo", "Scegliere il ruolo dell'utente.");
                return Ok(None);
            };
            if !role.scoped_to_ente() {
                return Ok(Some((role, None)));
            }
            let ente = f
                .ente
                .parse::<EnteId>()
                .ok()
                .filter(|id| enti.iter().any(|e| e.id == *id));
            match ente {
                Some(e) => Ok(Some((role, Some(e)))),
                None => {
                    errors.add(
                        "ente",
                        "Ente",
                        format!(
                            "Un {} deve appartenere a un ente: sceglierlo dall'elenco.",
                            role.label().to_lowercase()
                        ),
                    );
                    Ok(None)
                }
            }
        }
    }
}

fn check_nome(nome: &str, errors: &mut Errors) {
    if nome.trim().is_empty() {
        errors.add(
            "nome",
            "Nome e cognome",
            "Indicare nome e cognome dell'utente.",
        );
    } else if nome.trim().chars().count() > 100 {
        errors.add(
            "nome",
            "Nome e cognome",
            "Nome e cognome possono avere al massimo 100 caratteri.",
        );
    }
}

async fn user_create(
    State(state): State<AppState>,
    user: CurrentUser,
    Form(f): Form<UserForm>,
) -> Result<Response, AppError> {
    user.check_csrf(&f.csrf)?;
    let sc = scope(&user)?;
    let (enti, own_ente) = enti_for(&state, sc).await?;
    let mut errors = Errors::default();
    let username = f.username.trim().to_lowercase();
    if username.len() < 3
        || username.len() > 50
        || !username
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
    {
        errors.add(
            "username",
            "Nome utente",
            "Il nome utente deve avere da 3 a 50 caratteri tra lettere minuscole, cifre, punto, trattino e trattino basso (es. mario.rossi).",
        );
    }
    check_nome(&f.nome, &mut errors);
    let role_ente = role_and_ente(sc, &f, &enti, &mut errors)?;
    let generated = f.password_modo != "scegli";
    let password = if generated {
        auth::generate_password()
    } else {
        if let Some(p) = auth::password_problem(&f.password, &username) {
            errors.add("password", "Password iniziale", p);
        }
        f.password.clone()
    };
    if let (true, Some((role, ente_id))) = (errors.is_empty(), role_ente) {
        let hash = auth::hash_password(&password)?;
        let nome = f.nome.trim().to_string();
        let (by, by_name) = (user.id(), user.account.username.clone());
        let uname = username.clone();
        let created = state
            .db
            .run(move |s| {
                let res = s.create_account(&NewAccount {
                    username: &uname,
                    nome: &nome,
                    role,
                    ente_id,
                    password_hash: &hash,
                    must_change: true,
                });
                match res {
                    Ok(id) => {
                        let detail = serde_json::json!({
                            "account_id": id, "username": uname, "nome": nome,
                            "ruolo": role.wire(), "ente_id": ente_id,
                            "password": if generated { "generata" } else { "scelta" },
                        });
                        s.audit(&NewAuditEvent {
                            account_id: Some(by),
                            username: Some(&by_name),
                            action: "account.creazione",
                            ente_id,
                            detail: &detail.to_string(),
                            ip: None,
                        })?;
                        Ok(s.account(id)?)
                    }
                    Err(StoreError::Conflict(_)) => Ok(None),
                    Err(e) => Err(e.into()),
                }
            })
            .await?;
        match created {
            Some(account) if generated => {
                let page = PasswordShown {
                    chrome: Chrome::new(&state, &user, "amministrazione").await,
                    account,
                    password,
                    created: true,
                };
                return Ok(html(&page)?.into_response());
            }
            Some(account) => {
                return Ok(Redirect::to(&format!(
                    "/amministrazione/utenti/{}?esito=creato",
                    account.id
                ))
                .into_response());
            }
            None => errors.add(
                "username",
                "Nome utente",
                format!("Il nome utente «{username}» è già in uso: sceglierne un altro."),
            ),
        }
    }
    let page = UserPage {
        chrome: Chrome::new(&state, &user, "amministrazione").await,
        account: None,
        is_admin: sc == Scope::Admin,
        own_ente,
        enti,
        roles: sc.roles(),
        form: UserForm {
            password: String::new(),
            ..f
        },
        errors,
        locked: false,
        min_len: auth::MIN_PASSWORD,
    };
    Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, html(&page)?).into_response())
}

/// The account `id` if the scope may manage it; 404 otherwise (same answer
/// for "does not exist" and "not yours").
async fn managed_account(state: &AppState, sc: Scope, id: AccountId) -> Result<Account, AppError> {
    let acc = state.db.run(move |s| Ok(s.account(id)?)).await?;
    acc.filter(|a| sc.may_manage(a))
        .ok_or_else(AppError::not_found)
}

async fn user_page(
    state: &AppState,
    user: &CurrentUser,
    sc: Scope,
    account: Account,
    form: Option<UserForm>,
    errors: Errors,
) -> Result<UserPage, AppError> {
    let (enti, own_ente) = enti_for(state, sc).await?;
    let form = form.unwrap_or_else(|| UserForm {
        username: account.username.clone(),
        nome: account.nome.clone(),
        ruolo: account.role.wire().into(),
        ente: account.ente_id.map(|e| e.to_string()).unwrap_or_default(),
        attivo: account.attivo.then(|| "si".into()),
        ..UserForm::default()
    });
    Ok(UserPage {
        chrome: Chrome::new(state, user, "amministrazione").await,
        locked: account.locked_until_ms.is_some_and(|t| t > now_ms()),
        account: Some(account),
        is_admin: sc == Scope::Admin,
        own_ente,
        enti,
        roles: sc.roles(),
        form,
        errors,
        min_len: auth::MIN_PASSWORD,
    })
}

async fn user_detail(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Query(q): Query<EsitoQuery>,
) -> Result<Response, AppError> {
    let sc = scope(&user)?;
    let account = managed_account(&state, sc, parse_id(&id)?).await?;
    let mut page = user_page(&state, &user, sc, account, None, Errors::default()).await?;
    match q.esito.as_deref() {
        Some("creato") => {
            page.chrome = page.chrome.with_flash(
                "success",
                "Utente creato. Al primo accesso dovrà cambiare la password.",
            )
        }
        Some("modificato") => page.chrome = page.chrome.with_flash("success", "Utente aggiornato."),
        _ => {}
    }
    Ok(html(&page)?.into_response())
}

async fn user_update(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Form(f): Form<UserForm>,
) -> Result<Response, AppError> {
    user.check_csrf(&f.csrf)?;
    let sc = scope(&user)?;
    let account = managed_account(&state, sc, parse_id(&id)?).await?;
    let (enti, _) = enti_for(&state, sc).await?;
    let mut errors = Errors::default();
    check_nome(&f.nome, &mut errors);
    let role_ente = role_and_ente(sc, &f, &enti, &mut errors)?;
    let attivo = f.attivo.is_some();
    if account.id == user.id() {
        if !attivo {
            errors.add(
                "attivo",
                "Stato",
                "Non è possibile disattivare il proprio account.",
            );
        }
        if role_ente.is_some_and(|(r, _)| r != account.role) {
            errors.add(
                "ruolo",
                "Ruolo",
                "Non è possibile cambiare il proprio ruolo: chiedere a un altro amministratore.",
            );
        }
    }
    if let (true, Some((role, ente_id))) = (errors.is_empty(), role_ente) {
        let nome = f.nome.trim().to_string();
        let (by, by_name) = (user.id(), user.account.username.clone());
        let before = account.clone();
        state
            .db
            .run(move |s| {
                s.update_account(before.id, &nome, role, ente_id, attivo)?;
                let detail = serde_json::json!({
                    "account_id": before.id, "username": before.username,
                    "prima": {"nome": before.nome, "ruolo": before.role.wire(),
                              "ente_id": before.ente_id, "attivo": before.attivo},
                    "dopo": {"nome": nome, "ruolo": role.wire(),
                             "ente_id": ente_id, "attivo": attivo},
                });
                s.audit(&NewAuditEvent {
                    account_id: Some(by),
                    username: Some(&by_name),
                    action: "account.modifica",
                    ente_id: ente_id.or(before.ente_id),
                    detail: &detail.to_string(),
                    ip: None,
                })?;
                Ok(())
            })
            .await?;
        return Ok(Redirect::to(&format!(
            "/amministrazione/utenti/{}?esito=modificato",
            account.id
        ))
        .into_response());
    }
    let form = UserForm {
        username: account.username.clone(),
        ..f
    };
    let page = user_page(&state, &user, sc, account, Some(form), errors).await?;
    Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, html(&page)?).into_response())
}

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

async fn user_reset(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Form(f): Form<CsrfOnly>,
) -> Result<Response, AppError> {
    user.check_csrf(&f.csrf)?;
    let sc = scope(&user)?;
    let account = managed_account(&state, sc, parse_id(&id)?).await?;
    if account.id == user.id() {
        return Err(AppError::bad_request(
            "Per la propria password usare la pagina «Cambia password».",
        ));
    }
    let password = auth::generate_password();
    let hash = auth::hash_password(&password)?;
    let (by, by_name) = (user.id(), user.account.username.clone());
    let target = account.clone();
    let account = state
        .db
        .run(move |s| {
            // Also unlocks the account and ends its sessions.
            s.set_password(target.id, &hash, true)?;
            let detail = serde_json::json!({
                "account_id": target.id, "username": target.username,
            });
            s.audit(&NewAuditEvent {
                account_id: Some(by),
                username: Some(&by_name),
                action: "account.reimposta_password",
                ente_id: target.ente_id,
                detail: &detail.to_string(),
                ip: None,
            })?;
            s.account(target.id)?.ok_or_else(AppError::not_found)
        })
        .await?;
    let page = PasswordShown {
        chrome: Chrome::new(&state, &user, "amministrazione").await,
        account,
        password,
        created: false,
    };
    Ok(html(&page)?.into_response())
}
