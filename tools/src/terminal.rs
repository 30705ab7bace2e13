//! The CLI's only way to the terminal. Human output holds text other States
//! wrote (message bodies, refusal details, attachment errors), and a
//! terminal obeys some characters instead of showing them: a carriage return
//! rewrites the line, an escape sequence clears the screen or fakes colours,
//! a bidi override shows `fdp.exe` as `exe.pdf`. Everything printed for a
//! person passes through [`shown`]; `--json` goes through [`json`] untouched,
//! so scripts get exactly what the node answered.
//!
//! `print!`, `println!`, `eprint!` and `eprintln!` are refused in this crate
//! by `tools/clippy.toml`: a new command has no way around this module.

use std::borrow::Cow;
use std::io::Write;

/// Shown instead of each character removed. Removing it silently could join
/// two words ("granted\rrevoked" read as one), and would hide that the text
/// carried something the terminal would have obeyed; the replacement
/// character is visible and says "something was here".
pub const MARKER: char = '\u{FFFD}';

/// Whether a terminal would act on `c` rather than show it: C0 controls
/// other than line feed and tab, DEL, C1 controls, and the bidi embeddings,
/// overrides and isolates (U+202A–U+202E, U+2066–U+2069).
pub fn is_hidden(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t') || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `text` as it may be shown on a terminal: line feeds and tabs kept, every
/// other control or bidi character replaced by [`MARKER`]. A carriage return
/// just before a line feed is dropped instead: it is a Windows line end, and
/// cannot rewrite anything there.
pub fn shown(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_hidden) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' if chars.peek() == Some(&'\n') => {}
            c if is_hidden(c) => out.push(MARKER),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Writes human output to stdout, through [`shown`].
pub fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`veim inbox | head`) is no error of the command's.
    let _ = stdout.write_all(shown(text).as_bytes());
    let _ = stdout.flush();
}

/// Writes human output to stderr (errors, progress), through [`shown`].
pub fn err(text: &str) {
    let _ = std::io::stderr().lock().write_all(shown(text).as_bytes());
}

/// Writes `--json` output to stdout as it is, with a line end: JSON escapes
/// control characters itself, and a script must get every character the
/// node answered.
pub fn json(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.write_all(b"\n");
    let _ = stdout.flush();
}

/// Writes bytes made by this program itself (shell completions, a manual
/// page) to stdout as they are: they hold nothing another State wrote.
pub fn raw(bytes: &[u8]) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(bytes);
    let _ = stdout.flush();
}

/// `println!` for human output: formats, then writes through [`shown`].
#[macro_export]
macro_rules! say {
    () => {
        $crate::terminal::out("\n")
    };
    ($($arg:tt)*) => {
        $crate::terminal::out(&format!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprintln!` for human output: formats, then writes through [`shown`].
#[macro_export]
macro_rules! say_err {
    ($($arg:tt)*) => {
        $crate::terminal::err(&format!("{}\n", format_args!($($arg)*)))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_shown_as_it_is_without_a_copy() {
        let text = "Licence MX-2016-0412\n\tGranted — Bewilligt — مرخص — 許可 ✓";
        assert!(matches!(shown(text), Cow::Borrowed(t) if t == text));
    }

    #[test]
    fn line_feeds_and_tabs_are_kept() {
        assert_eq!(shown("a\nb\tc\n"), "a\nb\tc\n");
    }

    #[test]
    fn c0_controls_are_replaced() {
        for c in (0u32..0x20).filter_map(char::from_u32).filter(|c| !matches!(c, '\n' | '\t')) {
            assert_eq!(shown(&format!("a{c}b")), "a\u{FFFD}b", "U+{:04X}", c as u32);
        }
        assert_eq!(shown("\u{1b}[2Jcleared"), "\u{FFFD}[2Jcleared");
    }

    #[test]
    fn a_lone_carriage_return_is_replaced_and_one_ending_a_line_is_dropped() {
        assert_eq!(shown("granted\rrevoked"), "granted\u{FFFD}revoked");
        assert_eq!(shown("one\r\ntwo\r\n"), "one\ntwo\n");
        assert_eq!(shown("\r\r\n"), "\u{FFFD}\n");
        assert_eq!(shown("end\r"), "end\u{FFFD}");
    }

    #[test]
    fn del_is_replaced() {
        assert_eq!(shown("a\u{7f}b"), "a\u{FFFD}b");
    }

    #[test]
    fn c1_controls_are_replaced() {
        for c in (0x80u32..0xA0).filter_map(char::from_u32) {
            assert_eq!(shown(&format!("a{c}b")), "a\u{FFFD}b", "U+{:04X}", c as u32);
        }
        // The single-character CSI some terminals obey like ESC [.
        assert_eq!(shown("\u{9b}2J"), "\u{FFFD}2J");
    }

    #[test]
    fn bidi_embeddings_overrides_and_isolates_are_replaced() {
        for c in ('\u{202A}'..='\u{202E}').chain('\u{2066}'..='\u{2069}') {
            assert_eq!(shown(&format!("a{c}b")), "a\u{FFFD}b", "U+{:04X}", c as u32);
        }
        assert_eq!(shown("report\u{202E}fdp.exe"), "report\u{FFFD}fdp.exe");
        // Their neighbours are ordinary text.
        for c in ['\u{2029}', '\u{206A}', '\u{200F}'] {
            assert_eq!(shown(&format!("a{c}b")), format!("a{c}b"), "U+{:04X}", c as u32);
        }
    }
}
