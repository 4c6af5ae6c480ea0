//! SSH wire primitives (`uint32`, `string`, name lists) for the hwsign message bodies.

use super::ProtoError;

/// Appends SSH wire values to a buffer.
#[derive(Default, Debug)]
pub struct Enc(pub Vec<u8>);

impl Enc {
    /// A `uint32`.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// A `uint64`.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// A single byte.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    /// A `string` (length-prefixed bytes).
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.u32(v.len() as u32);
        self.0.extend_from_slice(v);
        self
    }
    /// A UTF-8 `string`.
    pub fn str(&mut self, v: &str) -> &mut Self {
        self.bytes(v.as_bytes())
    }
    /// A list of strings: a count, then each string.
    pub fn strs(&mut self, v: &[String]) -> &mut Self {
        self.u32(v.len() as u32);
        for s in v {
            self.str(s);
        }
        self
    }
    /// A boolean as one byte.
    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.u8(u8::from(v))
    }
}

/// Reads SSH wire values from a byte slice, never trusting announced lengths.
#[derive(Debug)]
pub struct Dec<'a>(pub &'a [u8]);

impl<'a> Dec<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtoError> {
        if self.0.len() < n {
            return Err(ProtoError::Truncated);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    /// A `uint32`.
    pub fn u32(&mut self) -> Result<u32, ProtoError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// A `uint64`.
    pub fn u64(&mut self) -> Result<u64, ProtoError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }
    /// A single byte.
    pub fn u8(&mut self) -> Result<u8, ProtoError> {
        Ok(self.take(1)?[0])
    }
    /// A boolean byte.
    pub fn bool(&mut self) -> Result<bool, ProtoError> {
        Ok(self.u8()? != 0)
    }
    /// A `string` as bytes.
    pub fn bytes(&mut self) -> Result<Vec<u8>, ProtoError> {
        let n = self.u32()? as usize;
        Ok(self.take(n)?.to_vec())
    }
    /// A UTF-8 `string`.
    pub fn str(&mut self) -> Result<String, ProtoError> {
        String::from_utf8(self.bytes()?)
            .map_err(|_| ProtoError::Invalid("string is not UTF-8".into()))
    }
    /// A list of strings.
    pub fn strs(&mut self) -> Result<Vec<String>, ProtoError> {
        let n = self.u32()? as usize;
        // Each string needs at least 4 bytes: refuse counts the input cannot hold.
        if n > self.0.len() / 4 {
            return Err(ProtoError::Truncated);
        }
        (0..n).map(|_| self.str()).collect()
    }
    /// Fail if bytes are left over.
    pub fn finish(&self) -> Result<(), ProtoError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ProtoError::Trailing(self.0.len()))
        }
    }
    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.0.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_refuse_lies() {
        let mut e = Enc::default();
        e.u32(7)
            .str("héllo")
            .strs(&["a".into(), "".into()])
            .bool(true);
        let mut d = Dec(&e.0);
        assert_eq!(d.u32().unwrap(), 7);
        assert_eq!(d.str().unwrap(), "héllo");
        assert_eq!(d.strs().unwrap(), vec!["a".to_string(), String::new()]);
        assert!(d.bool().unwrap());
        d.finish().unwrap();
        // A string announcing more than is there.
        let mut d = Dec(&[0, 0, 0, 9, 1, 2]);
        assert!(matches!(d.bytes(), Err(ProtoError::Truncated)));
        // A list announcing four billion entries.
        let mut d = Dec(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
        assert!(matches!(d.strs(), Err(ProtoError::Truncated)));
    }
}
