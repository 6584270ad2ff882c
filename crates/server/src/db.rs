//! The register as the server uses it: a small pool of SQLite connections
//! for reads (each used on a blocking thread: SQLite calls are synchronous),
//! and one writer thread with its own connection, so that flows are ingested
//! one at a time, in arrival order, instead of contending for SQLite's write
//! lock.
//!
//! The writer group-commits: small jobs (one-record flows of the machine
//! channels, forms) that queued up while it was busy run together in one
//! transaction ([`Store::batch`]), each in its own savepoint, and are
//! answered after the one durable COMMIT. A COMMIT costs an fsync (~3–4 ms
//! on these disks): one per request would cap the register at a few hundred
//! submissions per second.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use casellario_store::{Store, StoreError};

use crate::error::AppError;

#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    idle: Mutex<Vec<Store>>,
    jobs: crossbeam_channel::Sender<Job>,
}

/// Connections kept open when idle.
const MAX_IDLE: usize = 8;

/// Most small jobs committed together.
const MAX_GROUP: usize = 256;

/// Delivers a job's result once its transaction is settled: `Ok` when
/// committed, the commit's error otherwise.
type Completion = Box<dyn FnOnce(Result<(), AppError>) + Send>;

/// Runs on the writer's connection. `None`: the job failed (its result is
/// already delivered) and what it wrote must be rolled back.
type JobFn = Box<dyn FnOnce(&mut Store) -> Option<Completion> + Send>;

struct Job {
    run: JobFn,
    /// May share a transaction with other small jobs.
    small: bool,
}

impl Db {
    /// Opens (creating and migrating) the database and starts the writer.
    pub fn open(path: &Path) -> Result<Db, StoreError> {
        let first = Store::open(path)?;
        let writer = Store::open(path)?;
        let (tx, rx) = crossbeam_channel::unbounded();
        std::thread::Builder::new()
            .name("casellario-writer".into())
            .spawn(move || writer_loop(writer, rx))
            .map_err(|e| StoreError::Invalid(format!("writer thread: {e}")))?;
        Ok(Db {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                idle: Mutex::new(vec![first]),
                jobs: tx,
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn checkout(&self) -> Result<Store, StoreError> {
        let pooled = self.inner.idle.lock().ok().and_then(|mut v| v.pop());
        match pooled {
            Some(s) => Ok(s),
            None => Store::open(&self.inner.path),
        }
    }

    fn checkin(&self, s: Store) {
        if let Ok(mut v) = self.inner.idle.lock()
            && v.len() < MAX_IDLE
        {
            v.push(s);
        }
    }

    /// Runs `f` on a pooled connection on a blocking thread.
    pub async fn run<T, F>(&self, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> Result<T, AppError> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut store = db.checkout().map_err(AppError::from)?;
            let out = f(&mut store);
            db.checkin(store);
            out
        })
        .await
        .map_err(|e| AppError::internal(format!("attività interrotta: {e}")))?
    }

    /// Runs `f` on the writer, alone in its own transaction(s): for
    /// everything that ingests a flow of any size (uploads).
    pub async fn write<T, F>(&self, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> Result<T, AppError> + Send + 'static,
    {
        self.submit_job(f, false).await
    }

    /// Runs `f` on the writer inside a transaction it may share with other
    /// small jobs (group commit); answered once that transaction is durably
    /// committed. For small writes only (one-record flows, forms): a job's
    /// savepoint journals in memory every page it changes.
    pub async fn write_small<T, F>(&self, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> Result<T, AppError> + Send + 'static,
    {
        self.submit_job(f, true).await
    }

    async fn submit_job<T, F>(&self, f: F, small: bool) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> Result<T, AppError> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel::<Result<T, AppError>>();
        let run = Box::new(move |store: &mut Store| -> Option<Completion> {
            match f(store) {
                Ok(v) => Some(Box::new(move |settled: Result<(), AppError>| {
                    let _ = tx.send(settled.map(|()| v));
                })),
                Err(e) => {
                    let _ = tx.send(Err(e));
                    None
                }
            }
        });
        self.inner
            .jobs
            .send(Job { run, small })
            .map_err(|_| AppError::internal("scrittore del registro fermo"))?;
        rx.await
            .map_err(|_| AppError::internal("attività di scrittura interrotta"))?
    }
}

/// Runs a job, turning a panic into a failed job (its caller gets an
/// internal error when the sender is dropped) so the writer keeps serving.
fn run_job(job: Job, store: &mut Store) -> Option<Completion> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| (job.run)(store))) {
        Ok(done) => done,
        Err(_) => {
            tracing::error!("un'attività di scrittura è terminata in modo anomalo");
            None
        }
    }
}

