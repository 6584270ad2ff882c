//! Cruscotto: what an ente has transmitted and what is left to fix; for
//! INPS roles, the enti at a glance.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use casellario_domain::access::Permission;
use casellario_store::portal::{EnteProfile, EnteStats, Rejection, Transmission};

use crate::auth::CurrentUser;
use crate::error::AppError;
use crate::fmt::{Millis, Num, it_datetime, it_num};
use crate::{AppState, Chrome, html};

pub fn routes() -> Router<AppState> {
    Router::new().route("/", get(home))
}

/// Rejections shown on the dashboard: the last 30 days.
const OPEN_DAYS: i64 = 30;

#[derive(Template)]
#[template(path = "home_ente.html")]
struct EnteHome {
    chrome: Chrome,
    ente: EnteProfile,
    stats: EnteStats,
    last: Option<String>,
    recent: Vec<Transmission>,
    rejections: Vec<Rejection>,
    open_days: i64,
}

#[derive(Template)]
#[template(path = "home_inps.html")]
struct InpsHome {
    chrome: Chrome,
    rows: Vec<(EnteProfile, EnteStats)>,
    totals: EnteStats,
    show_links: bool,
}

impl EnteHome {
    fn n(&self, v: impl Num) -> String {
        it_num(v.get())
    }
    fn when(&self, ms: impl Millis) -> String {
        it_datetime(ms.get())
    }
}

impl InpsHome {
    fn n(&self, v: impl Num) -> String {
        it_num(v.get())
    }
    fn when(&self, ms: &Option<i64>) -> String {
        ms.map(it_datetime).unwrap_or_else(|| "—".into())
    }
}

async fn home(State(state): State<AppState>, user: CurrentUser) -> Result<Response, AppError> {
    if let Some(ente_id) = user.account.ente_id {
        let since = crate::fmt::now_ms() - OPEN_DAYS * 86_400_000;
        let (ente, stats, recent, rejections) = state
            .db
            .run(move |s| {
                let ente = s.ente_profile(ente_id)?.ok_or_else(AppError::not_found)?;
                Ok((
                    ente,
                    s.ente_stats(ente_id)?,
                    s.list_transmissions(ente_id, 5, 0)?,
                    s.recent_rejections(ente_id, since, 20)?,
                ))
            })
            .await?;
        let page = EnteHome {
            chrome: Chrome::new(&state, &user, "cruscotto").await,
            last: stats.last_flow_at_ms.map(it_datetime),
            ente,
            stats,
            recent,
            rejections,
            open_days: OPEN_DAYS,
        };
        return Ok(html(&page)?.into_response());
    }
    let rows = state
        .db
        .run(|s| {
            let stats = s.all_ente_stats()?;
            let mut rows = Vec::new();
            for e in s.list_ente_profiles()? {
                let st = stats.get(&e.id).copied().unwrap_or_default();
                rows.push((e, st));
            }
            Ok(rows)
        })
        .await?;
    let mut totals = EnteStats::default();
    for (_, s) in &rows {
        totals.flows += s.flows;
        totals.records += s.records;
        totals.accettati += s.accettati;
        totals.duplicati += s.duplicati;
        totals.scartati += s.scartati;
        totals.avvisi += s.avvisi;
        totals.live_ps += s.live_ps;
        totals.live_sinba += s.live_sinba;
        totals.last_flow_at_ms = totals.last_flow_at_ms.max(s.last_flow_at_ms);
    }
    let page = InpsHome {
        chrome: Chrome::new(&state, &user, "cruscotto").await,
        show_links: user.can(Permission::ManageEnti),
        rows,
        totals,
    };
    Ok(html(&page)?.into_response())
}
