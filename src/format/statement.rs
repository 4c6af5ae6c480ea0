//! in-toto Statement v1: subjects (name + sha256) and a predicate; the default predicate is
//! the in-toto Release predicate.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The Statement `_type`.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The in-toto Release predicate type.
pub const RELEASE_PREDICATE: &str = "https://in-toto.io/attestation/release/v0.1";
/// The DSSE payload type of in-toto statements.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// One artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// The artifact's name (its file name).
    pub name: String,
    /// Digests by algorithm (`sha256` → lowercase hex).
    pub digest: BTreeMap<String, String>,
}

impl Subject {
    /// A subject with a SHA-256 digest.
    pub fn sha256(name: impl Into<String>, hex: impl Into<String>) -> Self {
        Subject {
            name: name.into(),
            digest: BTreeMap::from([("sha256".to_string(), hex.into())]),
        }
    }
}

/// An in-toto Statement v1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    /// Always [`STATEMENT_TYPE`].
    #[serde(rename = "_type")]
    pub type_: String,
    /// The artifacts.
    pub subject: Vec<Subject>,
    /// The predicate's type URI.
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    /// The predicate (e.g. the in-toto Release predicate), as JSON.
    pub predicate: serde_json::Value,
}

impl Statement {
    /// A statement over `subject` with the in-toto Release predicate for `purl`.
    pub fn release(subject: Vec<Subject>, purl: &str) -> Self {
        Statement {
            type_: STATEMENT_TYPE.into(),
            subject,
            predicate_type: RELEASE_PREDICATE.into(),
            predicate: serde_json::json!({ "purl": purl }),
        }
    }

    /// A statement with any predicate.
    pub fn new(subject: Vec<Subject>, predicate_type: &str, predicate: serde_json::Value) -> Self {
        Statement {
            type_: STATEMENT_TYPE.into(),
            subject,
            predicate_type: predicate_type.into(),
            predicate,
        }
    }
}

/// The subject names of a statement, by index: a slice of names, or names read from
/// something else (a release's paths) without a vector of them.
pub trait SubjectNames {
    /// How many subjects.
    fn count(&self) -> usize;
    /// Subject `i`'s name.
    fn name(&self, i: usize) -> &str;
}

impl<S: AsRef<str>> SubjectNames for [S] {
    fn count(&self) -> usize {
        self.len()
    }
    fn name(&self, i: usize) -> &str {
        self[i].as_ref()
    }
}

/// A statement serialized straight from its parts, byte for byte as [`Statement`] would be,
/// without a [`Subject`] (and its map) per file: `sha256(i)` gives subject `i`'s digest in hex.
pub struct StatementParts<'a, N: SubjectNames + ?Sized, F: Fn(usize) -> String> {
    /// The subject names.
    pub names: &'a N,
    /// Subject `i`'s SHA-256 in lowercase hex.
    pub sha256: F,
    /// The predicate's type URI.
    pub predicate_type: &'a str,
    /// The predicate, written as it is.
    pub predicate: &'a serde_json::Value,
}

impl<N: SubjectNames + ?Sized, F: Fn(usize) -> String> Serialize for StatementParts<'_, N, F> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        struct Subjects<'b, N: SubjectNames + ?Sized, G: Fn(usize) -> String>(&'b N, &'b G);
        impl<N: SubjectNames + ?Sized, G: Fn(usize) -> String> Serialize for Subjects<'_, N, G> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                #[derive(Serialize)]
                struct One<'c> {
                    name: &'c str,
                    digest: Sha,
                }
                #[derive(Serialize)]
                struct Sha {
                    sha256: String,
                }
                s.collect_seq((0..self.0.count()).map(|i| One {
                    name: self.0.name(i),
                    digest: Sha {
                        sha256: (self.1)(i),
                    },
                }))
            }
        }
        let mut st = s.serialize_struct("Statement", 4)?;
        st.serialize_field("_type", STATEMENT_TYPE)?;
        st.serialize_field("subject", &Subjects(self.names, &self.sha256))?;
        st.serialize_field("predicateType", self.predicate_type)?;
        st.serialize_field("predicate", self.predicate)?;
        st.end()
    }
}

