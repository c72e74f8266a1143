//! `fotad`: the device update agent daemon (see `fotad::daemon`).

fn main() -> std::process::ExitCode {
    fotad::fumo::crash::install_hook();
    match fotad::daemon::main(std::env::args_os().skip(1)) {
        Ok(code) => std::process::ExitCode::from(code),
        Err(e) => {
            eprintln!("fotad: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
