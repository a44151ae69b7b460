#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| featurestore_fuzz::catalog_objects(data));