impl<N: SubjectNames + ?Sized, F: Fn(usize) -> String> StatementParts<'_, N, F> {
    /// The length of the compact JSON serialization.
    pub fn len(&self) -> usize {
        struct Count(usize);
        impl std::io::Write for Count {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0 += buf.len();
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut c = Count(0);
        // Writing to a counter cannot fail, and the parts serialize.
        let _ = serde_json::to_writer(&mut c, self);
        c.0
    }

    /// Whether it is empty (never: a statement has its braces).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The DSSE PAE of the statement (payload type `payload_type`) in one buffer: the payload
    /// is written in place after the PAE header, never copied; it is
    /// `pae[pae.len() - payload_len..]`.
    pub fn pae(&self, payload_type: &str) -> Result<Vec<u8>, super::FormatError> {
        let len = self.len();
        let header = format!("DSSEv1 {} {payload_type} {len} ", payload_type.len());
        let mut out = Vec::with_capacity(header.len() + len);
        out.extend_from_slice(header.as_bytes());
        serde_json::to_writer(&mut out, self)?;
        if out.len() != header.len() + len {
            return Err(super::FormatError::Invalid(
                "the statement changed length while it was written".into(),
            ));
        }
        Ok(out)
    }
}

/// What a person or a log is shown of a statement: its predicate type, how many subjects it
/// has, the first few of them, and the SHA-256 of the whole payload. Made by [`summarize`] in
/// one pass over the bytes without building the statement (a 100,000-subject statement is
/// tens of MB; its summary is a few KB).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// `_type`, if it is a string.
    pub statement_type: Option<String>,
    /// `predicateType`, if it is a string.
    pub predicate_type: Option<String>,
    /// How many subjects it has.
    pub subject_count: usize,
    /// The first subjects: name (cut at [`SUMMARY_NAME_MAX`] bytes) and SHA-256 digest (hex, if
    /// the subject has one).
    pub subjects: Vec<(String, Option<String>)>,
    /// SHA-256 of the payload (the statement's bytes as signed).
    pub payload_sha256: [u8; 32],
}

/// Subject names kept in a [`Summary`] are cut to this many bytes.
pub const SUMMARY_NAME_MAX: usize = 1024;

/// Summarize the statement in `payload`, keeping the first `keep` subjects; `None` when it is
/// not a JSON object.
pub fn summarize(payload: &[u8], keep: usize) -> Option<Summary> {
    use sha2::Digest;
    let mut de = serde_json::Deserializer::from_slice(payload);
    let mut summary =
        serde::de::DeserializeSeed::deserialize(summary_seed::Top { keep }, &mut de).ok()?;
    de.end().ok()?;
    summary.payload_sha256 = sha2::Sha256::digest(payload).into();
    Some(summary)
}

mod summary_seed {
    use std::fmt;

    use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

    use super::{SUMMARY_NAME_MAX, Summary};

    fn cut(mut s: String) -> String {
        if s.len() > SUMMARY_NAME_MAX {
            let mut end = SUMMARY_NAME_MAX;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s.truncate(end);
        }
        s
    }

    pub(super) struct Top {
        pub keep: usize,
    }

    impl<'de> DeserializeSeed<'de> for Top {
        type Value = Summary;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Summary, D::Error> {
            d.deserialize_map(self)
        }
    }

    impl<'de> Visitor<'de> for Top {
        type Value = Summary;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an in-toto statement")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Summary, A::Error> {
            let mut out = Summary {
                statement_type: None,
                predicate_type: None,
                subject_count: 0,
                subjects: Vec::new(),
                payload_sha256: [0; 32],
            };
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                match key.as_ref() {
                    "subject" => {
                        let (count, first) = map.next_value_seed(Subjects { keep: self.keep })?;
                        out.subject_count = count;
                        out.subjects = first;
                    }
                    "predicateType" => out.predicate_type = map.next_value::<Text>()?.0,
                    "_type" => out.statement_type = map.next_value::<Text>()?.0,
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            Ok(out)
        }
    }

    /// A string (cut), or anything else as `None`.
    struct Text(Option<String>);

