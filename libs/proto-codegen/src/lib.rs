//! Code generation for `featurestore-proto`: `proto/featurestore/v1/*.proto`
//! to `libs/proto/src/generated/`. The committed output is checked by this
//! crate's test, so generated code never silently differs from the contract.

use std::path::{Path, PathBuf};

/// Every v1 contract file, compiled together.
pub const FILES: &[&str] = &[
    "types.proto",
    "catalog.proto",
    "registry.proto",
    "ingestion.proto",
    "serving.proto",
    "offline.proto",
    "materialization.proto",
];

/// The files written to the output directory.
pub const OUTPUTS: &[&str] = &["featurestore.v1.rs", "featurestore_v1_descriptor.bin"];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where the committed generated code lives.
pub fn committed_dir() -> PathBuf {
    workspace_root().join("libs/proto/src/generated")
}

/// Runs protoc (via tonic-prost-build) and writes [`OUTPUTS`] to `out_dir`.
pub fn generate(out_dir: &Path) -> std::io::Result<()> {
    let root = workspace_root().join("proto");
    let protos: Vec<PathBuf> = FILES
        .iter()
        .map(|f| root.join("featurestore/v1").join(f))
        .collect();
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .out_dir(out_dir)
        .file_descriptor_set_path(out_dir.join("featurestore_v1_descriptor.bin"))
        .compile_protos(&protos, &[root])
}

/// Names of the committed outputs that differ from a fresh generation.
pub fn drifted() -> std::io::Result<Vec<&'static str>> {
    let fresh = tempfile::tempdir()?;
    generate(fresh.path())?;
    let mut out = Vec::new();
    for name in OUTPUTS {
        let want = std::fs::read(fresh.path().join(name))?;
        let have = std::fs::read(committed_dir().join(name)).unwrap_or_default();
        if want != have {
            out.push(*name);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn generated_code_matches_proto_files() {
        let drifted = super::drifted().expect("protoc failed: is protobuf-compiler installed?");
        assert!(
            drifted.is_empty(),
            "libs/proto/src/generated/{drifted:?} out of date with proto/: run `make proto` and commit"
        );
    }
}
