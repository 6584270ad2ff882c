//! The register as the server uses it: a small pool of SQLite connections,
//! each used on a blocking thread (SQLite calls are synchronous), and one
//! writer lane so that flows are ingested one at a time, in arrival order,
//! instead of contending for SQLite's write lock.

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
    writer: tokio::sync::Mutex<()>,
}

/// Connections kept open when idle.
const MAX_IDLE: usize = 8;

impl Db {
    /// Opens (creating and migrating) the database.
    pub fn open(path: &Path) -> Result<Db, StoreError> {
        let first = Store::open(path)?;
        Ok(Db {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                idle: Mutex::new(vec![first]),
                writer: tokio::sync::Mutex::new(()),
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

    /// Like [`Db::run`], holding the writer lane: for everything that
    /// ingests a flow.
    pub async fn write<T, F>(&self, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> Result<T, AppError> + Send + 'static,
    {
        let _lane = self.inner.writer.lock().await;
        self.run(f).await
    }
}
