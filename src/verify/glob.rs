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
