//! `hwsign-gpg`: gpg's command line for release tools, signing through hwsign-agent
//! (see [`hwsign::gpg`]).

fn main() -> std::process::ExitCode {
    hwsign::gpg::main(std::env::args_os().skip(1).collect(), None)
}
