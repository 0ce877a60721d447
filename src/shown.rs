//! File names as a person reads them. A name is printed as it is, unless it holds a character
//! that would not read as itself on a line (a newline, a carriage return, an escape or any
//! other control or invisible formatting character) or starts with `"`: it is then printed
//! quoted and escaped as Rust writes a string (`"orders\nmore.csv"`), so one name can never
//! become a second log line or report line, nor be mistaken for another name. Machine formats
//! (CSV through the csv crate, JSON) quote by themselves and keep the name as it is.

use std::borrow::Cow;
use std::path::Path;

/// `name` as it is, or quoted and escaped when it holds a character that does not show as
/// itself (see the module).
pub fn name(name: &str) -> Cow<'_, str> {
    if name.starts_with('"') || name.chars().any(hidden) {
        Cow::Owned(format!("{name:?}"))
    } else {
        Cow::Borrowed(name)
    }
}

/// A path as [`name`] shows a name (bytes that are not UTF-8 as U+FFFD).
pub fn path(path: &Path) -> String {
    name(&path.to_string_lossy()).into_owned()
}

/// Whether `c` would not show as itself: Rust escapes it inside a string (quotes and the
/// backslash aside, which show as themselves; a combining mark shows on the letter before it).
fn hidden(c: char) -> bool {
    match c {
        '"' | '\'' | '\\' => false,
        _ => {
            c.is_control()
                || "a"
                    .chars()
                    .chain([c])
                    .collect::<String>()
                    .escape_debug()
                    .count()
                    > 2
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_are_shown_as_they_are() {
        for plain in [
            "orders.csv",
            "orders 2026-11-10 (copy).csv",
            "o'brien \"q\".csv",
            "back\\slash.csv",
            "é\u{301}t\u{e9}.csv",
            "注文.csv",
        ] {
            assert_eq!(name(plain), plain);
        }
    }

    #[test]
    fn a_control_or_invisible_character_quotes_and_escapes_the_name() {
        assert_eq!(name("a\nb.csv"), r#""a\nb.csv""#);
        assert_eq!(name("a\rb.csv"), r#""a\rb.csv""#);
        assert_eq!(name("a\u{1b}[31m.csv"), r#""a\u{1b}[31m.csv""#);
        assert_eq!(name("a\u{85}.csv"), r#""a\u{85}.csv""#);
        assert_eq!(name("a\u{2028}b.csv"), r#""a\u{2028}b.csv""#);
        assert_eq!(name("a\u{202e}vsc.exe"), r#""a\u{202e}vsc.exe""#);
        assert_eq!(name("a\\n\"b\n.csv"), r#""a\\n\"b\n.csv""#);
        // A name that starts with a quote is quoted, so it is never read as an escaped one.
        assert_eq!(name("\"a\\nb.csv\""), r#""\"a\\nb.csv\"""#);
        assert_eq!(path(Path::new("failed/a\nb.csv")), r#""failed/a\nb.csv""#);
    }
}
