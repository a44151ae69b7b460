//! `proto-codegen` rewrites `libs/proto/src/generated/`; `proto-codegen
//! --check` exits non-zero when it is out of date.

fn main() -> std::io::Result<()> {
    if std::env::args().any(|a| a == "--check") {
        let drifted = featurestore_proto_codegen::drifted()?;
        if !drifted.is_empty() {
            eprintln!("out of date with proto/: {drifted:?}; run `make proto`");
            std::process::exit(1);
        }
        println!("generated code matches proto/");
        return Ok(());
    }
    let dir = featurestore_proto_codegen::committed_dir();
    featurestore_proto_codegen::generate(&dir)?;
    println!("wrote {}", dir.display());
    Ok(())
}
