//! casellario-formats
