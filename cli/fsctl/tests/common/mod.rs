//! Running the `fsctl` binary from the end-to-end tests.

use std::process::Command;

/// Runs `fsctl args...`: whether it succeeded, and its stdout then stderr.
pub fn fsctl(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_fsctl"))
        .args(args)
        .output()
        .expect("run fsctl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// [`fsctl`] on a blocking thread, for tests running on the tokio runtime.
#[allow(dead_code)]
pub async fn fsctl_async(args: Vec<String>) -> (bool, String) {
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        fsctl(&refs)
    })
    .await
    .expect("fsctl task")
}
