//! Any sum file text: parsing never panics; what parses renders back to text that parses the same.
#![no_main]
use envdb::sum_file::SumFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = SumFile::salvage(text);
    if let Ok(sum) = SumFile::parse(text) {
        assert_eq!(SumFile::parse(&sum.to_string()).unwrap(), sum);
    }
});