fn writer_loop(mut store: Store, rx: crossbeam_channel::Receiver<Job>) {
    let mut pending: Option<Job> = None;
    loop {
        let first = match pending.take() {
            Some(j) => j,
            None => match rx.recv() {
                Ok(j) => j,
                Err(_) => return,
            },
        };
        if !first.small {
            // Alone: the job manages its own transactions (a big flow is
            // one transaction of its own).
            if let Some(done) = run_job(first, &mut store) {
                done(Ok(()));
            }
            continue;
        }
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(j) if j.small => group.push(j),
                Ok(j) => {
                    pending = Some(j);
                    break;
                }
                Err(_) => break,
            }
        }
        let mut done: Vec<Completion> = Vec::with_capacity(group.len());
        let settled = store.batch(|s| -> Result<(), StoreError> {
            for job in group {
                // Each job in a savepoint: a failed one is undone alone.
                let r = s.batch(|s| match run_job(job, s) {
                    Some(c) => Ok(c),
                    None => Err(StoreError::Invalid("job failed".into())),
                });
                if let Ok(c) = r {
                    done.push(c);
                }
            }
            Ok(())
        });
        match settled {
            Ok(()) => done.into_iter().for_each(|c| c(Ok(()))),
            Err(e) => {
                tracing::error!(errore = %e, "commit di un gruppo di scritture fallito");
                for c in done {
                    c(Err(AppError::from(StoreError::Invalid(format!(
                        "registrazione non riuscita: {e}"
                    )))));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Concurrent small writes are grouped, each answered after the commit;
    /// a failing or panicking job is undone alone and the writer keeps
    /// serving.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn small_writes_group_commit_and_fail_alone() {
        use casellario_domain::access::EnteKind;
        use casellario_store::portal::EnteAttrs;
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("r.db")).unwrap();
        let mut tasks = Vec::new();
        for n in 0..200u32 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                db.write_small(move |s| {
                    let attrs = EnteAttrs {
                        denominazione: "Comune di prova",
                        belfiore: "H501",
                        tipo: EnteKind::Comune,
                        attivo: true,
                    };
                    s.create_ente(&format!("E{n:03}"), &attrs, None)?;
                    if n % 50 == 7 {
                        return Err(AppError::internal("rifiutato"));
                    }
                    if n == 99 {
                        panic!("attività difettosa");
                    }
                    Ok(n)
                })
                .await
            }));
        }
        let mut expected = Vec::new();
        for (n, t) in tasks.into_iter().enumerate() {
            let r = t.await.unwrap();
            if n % 50 == 7 || n == 99 {
                assert!(r.is_err(), "job {n}");
            } else {
                assert_eq!(r.unwrap(), n as u32);
                expected.push(format!("E{n:03}"));
            }
        }
        let mut stored: Vec<String> = db
            .run(|s| Ok(s.list_ente_profiles()?))
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.codice)
            .collect();
        stored.sort();
        assert_eq!(stored, expected, "exactly the successful jobs are stored");
        // Still serving, small and alone.
        assert_eq!(db.write_small(|_| Ok(1)).await.unwrap(), 1);
        assert_eq!(db.write(|_| Ok(2)).await.unwrap(), 2);
    }
}
