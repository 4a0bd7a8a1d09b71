//! The metadata store: placeholder until it lands.
