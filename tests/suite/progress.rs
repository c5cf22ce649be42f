//! Build progress as a terminal shows it (through `script`, which gives
//! the build a pseudo-terminal of a chosen size): no line wider than the
//! terminal, lines that name the platform, the overall count at its total,
//! and plain lines on a terminal that reports no size.

use crate::common;

use common::Sandbox;

/// Builds the multi-platform example on a `cols`-wide terminal and returns
/// every line the terminal showed (each control sequence and carriage
/// return starting a line).
fn build_on_terminal(sandbox: &Sandbox, cols: u32) -> Vec<String> {
    common::copy_recipes(sandbox.path());
    let command = format!(
        "stty cols {cols} rows 24; COMPOSE_IMG_STORE='{}' '{}' build recipes/multiarch.toml",
        sandbox.store().display(),
        common::bin().display()
    );
    let out = std::process::Command::new(common::tool("script"))
        .args(["-qec", &command, "/dev/null"])
        .current_dir(sandbox.path())
        .output()
        .expect("script (util-linux) runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    let plain = strip_controls(&text);
    plain.split(['\r', '\n']).filter(|l| !l.trim().is_empty()).map(str::to_owned).collect()
}

/// `text` with each ANSI control sequence (ESC [ … letter; the cursor
/// moves between bars) made a line break.
fn strip_controls(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            out.push('\n');
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn a_narrow_terminal_gets_bars_that_fit_and_name_the_platform() {
    let sandbox = Sandbox::new();
    let lines = build_on_terminal(&sandbox, 60);
    // indicatif pads each bar to the width and lets the terminal wrap to
    // the next: every 60 columns must then start a bar of its own (a
    // longer bar would wrap into the middle of the next one). The result
    // lines on stdout are the build's output, not progress.
    for line in lines.iter().filter(|l| !l.starts_with("oci:") && !l.starts_with("layers:")) {
        let chars: Vec<char> = line.chars().collect();
        for row in chars.chunks(60) {
            let row: String = row.iter().collect();
            assert!(
                row.starts_with("  (linux/") || row.contains("build steps"),
                "a bar wider than the terminal: {row:?} in {line:?}"
            );
        }
    }
    assert!(lines.iter().any(|l| l.contains("(linux/arm64)")), "{lines:#?}");
    assert!(lines.iter().any(|l| l.starts_with("4/4 build steps")), "{lines:#?}");
}

#[test]
fn a_very_narrow_or_sizeless_terminal_gets_plain_lines_cut_to_fit() {
    let sandbox = Sandbox::new();
    let lines = build_on_terminal(&sandbox, 30);
    assert!(lines.iter().any(|l| l.starts_with("built layer arch of")), "{lines:#?}");
    for line in lines.iter().filter(|l| !l.starts_with("oci:") && !l.starts_with("layers:")) {
        assert!(line.chars().count() <= 30, "wider than the terminal: {line:?}");
    }
    let sizeless = Sandbox::new();
    let lines = build_on_terminal(&sizeless, 0);
    let built: Vec<&String> = lines.iter().filter(|l| l.starts_with("built layer arch of")).collect();
    assert_eq!(built.len(), 2, "{lines:#?}");
    assert!(built.iter().any(|l| l.contains("(linux/amd64): sha256:")), "{built:?}");
    assert!(built.iter().any(|l| l.contains("(linux/arm64): sha256:")), "{built:?}");
}
