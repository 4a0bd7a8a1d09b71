//! The S4F2 frame format: placeholder until the codec lands.
