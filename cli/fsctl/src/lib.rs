//! What of `fsctl` other programs use: the spec file format (the fuzz
//! targets parse specs as `fsctl apply` does).

pub mod spec;
