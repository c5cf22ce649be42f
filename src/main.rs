//! The `compose-img` binary: everything lives in the library's `cli` stage.

fn main() -> std::process::ExitCode {
    compose_img::cli::run()
}
