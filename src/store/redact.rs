//! Keeping database passwords out of every log line and message (SPEC section 9, "Secrets").
//!
//! Two layers: [`redact`] is how a connection string is ever described (whatever its form:
//! `postgres://user:pw@host/db`, `?password=` and `?sslpassword=` parameters, or libpq's
//! `key=value` conninfo with quoted values), and [`scrub`] removes every password subsweep has
//! seen ([`remember`]) from any text, because libpq and diesel errors can echo parts of a
//! connection string. The log writer and the final error message both go through `scrub`.

use std::borrow::Cow;
use std::sync::Mutex;

/// What a password is replaced with.
pub const MASK: &str = "***";

/// Every password seen in a connection string, in each spelling it may be printed in.
static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Is this connection-string key a password (`password`, `sslpassword`, …)?
fn is_secret_key(key: &str) -> bool {
    key.to_ascii_lowercase().ends_with("password")
}

/// `conn` with every password replaced by `***`; everything else as written.
pub fn redact(conn: &str) -> String {
    parse(conn).0
}

/// The passwords `conn` carries, as written and as the server receives them (decoded).
pub fn passwords(conn: &str) -> Vec<String> {
    parse(conn).1
}

/// Remembers the passwords of `conn` (and `PGPASSWORD`) so that [`scrub`] removes them.
pub fn remember(conn: &str) {
    let mut found = passwords(conn);
    if let Ok(env) = std::env::var("PGPASSWORD") {
        found.push(env);
    }
    let mut spellings = Vec::new();
    for secret in found.into_iter().filter(|s| !s.is_empty()) {
        // As a JSON log line or a Debug rendering would escape it.
        if let Ok(json) = serde_json::to_string(&secret) {
            spellings.push(json[1..json.len() - 1].to_string());
        }
        let debug = format!("{secret:?}");
        spellings.push(debug[1..debug.len() - 1].to_string());
        spellings.push(secret);
    }
    let mut secrets = SECRETS.lock().unwrap_or_else(|p| p.into_inner());
    for s in spellings {
        if !secrets.contains(&s) {
            secrets.push(s);
        }
    }
    // Longest first, so a password containing another is masked whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// `text` with every remembered password replaced by `***`.
pub fn scrub(text: &str) -> Cow<'_, str> {
    let secrets = SECRETS.lock().unwrap_or_else(|p| p.into_inner());
    let mut out = Cow::Borrowed(text);
    for secret in secrets.iter() {
        if out.contains(secret.as_str()) {
            out = Cow::Owned(out.replace(secret.as_str(), MASK));
        }
    }
    out
}

/// (redacted text, passwords found).
fn parse(conn: &str) -> (String, Vec<String>) {
    let trimmed = conn.trim_start();
    if trimmed.starts_with("postgres://") || trimmed.starts_with("postgresql://") {
        parse_url(conn)
    } else {
        parse_conninfo(conn)
    }
}

fn parse_url(url: &str) -> (String, Vec<String>) {
    let mut secrets = Vec::new();
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let (head, query) = match url[scheme_end..].find('?') {
        Some(q) => url.split_at(scheme_end + q),
        None => (url, ""),
    };
    let mut out = String::with_capacity(url.len());
    // user:password@ — the last '@' before the query ends the user info, so a password
    // holding '@' or '/' is masked whole.
    match head[scheme_end..].rfind('@') {
        Some(at) => {
            let userinfo = &head[scheme_end..scheme_end + at];
            match userinfo.find(':') {
                Some(colon) => {
                    let password = &userinfo[colon + 1..];
                    secrets.push(password.to_string());
                    secrets.push(percent_decode(password));
                    out.push_str(&head[..scheme_end + colon + 1]);
                    out.push_str(MASK);
                    out.push_str(&head[scheme_end + at..]);
                }
                None => out.push_str(head),
            }
        }
        None => out.push_str(head),
    }
    if let Some(params) = query.strip_prefix('?') {
        out.push('?');
        let redacted: Vec<String> = params
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((key, value)) if is_secret_key(&percent_decode(key)) => {
                    secrets.push(value.to_string());
                    secrets.push(percent_decode(value));
                    format!("{key}={MASK}")
                }
                _ => param.to_string(),
            })
            .collect();
        out.push_str(&redacted.join("&"));
    }
    (out, secrets)
}

