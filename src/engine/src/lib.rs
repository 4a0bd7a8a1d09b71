//! The object layer: placeholder until it lands.
