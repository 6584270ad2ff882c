//! Configuration of `casellario serve`: defaults in code, then an optional
//! TOML file, then `CASELLARIO_*` environment variables (figment).

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Database file (created and migrated when missing).
    pub db: PathBuf,
    /// Send cookies with `Secure` and the `__Host-` prefix (behind HTTPS).
    pub cookie_secure: bool,
    /// Session lifetime, in minutes.
    pub session_minutes: u32,
    /// Failed logins before an account is locked.
    pub lockout_threshold: u32,
    /// How long a locked account stays locked, in minutes.
    pub lockout_minutes: u32,
    /// Login attempts per minute allowed from one address.
    pub login_per_minute: u32,
    /// Largest upload accepted, in bytes.
    pub max_upload_bytes: u64,
    /// Largest form or other request body, in bytes.
    pub max_form_bytes: usize,
    /// Validation profile of the portal: "strict" or "compat".
    pub profile: String,
    /// Directory for uploads being processed (default: the system's temp dir).
    pub spool_dir: Option<PathBuf>,
    /// How long an upload waits for its receipt before answering with the
    /// progress page instead, in milliseconds.
    pub receipt_wait_ms: u64,
    /// Run the WaaS poller inside `serve`.
    pub waas_enabled: bool,
    /// How often the poller looks for comuni due, in milliseconds.
    pub waas_tick_ms: u64,
    /// Timeout of one request to a comune (body included), in milliseconds.
    pub waas_timeout_ms: u64,
    /// Timeout of opening a connection to a comune, in milliseconds.
    pub waas_connect_timeout_ms: u64,
    /// Longest duration of one poll of one comune, in milliseconds.
    pub waas_poll_deadline_ms: u64,
    /// Comuni polled at the same time.
    pub waas_max_concurrency: usize,
    /// First wait after a failure (poll or delivery of outcomes), in ms;
    /// it doubles at every further failure, with jitter.
    pub waas_backoff_base_ms: u64,
    /// Longest wait after failures, in milliseconds.
    pub waas_backoff_max_ms: u64,
    /// Largest page of `GET /flussi` read, in bytes.
    pub waas_max_page_bytes: u64,
    /// Lifetime of an API access token, in seconds.
    pub api_token_seconds: u64,
    /// Largest request body of the cooperation API, in bytes.
    pub api_max_body_bytes: usize,
    /// API requests per second allowed to one client (sustained).
    pub api_rate_per_second: u32,
    /// API requests one client may make in a burst above the rate.
    pub api_rate_burst: u32,
    /// Public base URL of the server, for the OpenAPI document's `servers`
    /// and the token URL (default: `http://<listen>`).
    pub public_url: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            db: PathBuf::from("casellario.db"),
            cookie_secure: false,
            session_minutes: 8 * 60,
            lockout_threshold: 5,
            lockout_minutes: 15,
            login_per_minute: 10,
            max_upload_bytes: 4 << 30,
            max_form_bytes: 256 << 10,
            profile: "strict".into(),
            spool_dir: None,
            receipt_wait_ms: 8000,
            waas_enabled: true,
            waas_tick_ms: 1000,
            waas_timeout_ms: 30_000,
            waas_connect_timeout_ms: 10_000,
            waas_poll_deadline_ms: 10 * 60_000,
            waas_max_concurrency: 8,
            waas_backoff_base_ms: 5_000,
            waas_backoff_max_ms: 60 * 60_000,
            waas_max_page_bytes: 64 << 20,
            api_token_seconds: 600,
            api_max_body_bytes: 1 << 20,
            api_rate_per_second: 50,
            api_rate_burst: 100,
            public_url: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("configurazione non valida: {0}")]
pub struct ConfigError(String);

