//! The feature store's protobuf contracts (`proto/featurestore/v1`) as Rust
//! types, gRPC clients and servers, and the single place where error codes
//! become gRPC statuses.
//!
//! The generated code is committed under `src/generated/` so that readers can
//! browse it and builds need no code generation; `featurestore-proto-codegen`
//! regenerates it (`make proto`) and its test fails when the two differ.

pub mod error;

/// Version 1 of the contracts.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod v1 {
    include!("generated/featurestore.v1.rs");

    /// Encoded `FileDescriptorSet` of every v1 file, served by gRPC reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!("generated/featurestore_v1_descriptor.bin");
}

pub use error::{ErrorCode, ServiceError};
