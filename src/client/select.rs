//! Choosing a key from the agent's list: `id:<prefix>`, `label:<label>`, `pkcs11:…`, or a bare
//! string tried as an id prefix, then as a label; none when the agent has exactly one key.

use crate::error::{Error, Result};
use crate::key::KeyMeta;
use crate::keyspec::{self, Form};
use crate::text::{self, Escaped};

/// The agent's keys for an error message: its labels, ids and names escaped (a remote agent
/// or a card chose them; the message ends on a terminal).
fn list(keys: &[&KeyMeta]) -> String {
    keys.iter()
        .map(|k| {
            format!(
                "  {} (id:{}, {})",
                Escaped::name(&k.label),
                k.id.short(),
                k.algorithm()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn one<'a>(spec: &str, found: Vec<&'a KeyMeta>) -> Result<Option<&'a KeyMeta>> {
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.into_iter().next()),
        _ => Err(Error::KeySelection(format!(
            "{spec:?} matches several keys:\n{}\n  hint: use a longer id: prefix",
            list(&found)
        ))),
    }
}

/// A key selection that failed may be explained by a token the agent cannot use (a card held
/// exclusively by another program, a token gone): add what `status@hwsign` says about it.
pub fn explain(client: &mut crate::client::AgentClient, err: Error) -> Error {
    let Error::KeySelection(msg) = err else {
        return err;
    };
    // One note per problem: both card workers report a card another program holds.
    let mut grouped: Vec<(Vec<String>, String)> = Vec::new();
    for t in client.status().map(|s| s.tokens).unwrap_or_default() {
        if t.problem.is_empty() {
            continue;
        }
        match grouped.iter_mut().find(|(_, p)| *p == t.problem) {
            Some((labels, _)) => labels.push(text::name(&t.label)),
            None => grouped.push((vec![text::name(&t.label)], t.problem)),
        }
    }
    let problems: Vec<String> = grouped
        .into_iter()
        .map(|(labels, problem)| {
            format!(
                "  note: {}: {}",
                labels.join(", "),
                Escaped::message(&problem)
            )
        })
        .collect();
    if problems.is_empty() {
        Error::KeySelection(msg)
    } else {
        Error::KeySelection(format!("{msg}\n{}", problems.join("\n")))
    }
}

/// The key `spec` names (or `default`, or the only key) among the agent's keys: from its recent
/// listing, or, when that has no match, from a listing made now (a key that just appeared);
/// errors name what the agent has and the problems its tokens report.
pub fn pick(
    client: &mut crate::client::AgentClient,
    spec: Option<&str>,
    default: Option<&str>,
) -> Result<KeyMeta> {
    // A named key from the recent listing; "the only key" only from a fresh one (a second
    // token may have come since). An agent that does not know recent listings (older, or an
    // error) gets the fresh request.
    if spec.or(default).is_some() {
        if let Ok(recent) = client.recent_keys() {
            if let Ok(key) = select(&recent, spec, default) {
                return Ok(key.clone());
            }
        }
    }
    let keys = client.keys()?;
    match select(&keys, spec, default) {
        Ok(key) => Ok(key.clone()),
        Err(e) => Err(explain(client, e)),
    }
}

/// Pick the key `spec` names (or the default, or the only key).
pub fn select<'a>(
    keys: &'a [KeyMeta],
    spec: Option<&str>,
    default: Option<&str>,
) -> Result<&'a KeyMeta> {
    let Some(spec) = spec.or(default) else {
        return match keys {
            [only] => Ok(only),
            [] => Err(Error::KeySelection(
                "the agent has no keys\n  hint: `hwsign status` shows its tokens".into(),
            )),
            many => Err(Error::KeySelection(format!(
                "the agent has {} keys; choose one with --key:\n{}",
                many.len(),
                list(&many.iter().collect::<Vec<_>>())
            ))),
        };
    };
    let pick =
        |pred: &dyn Fn(&KeyMeta) -> bool| keys.iter().filter(|k| pred(k)).collect::<Vec<_>>();
    let found = match keyspec::parse(spec) {
        Form::IdPrefix(p) => one(spec, pick(&|k| keyspec::id_matches(p, k)))?,
        Form::Label(l) => one(spec, pick(&|k| k.label == l))?,
        Form::Pkcs11Uri(u) => {
            crate::pkcs11_uri::parse(u).map_err(Error::KeySelection)?;
            one(spec, pick(&|k| keyspec::uri_matches(u, k)))?
        }
        // A bare string: an id prefix first, then a label.
        Form::Bare(s) => match if keyspec::looks_like_id(s) {
            one(spec, pick(&|k| keyspec::id_matches(s, k)))?
        } else {
            None
        } {
            Some(k) => Some(k),
            None => one(spec, pick(&|k| k.label == s))?,
        },
    };
    found.ok_or_else(|| {
        let all: Vec<&KeyMeta> = keys.iter().collect();
        Error::KeySelection(format!(
            "no key matches {spec:?}; the agent has:\n{}",
            list(&all)
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key whose id starts with `prefix` (the rest zeros).
    fn key(prefix: &str, label: &str) -> KeyMeta {
        KeyMeta {
            id: crate::key::KeyId::parse(&format!("{prefix:0<64}")).unwrap(),
            label: label.into(),
            pkcs11_uri: Some(format!("pkcs11:token=t;object={label};type=private")),
            ..crate::proto::keys::sample_key()
        }
    }

    #[test]
    fn the_agents_labels_are_escaped_in_errors() {
        let keys = vec![
            key("ee", "evil\n  release (id:0000, ed25519)\u{1b}[2K"),
            key("abcd", "plain"),
        ];
        let Err(Error::KeySelection(msg)) = select(&keys, Some("label:nope"), None) else {
            panic!("expected a key selection error");
        };
        assert_eq!(msg.lines().count(), 3, "{msg}");
        assert!(
            msg.contains(
                "  evil\\n  release (id:0000, ed25519)\\x1b[2K (id:ee00000000000000, ed25519)"
            ),
            "{msg}"
        );
        assert!(!msg.contains('\u{1b}'));
    }

    #[test]
    fn forms() {
        let keys = vec![
            key("abcd1234", "one"),
            key("abce9999", "two"),
            key("ffff0000", "beef"),
        ];
        assert_eq!(select(&keys, Some("id:abcd"), None).unwrap().label, "one");
        assert_eq!(select(&keys, Some("label:two"), None).unwrap().label, "two");
        assert_eq!(
            select(&keys, Some("pkcs11:object=beef"), None)
                .unwrap()
                .label,
            "beef"
        );
        assert_eq!(select(&keys, Some("beef"), None).unwrap().label, "beef");
        assert_eq!(select(&keys, Some("ffff"), None).unwrap().label, "beef");
        assert!(
            select(&keys, Some("id:abc"), None)
                .unwrap_err()
                .to_string()
                .contains("several")
        );
        assert!(
            select(&keys, None, None)
                .unwrap_err()
                .to_string()
                .contains("--key")
        );
        assert_eq!(select(&keys, None, Some("two")).unwrap().label, "two");
        assert!(
            select(&keys, Some("nope"), None)
                .unwrap_err()
                .to_string()
                .contains("no key")
        );
    }
}
