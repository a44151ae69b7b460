//! The benchmark binaries of `make bench-*` (`src/bin/`), and what they
//! share: the processes they start and the CPU those processes spend. The
//! sandboxes they start services in come from the integration tests.

pub mod aggregations;
pub mod observed;
pub mod secure;
pub mod stack;
pub use stack::Stack;

use std::process::Child;

/// A child process killed (and reaped) when dropped.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// CPU seconds (user + system) a process has used so far, from
/// `/proc/<pid>/stat` (fields 14 and 15, in clock ticks); 0 when the process
/// is gone.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name (field 2) may hold spaces: count from its ')'.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are the 12th and 13th fields after the ')', in
    // USER_HZ ticks: 100 per second on every Linux architecture we run on.
    (ticks(11) + ticks(12)) / 100.0
}

/// The `p` quantile (0..=1) of sorted `samples`, in milliseconds (nearest
/// rank).
pub fn quantile_ms(sorted: &[std::time::Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1e3
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A binary built next to the running benchmark (`make bench-*` builds
/// both); fails naming the make target to run when it is missing.
pub fn sibling_binary(name: &str, make_target: &str) -> std::path::PathBuf {
    let me = std::env::current_exe().expect("current exe");
    let path = me.parent().expect("bin dir").join(name);
    assert!(
        path.exists(),
        "{} not built: run `make {make_target}`",
        path.display()
    );
    path
}

/// Starts a service binary with `prefix`ed environment settings, its
/// standard error written to `log`.
pub fn spawn_service(
    binary: &std::path::Path,
    prefix: &str,
    env: &[(String, String)],
    log: &std::path::Path,
) -> Killed {
    let log = std::fs::File::create(log).expect("log file");
    let mut command = std::process::Command::new(binary);
    command.stdout(std::process::Stdio::null()).stderr(log);
    for (k, v) in env {
        command.env(format!("{prefix}{k}"), v);
    }
    Killed(command.spawn().expect("spawn service"))
}

/// A channel to a loopback port, retried until the server listens.
pub async fn channel(port: u16) -> tonic::transport::Channel {
    loop {
        if let Ok(c) = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{port}"))
            .expect("url")
            .connect()
            .await
        {
            return c;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Resident memory of a process in bytes (`VmRSS` of `/proc/<pid>/status`);
/// 0 when the process is gone.
pub fn rss_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// The `standalone` binary (built next to the benchmark) on `data_dir`,
/// logging warnings to standard error; returns it with its registry,
/// ingestion, serving, offline and materialization ports, in that order.
pub fn spawn_standalone(data_dir: &std::path::Path, make_target: &str) -> (Killed, [u16; 5]) {
    spawn_standalone_with(data_dir, make_target, None)
}

/// [`spawn_standalone`] with a configuration file.
pub fn spawn_standalone_with(
    data_dir: &std::path::Path,
    make_target: &str,
    config: Option<&std::path::Path>,
) -> (Killed, [u16; 5]) {
    let ports = [(); 5].map(|_| free_port());
    let mut command = std::process::Command::new(sibling_binary("standalone", make_target));
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    command
        .arg("--data-dir")
        .arg(data_dir)
        .env("FS_STANDALONE_TELEMETRY__LOG_LEVEL", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit());
    for (name, port) in [
        "REGISTRY",
        "INGESTION",
        "SERVING",
        "OFFLINE",
        "MATERIALIZATION",
    ]
    .iter()
    .zip(&ports)
    {
        command.env(
            format!("FS_STANDALONE_LISTEN__{name}"),
            format!("127.0.0.1:{port}"),
        );
    }
    (Killed(command.spawn().expect("spawn standalone")), ports)
}

/// Peak resident memory of this process since the last
/// [`reset_peak_rss`], in MB.
pub fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

pub fn reset_peak_rss() {
    // "5" resets the peak RSS (Linux >= 4.0).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// A temporary directory for a benchmark's data under the project cache
/// (`$FS_CACHE`, default `~/.cache/featurestore`: /tmp may be small),
/// removed when dropped.
pub fn scratch_dir() -> anyhow::Result<tempfile::TempDir> {
    let cache = std::env::var("FS_CACHE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| {
            std::path::PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/featurestore")
        });
    std::fs::create_dir_all(&cache)?;
    Ok(tempfile::tempdir_in(&cache)?)
}
