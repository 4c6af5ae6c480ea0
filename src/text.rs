//! Escaping text that someone else controls before a person or a log reads it.
//!
//! A file name, an SSHSIG namespace, a key label, a process name, a host key, an error message
//! from a remote agent or a key id in an untrusted envelope is chosen by whoever made it. Shown
//! raw, a newline forges a line in a confirm dialog or a log ("x\nClient note: approved by
//! alice"), an escape sequence (`\r\e[2K… OK …\e[8m`) rewrites a terminal line or hides the
//! rest, a bidi override (U+202E) shows `gpj.exe` as `exe.jpg`, and zero-width characters make
//! two different names look alike. Every such string goes through this module wherever a
//! person or a log reads it:
//!
//! - [`for_terminal`] / [`Escaped`] (terminals, logs, confirm prompts): control characters are
//!   shown as `\n`, `\r`, `\t`, `\x1b`, …; Unicode format characters (general category Cf:
//!   bidi embeddings, overrides and isolates, zero-width spaces and joiners, the byte order
//!   mark, soft hyphen, tag characters, …), the line and paragraph separators U+2028/U+2029 and
//!   invisible fillers are shown as `\u{202e}`; a backslash is doubled so that an escape cannot
//!   be faked by a literal `\n` in the name. The result is bounded: past `max_chars` output
//!   characters it ends in `…[+N chars]`, N being the number of input characters cut. Plain
//!   text, including letters of any script ("paquet-été-ü.tar.gz"), passes unchanged.
//! - [`for_markup`]: the same, then `&`, `<` and `>` as entities, for desktop notification
//!   bodies (which notification servers read as markup).
//!
//! JSON output (the audit log, `--json` reports) escapes by itself and does not use this.

use std::fmt::{self, Write as _};

/// A bound for one name-like value (a subject name, a label, a key id, a namespace).
pub const NAME_MAX: usize = 200;

/// A bound for a longer message (an error message from a peer or a remote agent).
pub const MESSAGE_MAX: usize = 500;

/// Whether `c` is shown escaped: control characters, format characters, line and paragraph
/// separators, invisible fillers, and the backslash (which introduces an escape).
pub fn needs_escape(c: char) -> bool {
    c == '\\' || c.is_control() || is_format_or_invisible(c)
}

/// Unicode general category Cf (Unicode 15.1), plus U+2028/U+2029 (Zl, Zp) and the invisible
/// fillers and joiners that render as nothing (U+034F, U+115F, U+1160, U+17B4, U+17B5,
/// U+180B–U+180F, U+3164, U+FFA0).
fn is_format_or_invisible(c: char) -> bool {
    matches!(
        c as u32,
        0x00AD
            | 0x034F
            | 0x0600..=0x0605
            | 0x061C
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x115F..=0x1160
            | 0x17B4..=0x17B5
            | 0x180B..=0x180F
            | 0x200B..=0x200F
            | 0x2028..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0x3164
            | 0xFEFF
            | 0xFFA0
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
    )
}

/// Write the shown form of one character into `out`.
fn push_char(out: &mut String, c: char) {
    match c {
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\0' => out.push_str("\\0"),
        c if (c as u32) < 0x80 && needs_escape(c) => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if needs_escape(c) => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
        c => out.push(c),
    }
}

/// `s` escaped for a terminal or a log line, at most `max_chars` characters of escaped text
/// (never cutting an escape or a character in half), then `…[+N chars]` when N input
/// characters were cut.
pub fn for_terminal(s: &str, max_chars: usize) -> String {
    bounded(s, max_chars, false)
}

/// Text a peer says it already escaped (the agent's description of what a touch is for, as
/// `hwsign status` and `hwsign touch` print it): escaped as [`for_terminal`] does but with
/// backslashes left alone, so that the agent's escapes are not doubled, and bounded.
pub fn already_escaped(s: &str, max_chars: usize) -> String {
    bounded(s, max_chars, true)
}

fn bounded(s: &str, max_chars: usize, keep_backslash: bool) -> String {
    let mut out = String::with_capacity(s.len().min(max_chars.saturating_mul(4)) + 16);
    let mut shown = 0usize;
    let mut piece = String::with_capacity(12);
    for (i, c) in s.char_indices() {
        piece.clear();
        if keep_backslash && c == '\\' {
            piece.push(c);
        } else {
            push_char(&mut piece, c);
        }
        let width = piece.chars().count();
        if shown + width > max_chars {
            let cut = s[i..].chars().count();
            let unit = if cut == 1 { "char" } else { "chars" };
            let _ = write!(out, "…[+{cut} {unit}]");
            return out;
        }
        shown += width;
        out.push_str(&piece);
    }
    out
}

