//! The bytes of an audit record, as they are hashed and written.

use serde_json::{Map, Value};

/// A record's bytes as they are hashed and written: compact JSON, object keys in byte order
/// at every level, strings and numbers as serde_json writes them. This is what every release
/// has written (serde_json's default map sorts its keys), made explicit here, so that neither
/// a crate feature (`preserve_order`) nor the order a record was built in can change a hash:
/// old logs keep verifying, new records hash the same wherever they are made.
pub fn canonical(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_canonical(value, &mut out);
    out
}

/// [`canonical`] of the object `m` without its member `skip` (a record without its `hash`,
/// which is what the hash covers), without copying the record.
pub fn canonical_without(m: &Map<String, Value>, skip: &str) -> Vec<u8> {
    let mut out = Vec::new();
    write_object(m, Some(skip), &mut out);
    out
}

fn write_object(m: &Map<String, Value>, skip: Option<&str>, out: &mut Vec<u8>) {
    let mut keys: Vec<&String> = m.keys().filter(|k| Some(k.as_str()) != skip).collect();
    keys.sort();
    out.push(b'{');
    for (i, k) in keys.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // Writing a string into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, k.as_str());
        out.push(b':');
        write_canonical(&m[k], out);
    }
    out.push(b'}');
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(m) => write_object(m, None, out),
        Value::Array(a) => {
            out.push(b'[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(v, out);
            }
            out.push(b']');
        }
        scalar => write_scalar(scalar, out),
    }
}

fn write_scalar(v: &Value, out: &mut Vec<u8>) {
    // Writing a string, number, bool or null into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, v);
}
