//! Browser end-to-end tests. Run them with `cargo xtask test`, which builds the web app,
//! installs Chromium and chromedriver, and runs this binary one test at a time.

mod accounts;
mod calls;
mod dashboard;
mod pstn;
mod topups;