impl Config {
    /// Defaults → `file` (if given, or `casellario.toml` when present) →
    /// environment (`CASELLARIO_LISTEN`, `CASELLARIO_DB`, ...).
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(f) => {
                if !f.exists() {
                    return Err(ConfigError(format!("file {} non trovato", f.display())));
                }
                fig = fig.merge(Toml::file(f));
            }
            None => fig = fig.merge(Toml::file("casellario.toml")),
        }
        // Variables the server does not read (CASELLARIO_ADMIN_PASSWORD, the
        // test switches) are kept out so deny_unknown_fields stays useful.
        let known = [
            "LISTEN",
            "DB",
            "COOKIE_SECURE",
            "SESSION_MINUTES",
            "LOCKOUT_THRESHOLD",
            "LOCKOUT_MINUTES",
            "LOGIN_PER_MINUTE",
            "MAX_UPLOAD_BYTES",
            "MAX_FORM_BYTES",
            "PROFILE",
            "SPOOL_DIR",
            "RECEIPT_WAIT_MS",
            "WAAS_ENABLED",
            "WAAS_TICK_MS",
            "WAAS_TIMEOUT_MS",
            "WAAS_CONNECT_TIMEOUT_MS",
            "WAAS_POLL_DEADLINE_MS",
            "WAAS_MAX_CONCURRENCY",
            "WAAS_BACKOFF_BASE_MS",
            "WAAS_BACKOFF_MAX_MS",
            "WAAS_MAX_PAGE_BYTES",
            "API_TOKEN_SECONDS",
            "API_MAX_BODY_BYTES",
            "API_RATE_PER_SECOND",
            "API_RATE_BURST",
            "PUBLIC_URL",
        ];
        fig = fig.merge(
            Env::prefixed("CASELLARIO_")
                .filter(move |k| known.iter().any(|n| k.as_str().eq_ignore_ascii_case(n))),
        );
        let cfg: Config = fig.extract().map_err(|e| ConfigError(e.to_string()))?;
        cfg.check()?;
        Ok(cfg)
    }

    fn check(&self) -> Result<(), ConfigError> {
        if casellario_domain::Profile::from_wire(&self.profile).is_none() {
            return Err(ConfigError(format!(
                "profile deve essere \"strict\" o \"compat\", non {:?}",
                self.profile
            )));
        }
        if self.session_minutes == 0 || self.login_per_minute == 0 || self.lockout_threshold == 0 {
            return Err(ConfigError(
                "session_minutes, login_per_minute e lockout_threshold devono essere > 0".into(),
            ));
        }
        if self.waas_tick_ms == 0
            || self.waas_timeout_ms == 0
            || self.waas_connect_timeout_ms == 0
            || self.waas_poll_deadline_ms == 0
            || self.waas_max_concurrency == 0
            || self.waas_backoff_base_ms == 0
            || self.waas_max_page_bytes == 0
        {
            return Err(ConfigError(
                "waas_tick_ms, waas_timeout_ms, waas_connect_timeout_ms, waas_poll_deadline_ms, \
                 waas_max_concurrency, waas_backoff_base_ms e waas_max_page_bytes devono essere > 0"
                    .into(),
            ));
        }
        if self.waas_backoff_max_ms < self.waas_backoff_base_ms {
            return Err(ConfigError(
                "waas_backoff_max_ms non può essere minore di waas_backoff_base_ms".into(),
            ));
        }
        if self.api_token_seconds == 0
            || self.api_token_seconds > 86_400
            || self.api_max_body_bytes == 0
            || self.api_rate_per_second == 0
            || self.api_rate_burst == 0
        {
            return Err(ConfigError(
                "api_token_seconds (1..=86400), api_max_body_bytes, api_rate_per_second e \
                 api_rate_burst devono essere > 0"
                    .into(),
            ));
        }
        if let Some(u) = &self.public_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            return Err(ConfigError(format!(
                "public_url deve iniziare con http:// o https://, non {u:?}"
            )));
        }
        Ok(())
    }

    /// Base URL clients reach the server at, without a trailing slash.
    pub fn base_url(&self) -> String {
        match &self.public_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.listen),
        }
    }

    pub fn profile(&self) -> casellario_domain::Profile {
        casellario_domain::Profile::from_wire(&self.profile)
            .unwrap_or(casellario_domain::Profile::Strict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_listen_on_loopback_8080() {
        let c = Config::default();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert!(c.check().is_ok());
    }

    #[test]
    fn file_overrides_defaults_and_unknown_keys_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "listen = \"127.0.0.1:9999\"\nprofile = \"compat\"\n").expect("write");
        let c = Config::load(Some(&f)).expect("load");
        assert_eq!(c.listen.port(), 9999);
        assert_eq!(c.profile(), casellario_domain::Profile::Compat);
        std::fs::write(&f, "porta = 1\n").expect("write");
        assert!(Config::load(Some(&f)).is_err());
        std::fs::write(&f, "profile = \"lax\"\n").expect("write");
        assert!(Config::load(Some(&f)).is_err());
    }

    #[test]
    fn waas_keys_load_and_are_checked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("c.toml");
        let d = Config::default();
        assert!(d.waas_enabled);
        assert_eq!(d.waas_max_page_bytes, 64 << 20);
        std::fs::write(
            &f,
            "waas_enabled = false\nwaas_tick_ms = 250\nwaas_timeout_ms = 1500\n\
             waas_max_concurrency = 3\nwaas_backoff_base_ms = 100\nwaas_backoff_max_ms = 900\n\
             waas_max_page_bytes = 1048576\n",
        )
        .expect("write");
        let c = Config::load(Some(&f)).expect("load");
        assert!(!c.waas_enabled);
        assert_eq!(
            (c.waas_tick_ms, c.waas_timeout_ms, c.waas_max_concurrency),
            (250, 1500, 3)
        );
        assert_eq!((c.waas_backoff_base_ms, c.waas_backoff_max_ms), (100, 900));
        assert_eq!(c.waas_max_page_bytes, 1 << 20);
        std::fs::write(&f, "waas_max_concurrency = 0\n").expect("write");
        assert!(Config::load(Some(&f)).is_err());
        std::fs::write(&f, "waas_backoff_base_ms = 10\nwaas_backoff_max_ms = 5\n").expect("write");
        assert!(Config::load(Some(&f)).is_err());
    }

    #[test]
    fn api_keys_have_defaults_and_are_checked() {
        let c = Config::default();
        assert_eq!(c.api_token_seconds, 600);
        assert_eq!(c.api_max_body_bytes, 1 << 20);
        assert_eq!((c.api_rate_per_second, c.api_rate_burst), (50, 100));
        assert_eq!(c.base_url(), "http://127.0.0.1:8080");
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("c.toml");
        std::fs::write(
            &f,
            "api_token_seconds = 60\napi_rate_per_second = 5\npublic_url = \"https://casellario.example/\"\n",
        )
        .expect("write");
        let c = Config::load(Some(&f)).expect("load");
        assert_eq!(c.api_token_seconds, 60);
        assert_eq!(c.api_rate_per_second, 5);
        assert_eq!(c.base_url(), "https://casellario.example");
        for bad in [
            "api_token_seconds = 0\n",
            "api_rate_burst = 0\n",
            "public_url = \"ftp://x\"\n",
        ] {
            std::fs::write(&f, bad).expect("write");
            assert!(Config::load(Some(&f)).is_err(), "{bad}");
        }
    }
}
