//! Strings from packages and records shown on a terminal: a package's version,
//! description, image classes and key ids are chosen by whoever built (or
//! forged) it, so they are printed escaped, never raw.

use std::fmt::Write;

/// `s` with control characters (terminal escapes, newlines, carriage returns),
/// bidirectional overrides and backslashes written as Rust-style escapes
/// (`\u{1b}`, `\n`, `\\`); everything else as it is.
pub fn escaped(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || is_invisible_format(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// Unicode format characters that reorder or hide text (bidi controls, zero
/// width characters), which a terminal shows without a trace.
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_are_escaped_and_text_is_kept() {
        assert_eq!(escaped("2.0.1 Größe"), "2.0.1 Größe");
        assert_eq!(escaped("a\u{1b}[31mb\u{7}\n\r\t\\"), r"a\u{1b}[31mb\u{7}\n\r\t\\");
        assert_eq!(escaped("x\u{202e}y\u{9b}z"), r"x\u{202e}y\u{9b}z");
    }
}
