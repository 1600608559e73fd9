//! placeholder, replaced below
pub struct Report {
    pub points: usize,
}
impl Report {
    pub fn table(&self) -> String {
        String::new()
    }
}
pub fn run_suite(_seed: u64, _weeks: u32) -> Report {
    Report { points: 0 }
}