/// `s` escaped as [`for_terminal`] does, then `&`, `<`, `>` written as `&amp;`, `&lt;`,
/// `&gt;`: for desktop notification bodies, which are markup. The bound applies before the
/// entities, so it counts what the reader sees.
pub fn for_markup(s: &str, max_chars: usize) -> String {
    let shown = for_terminal(s, max_chars);
    let mut out = String::with_capacity(shown.len() + 8);
    for c in shown.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// A message the agent composed from pieces it already escaped (so backslashes are left as
/// they are), made safe once more as a whole: any control or format character a piece let
/// through (a newline too: a notification is one line) is escaped, then `&`, `<`, `>` are
/// written as entities. For desktop notification bodies.
pub fn composed_for_markup(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' => out.push(c),
            c => push_char(&mut out, c),
        }
    }
    out
}

/// A multi-line text the agent composed from pieces it already escaped (a confirm prompt):
/// newlines are its own and kept, backslashes are left as they are, and any other control or
/// format character a piece let through is escaped.
pub fn composed_for_dialog(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' | '\\' => out.push(c),
            c => push_char(&mut out, c),
        }
    }
    out
}

/// A [`Display`](fmt::Display) of a string escaped by [`for_terminal`]: for `format!` and
/// `tracing` fields (`%Escaped::name(s)`).
#[derive(Clone, Copy, Debug)]
pub struct Escaped<'a> {
    text: &'a str,
    max_chars: usize,
}

impl<'a> Escaped<'a> {
    /// `text` bounded to `max_chars` shown characters.
    pub fn new(text: &'a str, max_chars: usize) -> Self {
        Escaped { text, max_chars }
    }

    /// A name-like value, bounded to [`NAME_MAX`].
    pub fn name(text: &'a str) -> Self {
        Self::new(text, NAME_MAX)
    }

    /// A message, bounded to [`MESSAGE_MAX`].
    pub fn message(text: &'a str) -> Self {
        Self::new(text, MESSAGE_MAX)
    }
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Fast path: nothing to escape and short enough. `pad` honours a width (`{:<16}`).
        if self.text.len() <= self.max_chars && !self.text.chars().any(needs_escape) {
            return f.pad(self.text);
        }
        f.pad(&for_terminal(self.text, self.max_chars))
    }
}

/// A name-like value escaped and bounded to [`NAME_MAX`].
pub fn name(s: &str) -> String {
    for_terminal(s, NAME_MAX)
}

