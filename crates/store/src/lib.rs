//! casellario-store