    impl<'de> serde::Deserialize<'de> for Text {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Text;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("any value")
                }
                fn visit_str<E>(self, v: &str) -> Result<Text, E> {
                    Ok(Text(Some(cut(v.to_string()))))
                }
                fn visit_string<E>(self, v: String) -> Result<Text, E> {
                    Ok(Text(Some(cut(v))))
                }
                fn visit_bool<E>(self, _: bool) -> Result<Text, E> {
                    Ok(Text(None))
                }
                fn visit_i64<E>(self, _: i64) -> Result<Text, E> {
                    Ok(Text(None))
                }
                fn visit_u64<E>(self, _: u64) -> Result<Text, E> {
                    Ok(Text(None))
                }
                fn visit_f64<E>(self, _: f64) -> Result<Text, E> {
                    Ok(Text(None))
                }
                fn visit_unit<E>(self) -> Result<Text, E> {
                    Ok(Text(None))
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Text, A::Error> {
                    while a.next_element::<IgnoredAny>()?.is_some() {}
                    Ok(Text(None))
                }
                fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Text, A::Error> {
                    while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                    Ok(Text(None))
                }
            }
            d.deserialize_any(V)
        }
    }

    struct Subjects {
        keep: usize,
    }

    type Kept = (usize, Vec<(String, Option<String>)>);

    impl<'de> DeserializeSeed<'de> for Subjects {
        type Value = Kept;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Kept, D::Error> {
            d.deserialize_seq(self)
        }
    }

    impl<'de> Visitor<'de> for Subjects {
        type Value = Kept;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of subjects")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Kept, A::Error> {
            let mut count = 0;
            let mut first = Vec::new();
            loop {
                if count < self.keep {
                    match seq.next_element::<OneSubject>()? {
                        Some(s) => first.push((s.name.unwrap_or_default(), s.sha256)),
                        None => break,
                    }
                } else if seq.next_element::<IgnoredAny>()?.is_none() {
                    break;
                }
                count += 1;
            }
            Ok((count, first))
        }
    }

    /// One subject's name and SHA-256 digest; other fields are skipped.
    struct OneSubject {
        name: Option<String>,
        sha256: Option<String>,
    }

    impl<'de> serde::Deserialize<'de> for OneSubject {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = OneSubject;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("a subject")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OneSubject, A::Error> {
                    let mut s = OneSubject {
                        name: None,
                        sha256: None,
                    };
                    while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                        match key.as_ref() {
                            "name" => s.name = map.next_value::<Text>()?.0,
                            "digest" => {
                                let digests: std::collections::BTreeMap<String, Text> =
                                    map.next_value()?;
                                s.sha256 = digests.get("sha256").and_then(|t| t.0.clone());
                            }
                            _ => {
                                map.next_value::<IgnoredAny>()?;
                            }
                        }
                    }
                    Ok(s)
                }
            }
            d.deserialize_map(V)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_serialize_as_the_statement_does() {
        let names: Vec<String> = ["a", "dir/b\"q", "é"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let hex = |i: usize| format!("{i:064x}");
        let predicate = serde_json::json!({"purl": "pkg:generic/x@1"});
        let parts = StatementParts {
            names: names.as_slice(),
            sha256: hex,
            predicate_type: RELEASE_PREDICATE,
            predicate: &predicate,
        };
        let st = Statement::release(
            names
                .iter()
                .enumerate()
                .map(|(i, n)| Subject::sha256(n.clone(), hex(i)))
                .collect(),
            "pkg:generic/x@1",
        );
        let want = serde_json::to_vec(&st).unwrap();
        assert_eq!(serde_json::to_vec(&parts).unwrap(), want);
        assert_eq!(parts.len(), want.len());
        let pae = parts.pae(PAYLOAD_TYPE).unwrap();
        assert_eq!(pae, super::super::dsse::pae(PAYLOAD_TYPE, &want));
        assert_eq!(pae.capacity(), pae.len());
    }

    #[test]
    fn a_summary_keeps_the_first_subjects_and_counts_the_rest() {
        let subjects: Vec<Subject> = (0..1000)
            .map(|i| Subject::sha256(format!("dir/f{i}"), format!("{i:064x}")))
            .collect();
        let st = Statement::release(subjects, "pkg:generic/x@1");
        let payload = serde_json::to_vec(&st).unwrap();
        let s = summarize(&payload, 3).unwrap();
        assert_eq!(s.subject_count, 1000);
        assert_eq!(s.statement_type.as_deref(), Some(STATEMENT_TYPE));
        assert_eq!(s.predicate_type.as_deref(), Some(RELEASE_PREDICATE));
        assert_eq!(
            s.subjects,
            (0..3)
                .map(|i| (format!("dir/f{i}"), Some(format!("{i:064x}"))))
                .collect::<Vec<_>>()
        );
        use sha2::Digest;
        assert_eq!(
            s.payload_sha256,
            <[u8; 32]>::from(sha2::Sha256::digest(&payload))
        );
        // Escapes decoded, long names cut, odd shapes tolerated, non-JSON refused.
        let odd = format!(
            r#"{{"predicateType": 7, "subject": [{{"name": "a\nb"}}, {{"name": "{}", "digest": {{"sha256": 1}}}}], "extra": [1, {{}}]}}"#,
            "é".repeat(3000)
        );
        let s = summarize(odd.as_bytes(), 10).unwrap();
        assert_eq!(s.predicate_type, None);
        assert_eq!(s.subject_count, 2);
        assert_eq!(s.subjects[0], ("a\nb".to_string(), None));
        assert_eq!(s.subjects[1].0.len(), SUMMARY_NAME_MAX);
        assert!(summarize(b"[1, 2]", 3).is_none());
        assert!(summarize(b"{} trailing", 3).is_none());
    }
}
