//! `fotactl`: the reference D-Bus client of fotad (see `fotad::ctl`).

fn main() -> std::process::ExitCode {
    match fotad::ctl::main(std::env::args_os().skip(1)) {
        Ok(code) => std::process::ExitCode::from(code),
        Err(e) => {
            eprintln!("fotactl: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
