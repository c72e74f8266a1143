//! `fotactl`: the reference D-Bus client of fotad.

fn main() -> std::process::ExitCode {
    eprintln!("fotactl: the D-Bus interface is not built yet");
    std::process::ExitCode::from(2)
}