/// A message escaped and bounded to [`MESSAGE_MAX`].
pub fn message(s: &str) -> String {
    for_terminal(s, MESSAGE_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> String {
        for_terminal(s, 1000)
    }

    #[test]
    fn plain_text_passes_unchanged() {
        for s in [
            "paquet-été-ü.tar.gz",
            "dist/hwsign-1.0.0-x86_64-unknown-linux-gnu.tar.gz",
            "Ключ выпуска",
            "リリース鍵",
            "مفتاح",
            "release p256 (yubikey 5 #12345678)",
            "SHA256:AbCdEf+/0123456789=",
            "emoji 🔑✅",
            "",
        ] {
            assert_eq!(t(s), s);
            assert_eq!(Escaped::name(s).to_string(), s);
            assert_eq!(name(s), s);
        }
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            t("x\nClient note: approved by alice"),
            "x\\nClient note: approved by alice"
        );
        assert_eq!(t("a\rb\tc\0d"), "a\\rb\\tc\\0d");
        assert_eq!(t("\x1b[2K"), "\\x1b[2K");
        assert_eq!(t("\x07\x08\x7f"), "\\x07\\x08\\x7f");
        // C1 controls, including NEL and CSI.
        assert_eq!(t("\u{85}\u{9b}"), "\\u{85}\\u{9b}");
        for b in (0u8..0x20).chain([0x7f]) {
            let s = t(&format!("a{}b", b as char));
            assert!(!s.chars().any(|c| c.is_control()), "{b:#x}: {s:?}");
        }
    }

    #[test]
    fn forged_terminal_line_is_defused() {
        let keyid = "\r\x1b[2KOK (1 of 1): alice\x1b[8m";
        let s = t(keyid);
        assert!(!s.contains('\r') && !s.contains('\x1b'));
        assert_eq!(s, "\\r\\x1b[2KOK (1 of 1): alice\\x1b[8m");
    }

    #[test]
    fn bidi_and_zero_width_are_escaped() {
        assert_eq!(t("invoice\u{202e}gpj.exe"), "invoice\\u{202e}gpj.exe");
        for c in (0x200Bu32..=0x200F)
            .chain(0x202A..=0x202E)
            .chain(0x2066..=0x2069)
            .chain([
                0x2028, 0x2029, 0xFEFF, 0x00AD, 0x2060, 0x061C, 0xE0041, 0x3164,
            ])
        {
            let c = char::from_u32(c).unwrap();
            let s = t(&format!("a{c}b"));
            assert_eq!(s, format!("a\\u{{{:x}}}b", c as u32));
        }
    }

    #[test]
    fn backslash_is_doubled_so_escapes_cannot_be_faked() {
        // A literal backslash-n in a name must not look like an escaped newline.
        assert_eq!(t("x\\ny"), "x\\\\ny");
        assert_ne!(t("x\\ny"), t("x\ny"));
    }

    #[test]
    fn bounded_with_count_of_what_was_cut() {
        let s = "a".repeat(300);
        let out = for_terminal(&s, 200);
        assert_eq!(out, format!("{}…[+100 chars]", "a".repeat(200)));
        // Exactly at the bound: nothing cut.
        assert_eq!(for_terminal(&"b".repeat(200), 200), "b".repeat(200));
        // Zero bound.
        assert_eq!(for_terminal("abc", 0), "…[+3 chars]");
    }

    #[test]
    fn bounded_on_character_boundaries() {
        // Multi-byte characters are never split.
        let s = "é".repeat(10);
        assert_eq!(for_terminal(&s, 4), "éééé…[+6 chars]");
        let s = "🔑".repeat(5);
        assert_eq!(for_terminal(&s, 2), "🔑🔑…[+3 chars]");
        // Neither are escapes: "\u{202e}" is 8 shown characters.
        assert_eq!(for_terminal("ab\u{202e}cd", 5), "ab…[+3 chars]");
        assert_eq!(for_terminal("ab\u{202e}cd", 10), "ab\\u{202e}…[+2 chars]");
        assert_eq!(for_terminal("a\nb", 2), "a…[+2 chars]");
    }

    #[test]
    fn bound_limits_output_even_when_everything_is_escaped() {
        let s = "\u{202e}".repeat(1000);
        let out = for_terminal(&s, NAME_MAX);
        assert!(out.chars().count() <= NAME_MAX + "…[+1000 chars]".len());
        assert!(out.ends_with("chars]"));
    }

    #[test]
    fn display_wrapper_matches_function() {
        for s in ["plain", "a\nb", "\u{202e}x", &"z".repeat(600)] {
            assert_eq!(Escaped::name(s).to_string(), for_terminal(s, NAME_MAX));
            assert_eq!(
                Escaped::message(s).to_string(),
                for_terminal(s, MESSAGE_MAX)
            );
        }
        assert_eq!(format!("[{}]", Escaped::new("a\nb", 10)), "[a\\nb]");
        assert_eq!(format!("[{:<6}]", Escaped::name("a\nb")), "[a\\nb  ]");
        assert_eq!(format!("[{:<4}]", Escaped::name("é")), "[é   ]");
    }

    #[test]
    fn markup_escapes_entities_after_controls() {
        assert_eq!(
            for_markup("<b>x</b> & \"y\"\n", 100),
            "&lt;b&gt;x&lt;/b&gt; &amp; \"y\"\\n"
        );
        assert_eq!(
            for_markup("paquet-été-ü.tar.gz", 100),
            "paquet-été-ü.tar.gz"
        );
        assert_eq!(for_markup("a\u{202e}<", 100), "a\\u{202e}&lt;");
        // The bound counts what is read, not the entities.
        assert_eq!(for_markup("<<<<", 2), "&lt;&lt;…[+2 chars]");
    }

    #[test]
    fn already_escaped_text_keeps_its_backslashes() {
        let what = name("x\ny");
        assert_eq!(already_escaped(&what, 100), "x\\ny");
        assert_eq!(
            already_escaped("a\x1b[2Kb\u{202e}", 100),
            "a\\x1b[2Kb\\u{202e}"
        );
        assert_eq!(already_escaped("abc", 2), "ab…[+1 char]");
    }

    #[test]
    fn composed_text_is_made_safe_without_double_escaping() {
        let piece = name("x\ny<b>");
        let message = format!("Touch the token t\x1b[2K to sign {piece} & more");
        assert_eq!(
            composed_for_markup(&message),
            "Touch the token t\\x1b[2K to sign x\\ny&lt;b&gt; &amp; more"
        );
        assert_eq!(composed_for_markup("a\nb\u{202e}"), "a\\nb\\u{202e}");
        let prompt = format!("Allow it?\nDSSE {piece}\n\u{2066}label\n");
        assert_eq!(
            composed_for_dialog(&prompt),
            "Allow it?\nDSSE x\\ny<b>\n\\u{2066}label\n"
        );
    }
}
