//! The artifact name globs of trust policy rules: `*` matches any run of characters (also
//! none), `?` exactly one character, everything else itself. Globs match file names, never
//! paths, so `/` has no special meaning and a pattern containing it is refused by the policy.

/// Whether `name` matches `pattern` (whole name, case-sensitive, by characters).
pub fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0usize, 0usize);
    // Where to resume after the last `*`: the pattern index after it, and the name index
    // it currently stands for.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi + 1, ni));
                pi += 1;
            }
            Some(&c) if c == '?' || c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                // Let the last `*` swallow one more character and retry.
                Some((sp, sn)) => {
                    star = Some((sp, sn + 1));
                    pi = sp;
                    ni = sn + 1;
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Whether every name `specific` matches is matched by `general` (conservatively: `true`
/// means it surely is; a few equivalent spellings such as `*?` against `?*` are not
/// recognised). Each `*` of `general` may stand for any run of `specific`'s characters and
/// wildcards, a `?` for one character or `?`, and a character only for itself.
pub fn includes(general: &str, specific: &str) -> bool {
    let g: Vec<char> = general.chars().collect();
    let s: Vec<char> = specific.chars().collect();
    // ok[j]: g[..i] covers s[..j], for the current i.
    let mut ok = vec![false; s.len() + 1];
    ok[0] = true;
    for &gc in &g {
        let mut next = vec![false; s.len() + 1];
        for j in 0..=s.len() {
            next[j] = match gc {
                '*' => ok[j] || (j > 0 && next[j - 1]),
                '?' => j > 0 && ok[j - 1] && s[j - 1] != '*',
                c => j > 0 && ok[j - 1] && s[j - 1] == c,
            };
        }
        ok = next;
    }
    ok[s.len()]
}

/// Whether the globs `general` match every name one of the globs `specific` matches (each
/// specific glob included in one general glob; conservative as [`includes`]).
pub fn covers(general: &[String], specific: &[String]) -> bool {
    specific
        .iter()
        .all(|s| general.iter().any(|g| includes(g, s)))
}

/// Why a pattern cannot be a rule's artifact glob, if it cannot.
pub fn check_pattern(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() {
        Err("an empty glob matches nothing".into())
    } else if pattern.contains('/') || pattern.contains('\\') {
        Err(format!(
            "{pattern:?} contains a path separator; globs match file names only (write {:?})",
            pattern.rsplit(['/', '\\']).next().unwrap_or(pattern)
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inclusion() {
        for (g, s) in [
            ("*", "mypkg-*.whl"),
            ("*", "*"),
            ("mypkg-*", "mypkg-*.whl"),
            ("*.whl", "mypkg-?.whl"),
            ("mypkg-?.whl", "mypkg-1.whl"),
            ("*-*", "a-b-*"),
            ("a*", "a"),
        ] {
            assert!(includes(g, s), "{g} includes {s}");
            assert!(matches(g, s.replace(['*', '?'], "x").as_str()));
        }
        for (g, s) in [
            ("*.whl", "*"),
            ("mypkg-?.whl", "mypkg-*.whl"),
            ("?", "*"),
            ("a", "a*"),
            ("*.tar.gz", "*.whl"),
        ] {
            assert!(!includes(g, s), "{g} does not include {s}");
        }
        assert!(covers(
            &["*.whl".into(), "*.gz".into()],
            &["a.whl".into(), "b*.gz".into()]
        ));
        assert!(!covers(&["*.whl".into()], &["a.whl".into(), "b.gz".into()]));
    }

    #[test]
    fn stars_and_question_marks() {
        assert!(matches("mypkg-*.whl", "mypkg-1.0-py3-none-any.whl"));
        assert!(matches("mypkg-*.whl", "mypkg-.whl"));
        assert!(!matches("mypkg-*.whl", "mypkg-1.0.tar.gz"));
        assert!(!matches("mypkg-*.whl", "other-mypkg-1.0.whl"));
        assert!(matches("*", ""));
        assert!(matches("*", "anything"));
        assert!(matches("a?c", "abc"));
        assert!(!matches("a?c", "ac"));
        assert!(matches("a*b*c", "a-b-b-c"));
        assert!(!matches("a*b*c", "a-b-b-"));
        assert!(matches("*.tar.gz", "x.tar.gz.tar.gz"));
        assert!(matches("**x", "yyx"));
        assert!(matches("é?*", "éλ"));
        assert!(!matches("exact", "exact2"));
        assert!(!matches("", "x"));
        assert!(matches("", ""));
        assert!(!matches("Mypkg*", "mypkg"));
    }

    #[test]
    fn patterns_with_paths_are_refused() {
        assert!(
            check_pattern("dist/*.whl")
                .unwrap_err()
                .contains("\"*.whl\"")
        );
        assert!(check_pattern("").is_err());
        assert!(check_pattern("*.whl").is_ok());
    }
}
