fn main() {
    envdb::build::embed().expect("migrations");
}
