//! Any directory entry name: classification never panics, and a parsed name prints back to itself.
#![no_main]
use envdb::file_name::{Classified, FileName};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|name: &str| {
    if let Classified::Migration(parsed) = FileName::classify(name) {
        assert_eq!(parsed.to_string(), name);
        assert_eq!(FileName::parse(&parsed.to_string()).unwrap(), parsed);
    }
    let _ = envdb::file_name::slugify(&[name]);
});
