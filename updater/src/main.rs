//! `fotad-update`: pack, install and inspect fotad update packages.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::SUCCESS
}
