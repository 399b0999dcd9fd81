//! LEB128 varints for group ids: 7 bits a byte, low bits first, the high
//! bit set on every byte but the last. At most 10 bytes; a longer or
//! overflowing encoding, or a needless trailing zero byte, is refused, so
//! every id has exactly one encoding.

/// Longest encoding of a `u64`.
pub const MAX_LEN: usize = 10;

/// Writes `v` into `out` and returns the bytes used.
pub fn encode(mut v: u64, out: &mut [u8; MAX_LEN]) -> usize {
    let mut n = 0;
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out[n] = b;
            return n + 1;
        }
        out[n] = b | 0x80;
        n += 1;
    }
}

/// The length of `v`'s encoding.
pub const fn len(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Appends `v` to `out`.
pub fn push(v: u64, out: &mut Vec<u8>) {
    let mut b = [0u8; MAX_LEN];
    let n = encode(v, &mut b);
    out.extend_from_slice(&b[..n]);
}

/// Reads a varint at the start of `b`: `(value, bytes used)`.
pub fn decode(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &byte) in b.iter().take(MAX_LEN).enumerate() {
        let bits = u64::from(byte & 0x7f);
        if i == MAX_LEN - 1 && bits > 1 {
            return None; // overflow
        }
        v |= bits << (7 * i);
        if byte & 0x80 == 0 {
            if i > 0 && byte == 0 {
                return None; // not the shortest encoding
            }
            return Some((v, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        for v in [0, 1, 127, 128, 300, 16_383, 16_384, u64::from(u32::MAX), u64::MAX - 1, u64::MAX] {
            let mut b = [0u8; MAX_LEN];
            let n = encode(v, &mut b);
            assert_eq!(decode(&b[..n]), Some((v, n)), "{v}");
            assert_eq!(len(v), n, "{v}");
            assert_eq!(decode(&b[..n - 1]), None, "{v} cut short");
        }
        assert_eq!(decode(&[0x80, 0x00]), None, "overlong zero");
        assert_eq!(decode(&[0xff; 10]), None, "overflow");
        assert_eq!(decode(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]), None);
        assert_eq!(decode(&[]), None);
    }
}
