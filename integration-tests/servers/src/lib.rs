//! The shared test servers (etcd, Kafka, Cassandra started by `dev/*.sh`)
//! and the fault tests that stop them.
//!
//! Two rules, enforced here rather than by convention:
//! - a test process that uses the servers holds a shared lock on
//!   [`lock_path`] from its first use until it exits; a fault test holds it
//!   exclusively, so it never runs beside another test process, whatever
//!   the runner (`cargo test` runs binaries one after another; `nextest` or
//!   two `cargo test` at once would not);
//! - a fault test must be the only test of its binary (libtest runs the
//!   tests of a binary in parallel threads): [`FaultTest::begin`] lists the
//!   binary's tests and fails the test if there are others.
//!
//! Only a [`FaultTest`] can stop or start a server.

use std::{
    fs::File,
    path::PathBuf,
    process::Command,
    sync::{Mutex, OnceLock},
};

/// The etcd the tests use: `FS_ETCD_ENDPOINT` or the scripts' default.
pub fn etcd_endpoint() -> String {
    use_shared_servers();
    std::env::var("FS_ETCD_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:2379".into())
}

/// The Kafka the tests use: `FS_KAFKA_BOOTSTRAP` or the scripts' default.
pub fn kafka_bootstrap() -> String {
    use_shared_servers();
    std::env::var("FS_KAFKA_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

/// The Cassandra node the tests use: `FS_CASSANDRA_NODE` or the scripts'
/// default.
pub fn cassandra_node() -> String {
    use_shared_servers();
    std::env::var("FS_CASSANDRA_NODE").unwrap_or_else(|_| "127.0.0.1:9042".into())
}

/// The lock file every test process shares (`FS_TEST_SERVERS_LOCK`
/// overrides it).
pub fn lock_path() -> PathBuf {
    std::env::var_os("FS_TEST_SERVERS_LOCK")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("featurestore-test-servers.lock"))
}

/// How this process holds the lock: taken once, kept until exit.
static HELD: OnceLock<Mutex<Held>> = OnceLock::new();

struct Held {
    file: File,
    exclusive: bool,
}

fn held() -> &'static Mutex<Held> {
    HELD.get_or_init(|| {
        let path = lock_path();
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        file.lock_shared()
            .unwrap_or_else(|e| panic!("lock {}: {e}", path.display()));
        Mutex::new(Held {
            file,
            exclusive: false,
        })
    })
}

/// Marks this process as a user of the shared servers; called by the
/// address functions above. Waits while a fault test of
/// another process has them.
pub fn use_shared_servers() {
    held();
}

/// Proof that this test may stop and start the shared servers.
#[derive(Debug)]
pub struct FaultTest {
    _private: (),
}

impl FaultTest {
    /// Takes the servers for this test alone: waits until no other test
    /// process uses them, and fails if the binary holds other tests.
    pub fn begin() -> FaultTest {
        let exe = std::env::current_exe().expect("test binary path");
        let listed = Command::new(&exe)
            .args(["--list", "--format", "terse"])
            .output()
            .unwrap_or_else(|e| panic!("list the tests of {}: {e}", exe.display()));
        let tests: Vec<String> = String::from_utf8_lossy(&listed.stdout)
            .lines()
            .filter_map(|line| line.strip_suffix(": test").map(str::to_owned))
            .collect();
        assert!(
            tests.len() == 1,
            "a fault test stops servers other tests use, so it must be alone in its test binary \
             (tests/<name>.rs); {} holds {tests:?}",
            exe.display()
        );
        let mut held = held().lock().expect("servers lock");
        if !held.exclusive {
            // Converting the shared lock of this very file handle: waits for
            // the other processes' shared locks only.
            held.file.lock().expect("take the test servers exclusively");
            held.exclusive = true;
        }
        FaultTest { _private: () }
    }

    /// Runs `dev/<server>.sh <action>` (stop, start, restart); `server` is
    /// etcd, kafka or cassandra.
    pub fn ctl(&self, server: &str, action: &str) {
        ctl(server, action);
    }

    /// Stops `server`; it is started again when the returned guard drops,
    /// so a fault test that fails half-way leaves the servers running.
    pub fn stop(&self, server: &'static str) -> StartOnDrop {
        ctl(server, "stop");
        StartOnDrop(server)
    }
}

/// `dev/<server>.sh` of this checkout.
fn script(server: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../dev")
        .join(format!("{server}.sh"))
}

fn ctl(server: &str, action: &str) {
    let status = Command::new("bash")
        .arg(script(server))
        .arg(action)
        .status()
        .unwrap_or_else(|e| panic!("run {server}.sh: {e}"));
    assert!(status.success(), "{server}.sh {action} failed");
}

/// What Kafka says about `topic` and consumer `group` (`dev/kafka.sh
/// describe`: ends, last stable offsets, open transactions, the group's
/// members and commits), for a test to print when a consumer is stuck.
pub fn describe_kafka(topic: &str, group: &str) -> String {
    match Command::new("bash")
        .arg(script("kafka"))
        .args(["describe", topic, group])
        .output()
    {
        Ok(out) => format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => format!("kafka.sh describe did not run: {e}"),
    }
}

/// Starts its server again when dropped (`start` is a no-op on a running
/// server).
pub struct StartOnDrop(&'static str);

impl Drop for StartOnDrop {
    fn drop(&mut self) {
        ctl(self.0, "start");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_test_beside_other_tests_is_refused() {
        let refused = std::panic::catch_unwind(FaultTest::begin).expect_err("refused");
        let message = refused
            .downcast_ref::<String>()
            .expect("a formatted message");
        assert!(
            message.contains("must be alone in its test binary")
                && message.contains("tests::the_addresses_have_defaults"),
            "{message}"
        );
    }

    #[test]
    fn the_addresses_have_defaults() {
        assert!(kafka_bootstrap().contains(':'));
        assert!(cassandra_node().contains(':'));
        assert!(etcd_endpoint().starts_with("http"));
    }
}
