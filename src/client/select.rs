//! Choosing a key from the agent's list: `id:<prefix>`, `label:<label>`, `pkcs11:…`, or a bare
//! string tried as an id prefix, then as a label; none when the agent has exactly one key.

use crate::error::{Error, Result};
use crate::proto::keys::KeyEntry;

fn list(keys: &[&KeyEntry]) -> String {
    keys.iter()
        .map(|k| {
            format!(
                "  {} (id:{}, {})",
                k.label,
                &k.id[..16.min(k.id.len())],
                k.algorithm
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn one<'a>(spec: &str, found: Vec<&'a KeyEntry>) -> Result<Option<&'a KeyEntry>> {
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.into_iter().next()),
        _ => Err(Error::KeySelection(format!(
            "{spec:?} matches several keys:\n{}\n  hint: use a longer id: prefix",
            list(&found)
        ))),
    }
}

/// Pick the key `spec` names (or the default, or the only key).
pub fn select<'a>(
    keys: &'a [KeyEntry],
    spec: Option<&str>,
    default: Option<&str>,
) -> Result<&'a KeyEntry> {
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
    let by_id = |prefix: &str| {
        let p = prefix.to_ascii_lowercase();
        keys.iter()
            .filter(|k| k.id.starts_with(&p))
            .collect::<Vec<_>>()
    };
    let by_label = |label: &str| keys.iter().filter(|k| k.label == label).collect::<Vec<_>>();
    let found = if let Some(p) = spec.strip_prefix("id:") {
        one(spec, by_id(p))?
    } else if let Some(l) = spec.strip_prefix("label:") {
        one(spec, by_label(l))?
    } else if spec.starts_with("pkcs11:") {
        let mut hits = Vec::new();
        for k in keys {
            if !k.pkcs11_uri.is_empty()
                && crate::pkcs11_uri::matches(spec, &k.pkcs11_uri).map_err(Error::KeySelection)?
            {
                hits.push(k);
            }
        }
        one(spec, hits)?
    } else {
        let hexlike = spec.len() >= 4 && spec.bytes().all(|b| b.is_ascii_hexdigit());
        match if hexlike {
            one(spec, by_id(spec))?
        } else {
            None
        } {
            Some(k) => Some(k),
            None => one(spec, by_label(spec))?,
        }
    };
    found.ok_or_else(|| {
        let all: Vec<&KeyEntry> = keys.iter().collect();
        Error::KeySelection(format!(
            "no key matches {spec:?}; the agent has:\n{}",
            list(&all)
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, label: &str) -> KeyEntry {
        KeyEntry {
            id: id.into(),
            label: label.into(),
            algorithm: "ed25519".into(),
            backend: "pkcs11".into(),
            token_label: "t".into(),
            token_serial: "1".into(),
            object: String::new(),
            ssh_public_key: String::new(),
            touch_policy: "never".into(),
            pin_policy: "once".into(),
            pkcs11_uri: format!("pkcs11:token=t;object={label};type=private"),
            remote: false,
            created: 0,
        }
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
