//! Trasmissione flussi: uploads processed as background jobs, the list of
//! the ente's transmissions, receipts.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use casellario_ingest::Progress;
use casellario_store::EnteId;
use casellario_store::portal::AccountId;

use crate::AppState;

/// Uploads being processed. A job lives in memory: after a restart the
/// flow is either committed (and listed) or not stored at all.
#[derive(Clone, Default)]
pub struct Jobs {
    inner: Arc<JobsInner>,
}

#[derive(Default)]
struct JobsInner {
    next: AtomicU64,
    jobs: Mutex<HashMap<u64, Arc<Job>>>,
}

pub struct Job {
    pub id: u64,
    pub ente_id: EnteId,
    pub account_id: AccountId,
    pub source_name: String,
    pub total_bytes: u64,
    pub progress: Progress,
    pub started: Instant,
    pub state: Mutex<JobState>,
}

#[derive(Clone, Debug)]
pub enum JobState {
    Running,
    /// The receipt's page.
    Done(String),
    /// Code and Italian message.
    Failed(&'static str, String),
}

impl Jobs {
    pub fn start(
        &self,
        ente_id: EnteId,
        account_id: AccountId,
        source_name: String,
        total_bytes: u64,
    ) -> Arc<Job> {
        let id = self.inner.next.fetch_add(1, Ordering::Relaxed) + 1;
        let job = Arc::new(Job {
            id,
            ente_id,
            account_id,
            source_name,
            total_bytes,
            progress: Progress::default(),
            started: Instant::now(),
            state: Mutex::new(JobState::Running),
        });
        if let Ok(mut m) = self.inner.jobs.lock() {
            // Finished jobs older than an hour are forgotten.
            m.retain(|_, j| {
                j.started.elapsed().as_secs() < 3600 || matches!(j.state(), JobState::Running)
            });
            m.insert(id, job.clone());
        }
        job
    }

    /// The job, if it exists and belongs to `ente`.
    pub fn get(&self, id: u64, ente: EnteId) -> Option<Arc<Job>> {
        let m = self.inner.jobs.lock().ok()?;
        m.get(&id).filter(|j| j.ente_id == ente).cloned()
    }
}

impl Job {
    pub fn state(&self) -> JobState {
        self.state
            .lock()
            .map(|s| s.clone())
            .unwrap_or(JobState::Failed(
                "ERRORE_INTERNO",
                "stato non leggibile".into(),
            ))
    }
    pub fn finish(&self, s: JobState) {
        if let Ok(mut st) = self.state.lock() {
            *st = s;
        }
    }
    pub fn bytes_done(&self) -> u64 {
        self.progress.bytes.load(Ordering::Relaxed)
    }
    pub fn records_done(&self) -> u64 {
        self.progress.records.load(Ordering::Relaxed)
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
}
