//! `fotad`: the device update agent daemon.

fn main() -> std::process::ExitCode {
    eprintln!("fotad: the agent daemon is not built yet; use fotad-update for local installs");
    std::process::ExitCode::from(2)
}
