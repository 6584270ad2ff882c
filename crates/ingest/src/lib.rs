//! casellario-ingest
