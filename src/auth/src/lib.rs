//! SigV4 verification: placeholder until the crate lands.
