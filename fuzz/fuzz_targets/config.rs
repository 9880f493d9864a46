//! Any envdb.toml text: loading never panics; an invalid file is an error with a message.
#![no_main]
use envdb::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Err(message) = Config::parse(text) {
        assert!(!message.is_empty());
    }
});
