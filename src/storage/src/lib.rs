//! Erasure-coded volumes: placeholder until storage lands.
