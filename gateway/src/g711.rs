//! G.711 (ITU-T, 1988): μ-law and A-law companding of 16-bit linear PCM, 8 kHz, one byte per
//! sample. The gateway passes G.711 through untouched; it only encodes what it makes itself
//! (ringback, silence).
//!
//! These are the table-free bit algorithms of the ITU-T G.191 reference (`g711.c`). Negative
//! samples use the one's complement, not the negation, so -1 encodes as "negative zero" and
//! `i16::MIN` cannot overflow.

/// A G.711 codec with its static RTP payload type (RFC 3551 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// μ-law, PT 0.
    Pcmu,
    /// A-law, PT 8.
    Pcma,
}

impl Codec {
    /// The static payload type.
    pub fn pt(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The codec a static payload type means, if it is one of ours.
    pub fn from_static_pt(pt: u8) -> Option<Codec> {
        match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        }
    }

    /// The encoding name of `a=rtpmap`.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    pub fn encode(self, sample: i16) -> u8 {
        match self {
            Codec::Pcmu => ulaw_encode(sample),
            Codec::Pcma => alaw_encode(sample),
        }
    }

    pub fn decode(self, byte: u8) -> i16 {
        match self {
            Codec::Pcmu => ulaw_decode(byte),
            Codec::Pcma => alaw_decode(byte),
        }
    }

    /// The byte of digital silence (the encoding of 0).
    pub fn silence(self) -> u8 {
        self.encode(0)
    }
}

/// μ-law: 14 significant bits, bias 33, eight segments; bits inverted on the wire.
pub fn ulaw_encode(sample: i16) -> u8 {
    let negative = sample < 0;
    let magnitude = if negative { !sample } else { sample };
    // 0..=8191 after the shift, 33..=8224 biased; clip to the 13-bit range.
    let biased = ((magnitude >> 2) + 33).min(0x1FFF);
    let mut segment = 1;
    let mut rest = biased >> 6;
    while rest != 0 {
        segment += 1;
        rest >>= 1;
    }
    let high = 8 - segment;
    let low = 0xF - ((biased >> segment) & 0xF);
    let code = ((high << 4) | low) as u8;
    if negative { code } else { code | 0x80 }
}

pub fn ulaw_decode(byte: u8) -> i16 {
    let inverted = !byte;
    let exponent = (inverted >> 4) & 0x7;
    let mantissa = i16::from(inverted & 0xF);
    let step = 4i16 << (exponent + 1);
    let magnitude = (0x80 << exponent) + step * mantissa + step / 2 - 4 * 33;
    if byte < 0x80 { -magnitude } else { magnitude }
}

/// A-law: 13 significant bits, eight segments; even bits toggled on the wire.
pub fn alaw_encode(sample: i16) -> u8 {
    let negative = sample < 0;
    let mut ix = if negative { !sample } else { sample } >> 4; // 0..=2047
    if ix > 15 {
        let mut exponent = 1;
        while ix > 16 + 15 {
            ix >>= 1;
            exponent += 1;
        }
        ix -= 16; // the leading 1 is implied by the exponent
        ix += exponent << 4;
    }
    let code = ix as u8;
    let code = if negative { code } else { code | 0x80 };
    code ^ 0x55
}

pub fn alaw_decode(byte: u8) -> i16 {
    let ix = (byte ^ 0x55) & 0x7F;
    let exponent = ix >> 4;
    let mut mantissa = i16::from(ix & 0xF);
    if exponent > 0 {
        mantissa += 16;
    }
    mantissa = (mantissa << 4) + 8;
    if exponent > 1 {
        mantissa <<= exponent - 1;
    }
    if byte > 0x7F { mantissa } else { -mantissa }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn ulaw_reference_values() {
        // G.191 / Sun g711.c: zero is 0xFF, -1 is "negative zero" 0x7F, the extremes are
        // 0x80 (most positive) and 0x00 (most negative).
        let cases: [(i16, u8); 10] = [
            (0, 0xFF),
            (-1, 0x7F),
            (1, 0xFF),
            (4, 0xFE),
            (-5, 0x7E),
            (32767, 0x80),
            (-32768, 0x00),
            (32124, 0x80),
            (1000, 0xCE),
            (-1000, 0x4E),
        ];
        for (sample, code) in cases {
            assert_eq!(ulaw_encode(sample), code, "ulaw_encode({sample})");
        }
    }

    #[test]
    fn alaw_reference_values() {
        let cases: [(i16, u8); 8] =
            [(0, 0xD5), (-1, 0x55), (15, 0xD5), (16, 0xD4), (32767, 0xAA), (-32768, 0x2A), (1000, 0xFA), (-1000, 0x7A)];
        for (sample, code) in cases {
            assert_eq!(alaw_encode(sample), code, "alaw_encode({sample})");
        }
    }

    #[test]
    fn decode_reference_values() {
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(ulaw_decode(0x7F), 0);
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        assert_eq!(alaw_decode(0xAA), 32256);
        assert_eq!(alaw_decode(0x2A), -32256);
    }

    #[test]
    fn every_code_survives_decode_then_encode() {
        for code in 0..=u8::MAX {
            assert_eq!(alaw_encode(alaw_decode(code)), code, "A-law {code:#04x}");
            // 0x7F and 0xFF both decode to 0, which encodes as 0xFF.
            if code != 0x7F {
                assert_eq!(ulaw_encode(ulaw_decode(code)), code, "μ-law {code:#04x}");
            }
        }
    }

    #[test]
    fn silence_and_static_pts() {
        assert_eq!(Codec::Pcmu.silence(), 0xFF);
        assert_eq!(Codec::Pcma.silence(), 0xD5);
        assert_eq!(Codec::from_static_pt(0), Some(Codec::Pcmu));
        assert_eq!(Codec::from_static_pt(8), Some(Codec::Pcma));
        assert_eq!(Codec::from_static_pt(18), None);
        assert_eq!((Codec::Pcmu.pt(), Codec::Pcma.pt()), (0, 8));
    }

    /// The largest quantisation error: half the widest step (segment 7) plus the bias slack.
    fn max_error(sample: i16) -> i32 {
        let magnitude = i32::from(sample).abs();
        // A step is 1/16 of the segment's span; an error is at most one step.
        (magnitude / 16).max(8) + 8
    }

    proptest! {
        #[test]
        fn encoding_is_monotonic(a: i16, b: i16) {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            for codec in [Codec::Pcmu, Codec::Pcma] {
                prop_assert!(codec.decode(codec.encode(lo)) <= codec.decode(codec.encode(hi)));
            }
        }

        #[test]
        fn round_trip_error_is_bounded(sample: i16) {
            // μ-law clips at ±32124 and A-law at ±32256; both are within the bound there too.
            for codec in [Codec::Pcmu, Codec::Pcma] {
                let error = (i32::from(codec.decode(codec.encode(sample))) - i32::from(sample)).abs();
                prop_assert!(error <= max_error(sample), "{codec:?} {sample} error {error}");
            }
        }

        #[test]
        fn sign_is_symmetric(sample in 0i16..=i16::MAX) {
            // One's complement: -1 - x mirrors x.
            let mirrored = -1 - sample;
            prop_assert_eq!(ulaw_encode(sample) & 0x7F, ulaw_encode(mirrored) & 0x7F);
            prop_assert_eq!((alaw_encode(sample) ^ 0x55) & 0x7F, (alaw_encode(mirrored) ^ 0x55) & 0x7F);
        }
    }
}
