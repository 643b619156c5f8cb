//! The RTP fixed header (RFC 3550 §5.1) for the carrier leg, which is plain RTP/AVP over UDP.
//! The browser leg's RTP is str0m's business.
//!
//! Parsing keeps what the relay needs: payload type, marker, sequence number, timestamp, SSRC
//! and the payload with CSRCs, header extension and padding removed. Writing emits the bare
//! 12-byte header.

use thiserror::Error;

/// The fixed header's length.
pub const HEADER_LEN: usize = 12;

const VERSION: u8 = 2;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpPacket {
    /// Payload type, 7 bits.
    pub pt: u8,
    pub marker: bool,
    pub seq: u16,
    pub ts: u32,
    pub ssrc: u32,
    pub payload: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RtpError {
    /// Shorter than its headers say (or than 12 bytes).
    #[error("truncated RTP packet")]
    Truncated,
    #[error("RTP version {0}, expected 2")]
    BadVersion(u8),
    /// An RTCP packet (RFC 5761 §4: second byte 200..=207) on the RTP port, to be ignored.
    #[error("RTCP packet, not RTP")]
    Rtcp,
    /// The padding count is 0 or longer than the payload.
    #[error("bad RTP padding")]
    BadPadding,
}

impl RtpPacket {
    pub fn parse(data: &[u8]) -> Result<RtpPacket, RtpError> {
        let [first, second, ..] = *data else {
            return Err(RtpError::Truncated);
        };
        let version = first >> 6;
        if version != VERSION {
            return Err(RtpError::BadVersion(version));
        }
        if (200..=207).contains(&second) {
            return Err(RtpError::Rtcp);
        }
        if data.len() < HEADER_LEN {
            return Err(RtpError::Truncated);
        }
        let padding = first & 0x20 != 0;
        let extension = first & 0x10 != 0;
        let csrc_count = usize::from(first & 0x0F);

        let mut start = HEADER_LEN + 4 * csrc_count;
        if extension {
            // 16-bit profile-defined id, 16-bit length in 32-bit words, then the words.
            let words = data.get(start + 2..start + 4).ok_or(RtpError::Truncated)?;
            start += 4 + 4 * usize::from(u16::from_be_bytes([words[0], words[1]]));
        }
        let mut end = data.len();
        if start > end {
            return Err(RtpError::Truncated);
        }
        if padding {
            let count = usize::from(data[end - 1]);
            if count == 0 || count > end - start {
                return Err(RtpError::BadPadding);
            }
            end -= count;
        }

        Ok(RtpPacket {
            pt: second & 0x7F,
            marker: second & 0x80 != 0,
            seq: u16::from_be_bytes([data[2], data[3]]),
            ts: u32::from_be_bytes([data[4], data[5], data[6], data[7]]),
            ssrc: u32::from_be_bytes([data[8], data[9], data[10], data[11]]),
            payload: data[start..end].to_vec(),
        })
    }

    /// The packet with a 12-byte header: no padding, extension or CSRCs. `pt` is masked to
    /// 7 bits.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.payload.len());
        out.push(VERSION << 6);
        out.push(u8::from(self.marker) << 7 | (self.pt & 0x7F));
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.ts.to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        out.extend_from_slice(&self.payload);
        out
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn packet() -> RtpPacket {
        RtpPacket { pt: 8, marker: true, seq: 0xBEEF, ts: 0xDEAD_BEEF, ssrc: 0x1234_5678, payload: vec![1, 2, 3, 4] }
    }

    /// A header with the given first byte, PT 0, seq 1, ts 2, SSRC 3.
    fn header(first: u8) -> Vec<u8> {
        vec![first, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3]
    }

    #[test]
    fn writes_the_fixed_header() {
        assert_eq!(
            packet().to_bytes(),
            [0x80, 0x88, 0xBE, 0xEF, 0xDE, 0xAD, 0xBE, 0xEF, 0x12, 0x34, 0x56, 0x78, 1, 2, 3, 4]
        );
    }

    #[test]
    fn round_trips() {
        let p = packet();
        assert_eq!(RtpPacket::parse(&p.to_bytes()), Ok(p));
        let empty = RtpPacket { pt: 101, marker: false, seq: 0, ts: 0, ssrc: 0, payload: vec![] };
        assert_eq!(RtpPacket::parse(&empty.to_bytes()), Ok(empty));
    }

    #[test]
    fn skips_csrcs_extension_and_padding() {
        // CC = 2, X, P: 2 CSRCs, a one-word extension, payload [9, 9], 3 bytes of padding.
        let mut data = header(0x80 | 0x20 | 0x10 | 2);
        data.extend_from_slice(&[0, 0, 0, 7, 0, 0, 0, 8]); // CSRCs
        data.extend_from_slice(&[0xBE, 0xDE, 0, 1, 0x10, 0xAA, 0, 0]); // extension, one word
        data.extend_from_slice(&[9, 9, 0, 0, 3]);
        let p = RtpPacket::parse(&data).unwrap();
        assert_eq!((p.pt, p.seq, p.ts, p.ssrc, p.payload), (0, 1, 2, 3, vec![9, 9]));
    }

    #[test]
    fn padding_may_take_the_whole_payload() {
        let mut data = header(0xA0);
        data.extend_from_slice(&[0, 0, 0, 4]);
        assert_eq!(RtpPacket::parse(&data).unwrap().payload, Vec::<u8>::new());
    }

    #[test]
    fn rejects_malformed() {
        let with = |first: u8, tail: &[u8]| [header(first).as_slice(), tail].concat();
        let cases: [(&str, Vec<u8>, RtpError); 11] = [
            ("empty", vec![], RtpError::Truncated),
            ("one byte", vec![0x80], RtpError::Truncated),
            ("short header", header(0x80)[..11].to_vec(), RtpError::Truncated),
            ("version 0", header(0x00), RtpError::BadVersion(0)),
            ("version 1", header(0x40), RtpError::BadVersion(1)),
            ("version 3", header(0xC0), RtpError::BadVersion(3)),
            ("CSRCs missing", with(0x81, &[0, 0, 0]), RtpError::Truncated),
            ("extension header missing", with(0x90, &[0xBE, 0xDE]), RtpError::Truncated),
            ("extension words missing", with(0x90, &[0xBE, 0xDE, 0, 2, 0, 0, 0, 0]), RtpError::Truncated),
            ("zero padding", with(0xA0, &[1, 0]), RtpError::BadPadding),
            ("padding too long", with(0xA0, &[1, 3]), RtpError::BadPadding),
        ];
        for (name, data, error) in cases {
            assert_eq!(RtpPacket::parse(&data), Err(error), "{name}");
        }
        // Padding flag with no byte after the header at all.
        assert_eq!(RtpPacket::parse(&header(0xA0)), Err(RtpError::BadPadding));
    }

    #[test]
    fn recognises_rtcp() {
        // SR, RR, SDES, BYE, APP and the rest of 200..=207, even when shorter than 12 bytes.
        for pt in 200..=207u8 {
            assert_eq!(RtpPacket::parse(&[0x81, pt, 0, 1, 0, 0, 0, 1]), Err(RtpError::Rtcp), "PT {pt}");
        }
        // 199 and 208 would be RTP PT 71 and 80 with the marker set.
        assert_eq!(RtpPacket::parse(&header(0x80)[..2]), Err(RtpError::Truncated));
        let mut data = header(0x80);
        data[1] = 199;
        assert_eq!(RtpPacket::parse(&data).map(|p| (p.marker, p.pt)), Ok((true, 71)));
    }

    proptest! {
        #[test]
        fn parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = RtpPacket::parse(&data);
        }

        #[test]
        fn parse_never_panics_on_rtp_like_input(
            first in 0x80u8..=0xBF,
            rest in proptest::collection::vec(any::<u8>(), 0..80),
        ) {
            let data = [&[first][..], &rest].concat();
            if let Ok(p) = RtpPacket::parse(&data) {
                prop_assert!(p.payload.len() + HEADER_LEN <= data.len());
            }
        }

        #[test]
        fn round_trips_any_packet(
            pt in 0u8..128,
            marker: bool,
            seq: u16,
            ts: u32,
            ssrc: u32,
            payload in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            // PT 72..=79 with the marker set is indistinguishable from RTCP (RFC 5761 §4).
            prop_assume!(!(marker && (72..=79).contains(&pt)));
            let p = RtpPacket { pt, marker, seq, ts, ssrc, payload };
            prop_assert_eq!(RtpPacket::parse(&p.to_bytes()), Ok(p));
        }
    }
}
