//! The poller inside `casellario serve`: every `waas_tick_ms` it looks for
//! endpoints that are due (enabled, interval elapsed since the last run,
//! not in backoff after a fault) and polls each as its own task, at most
//! `waas_max_concurrency` at once, each bounded by an overall deadline,
//! so a comune that hangs never delays the others.

use std::sync::Arc;
use std::time::Duration;

use casellario_store::waas::PollTrigger;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::AppState;
use crate::fmt::now_ms;

/// Runs until `stop` turns true; then waits (bounded) for running polls.
pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    let cfg = Arc::clone(&state.cfg);
    let permits = Arc::new(Semaphore::new(cfg.waas_max_concurrency.max(1)));
    let mut tasks = JoinSet::new();
    let mut tick = tokio::time::interval(Duration::from_millis(cfg.waas_tick_ms.max(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tracing::info!(
        tick_ms = cfg.waas_tick_ms,
        concorrenza = cfg.waas_max_concurrency,
        "poller WaaS avviato"
    );
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        if *stop.borrow() {
            break;
        }
        while tasks.try_join_next().is_some() {}
        let due = match due_enti(&state).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(errore = %e, "poller WaaS: lettura degli endpoint non riuscita");
                continue;
            }
        };
        for codice in due {
            // A permit per running poll: the rest wait for the next tick.
            let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                break;
            };
            let st = state.clone();
            let deadline = Duration::from_millis(cfg.waas_poll_deadline_ms.max(1))
                + Duration::from_millis(cfg.waas_timeout_ms)
                + Duration::from_secs(5);
            tasks.spawn(async move {
                let _permit = permit;
                // poll_ente bounds itself; this outer fence only catches a
                // poll stuck beyond every timeout (it then records nothing
                // more: what it stored is consistent, page by page).
                match tokio::time::timeout(deadline, super::poll_ente(&st, &codice, PollTrigger::Scheduled)).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::debug!(ente = %codice, codice = e.code(), "poll WaaS non avviato: {e}"),
                    Err(_) => tracing::error!(ente = %codice, "poll WaaS interrotto: oltre la durata massima"),
                }
            });
        }
    }
    tracing::info!("poller WaaS: arresto, attendo i poll in corso");
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(10), drain)
        .await
        .is_err()
    {
        tasks.abort_all();
    }
}

/// Enti whose endpoint is due now.
async fn due_enti(state: &AppState) -> Result<Vec<String>, crate::AppError> {
    let waas = state.waas.clone();
    state
        .db
        .run(move |s| {
            let now = now_ms();
            let mut due = Vec::new();
            for e in s.waas_endpoints()? {
                if !e.enabled || waas.is_running(e.ente_id) {
                    continue;
                }
                let ready = match s.waas_poll_runs(e.ente_id, 1)?.pop() {
                    None => true,
                    // After a fault: the backoff (or Retry-After) decides.
                    Some(r) if r.fault_code.is_some() => r.not_before_ms.is_none_or(|t| now >= t),
                    Some(r) => {
                        now >= r
                            .started_at_ms
                            .saturating_add(i64::from(e.interval_secs) * 1000)
                    }
                };
                if ready {
                    due.push(e.ente_codice);
                }
            }
            Ok(due)
        })
        .await
}
