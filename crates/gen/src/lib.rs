//! casellario-gen
