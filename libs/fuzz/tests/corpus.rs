//! The fuzz targets on stable, in CI: every committed corpus input, then
//! seeded mutations of them (bit flips, byte changes, cuts, insertions,
//! splices), 20,000 per target (about half a second each). A panic fails the test and leaves
//! the input under `target/fuzz-crashes/` to become a corpus file and a
//! regression test. `make fuzz` runs the same targets coverage-guided.

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    path::PathBuf,
};

use featurestore_fuzz::TARGETS;

const MUTATIONS_PER_TARGET: usize = 20_000;

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../fuzz/corpus/{target}"))
}

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = corpus_dir(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

/// xorshift64*: a reproducible stream of numbers.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seeds[rng.below(seeds.len())].clone();
    for _ in 0..=rng.below(4) {
        let at = rng.below(data.len() + 1);
        let last = data.len().saturating_sub(1);
        match rng.below(6) {
            0 if !data.is_empty() => data[at.min(last)] ^= 1 << rng.below(8),
            1 if !data.is_empty() => data[at.min(last)] = rng.next() as u8,
            2 => data.truncate(at),
            3 => {
                let byte = [0u8, 0xff, 0x7f, 0x80, b'\n', b':'][rng.below(6)];
                data.insert(at, byte);
            }
            4 if !data.is_empty() => {
                let end = (at + rng.below(16)).min(data.len());
                data.drain(at.min(end)..end);
            }
            _ => {
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len());
                let len = rng.below(other.len() - from + 1);
                data.splice(at..at, other[from..from + len].iter().copied());
            }
        }
    }
    data
}

fn crash_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/fuzz-crashes")
}

fn run(target: &str, f: fn(&[u8]), input: &[u8]) {
    // An abort (a huge allocation) cannot be caught: with FUZZ_KEEP_INPUT
    // set, each input is written first, so the last one is left behind.
    if std::env::var_os("FUZZ_KEEP_INPUT").is_some() {
        std::fs::create_dir_all(crash_dir()).unwrap();
        std::fs::write(crash_dir().join(format!("{target}-last")), input).unwrap();
    }
    // Panics caught inside a target (arrow-ipc's, see
    // `featurestore_domain::arrow::read_ipc_stream`) would flood the output.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = catch_unwind(AssertUnwindSafe(|| f(input)));
    std::panic::set_hook(hook);
    if outcome.is_err() {
        let dir = crash_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(format!(
            "{target}-{:016x}",
            featurestore_domain::key_hash(input)
        ));
        std::fs::write(&file, input).unwrap();
        panic!("{target} panicked on the input saved at {}", file.display());
    }
}

#[test]
fn every_target_survives_its_corpus_and_mutations_of_it() {
    for (target, f) in TARGETS {
        let seeds = corpus(target);
        assert!(!seeds.is_empty(), "{target}: the corpus is empty");
        for seed in &seeds {
            run(target, *f, seed);
        }
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ target.len() as u64);
        for _ in 0..MUTATIONS_PER_TARGET {
            run(target, *f, &mutate(&mut rng, &seeds));
        }
    }
}

#[test]
fn every_target_has_a_cargo_fuzz_binary() {
    for (target, _) in TARGETS {
        let binary = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join(format!("../../fuzz/fuzz_targets/{target}.rs"));
        assert!(binary.exists(), "{} is missing", binary.display());
    }
}