/// libpq's `key = value` form: values unquoted (backslash escapes) or single-quoted.
fn parse_conninfo(conninfo: &str) -> (String, Vec<String>) {
    let mut secrets = Vec::new();
    let mut out = String::with_capacity(conninfo.len());
    let chars: Vec<char> = conninfo.chars().collect();
    let mut i = 0;
    let copy = |out: &mut String, from: usize, to: usize| out.extend(&chars[from..to]);
    while i < chars.len() {
        let start = i;
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        let key_start = i;
        while i < chars.len() && chars[i] != '=' && !chars[i].is_whitespace() {
            i += 1;
        }
        let key: String = chars[key_start..i].iter().collect();
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        if i >= chars.len() || chars[i] != '=' {
            // Not key=value (a bare database name, or garbage): kept as written.
            copy(&mut out, start, i);
            continue;
        }
        i += 1;
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        copy(&mut out, start, i);
        let value_start = i;
        let mut value = String::new();
        let quoted = i < chars.len() && chars[i] == '\'';
        if quoted {
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    i += 1;
                }
                value.push(chars[i]);
                i += 1;
            }
            i = (i + 1).min(chars.len());
        } else {
            while i < chars.len() && !chars[i].is_whitespace() {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    i += 1;
                }
                value.push(chars[i]);
                i += 1;
            }
        }
        if is_secret_key(&key) {
            let inner_end = if quoted && i > value_start + 1 && chars[i - 1] == '\'' {
                i - 1
            } else {
                i
            };
            let inner_start = if quoted { value_start + 1 } else { value_start };
            secrets.push(
                chars[inner_start..inner_end.max(inner_start)]
                    .iter()
                    .collect(),
            );
            secrets.push(value);
            out.push_str(MASK);
        } else {
            copy(&mut out, value_start, i);
        }
    }
    (out, secrets)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_connection_string_is_redacted() {
        let cases = [
            (
                "postgres://app:s3cret@db:5432/x",
                "postgres://app:***@db:5432/x",
                "s3cret",
            ),
            (
                "postgres://app:p@ss@db/x",
                "postgres://app:***@db/x",
                "p@ss",
            ),
            ("postgres://app:a/b@db/x", "postgres://app:***@db/x", "a/b"),
            (
                "postgresql://app@db/x?sslmode=require&password=pw1&application_name=n",
                "postgresql://app@db/x?sslmode=require&password=***&application_name=n",
                "pw1",
            ),
            (
                "postgres://app@db/x?sslpassword=key%20pw",
                "postgres://app@db/x?sslpassword=***",
                "key pw",
            ),
            (
                "host=db user=app password=pw2 dbname=x",
                "host=db user=app password=*** dbname=x",
                "pw2",
            ),
            (
                "host=db password = 'two words\\' q' dbname=x",
                "host=db password = *** dbname=x",
                "two words' q",
            ),
            (
                "host=db sslpassword=a\\ b port=5",
                "host=db sslpassword=*** port=5",
                "a b",
            ),
        ];
        for (conn, redacted, password) in cases {
            assert_eq!(redact(conn), redacted, "{conn}");
            assert!(passwords(conn).contains(&password.to_string()), "{conn}");
        }
        for plain in [
            "postgres://app@db/x",
            "host=db user=app dbname=x",
            "mydb",
            "",
        ] {
            assert_eq!(redact(plain), plain);
            assert!(passwords(plain).is_empty(), "{plain}");
        }
    }

    #[test]
    fn remembered_passwords_are_scrubbed_from_any_text_in_any_spelling() {
        remember("host=db password='q\"uote-9z' dbname=x");
        assert_eq!(scrub("failed: q\"uote-9z!"), "failed: ***!");
        assert_eq!(scrub("{\"e\":\"q\\\"uote-9z\"}"), "{\"e\":\"***\"}");
        assert_eq!(scrub("nothing secret"), "nothing secret");
    }
}
