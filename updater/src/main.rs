//! `fotad-update`: pack, install and inspect fotad update packages.

use std::process::ExitCode;

fn main() -> ExitCode {
    match fotad_updater::cli::run(std::env::args_os().skip(1).collect()) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("fotad-update: {e:#}");
            ExitCode::FAILURE
        }
    }
}
