//! Graceful shutdown: one token cancelled on SIGTERM or Ctrl-C; servers stop
//! accepting, long-lived streams end, in-flight requests drain under a grace
//! timeout.

use tokio_util::sync::CancellationToken;

/// Cancelled when the process should stop. Cheap to clone.
pub type Shutdown = CancellationToken;

/// A token cancelled on the first SIGTERM or SIGINT.
pub fn on_signals() -> Shutdown {
    let token = Shutdown::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        let signal = wait_for_signal().await;
        tracing::info!(signal, "shutdown requested, draining");
        trigger.cancel();
    });
    token
}

#[cfg(unix)]
async fn wait_for_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM");
            let _ = tokio::signal::ctrl_c().await;
            return "SIGINT";
        }
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = tokio::signal::ctrl_c() => "SIGINT",
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() -> &'static str {
    let _ = tokio::signal::ctrl_c().await;
    "SIGINT"
}
