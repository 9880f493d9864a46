pub mod catalog;
pub mod scratch;
