//! Ringback for the browser while a carrier rings without early media: G.711 frames of 20 ms,
//! tone during the on-part of the cadence and encoded silence (not missing packets) during the
//! off-part, so the browser's jitter buffer sees one steady stream.
//!
//! No floats: the phase is a `u32` (one turn = 2^32), the sample index times a per-frequency
//! step, and indexes a sine table whose quarter wave is computed at compile time by an integer
//! Taylor series.

use std::time::Duration;

use crate::g711::Codec;

/// Samples per frame: 20 ms at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;
/// The duration of one frame.
pub const FRAME: Duration = Duration::from_millis(20);

const SAMPLE_RATE: u64 = 8000;
const FRAMES_PER_SECOND: u32 = 50;

/// Which country's ringing tone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cadence {
    /// ITU-T E.180 / CEPT: 425 Hz, 1 s on, 4 s off.
    Europe,
    /// ANSI T1.401 audible ringing: 440 + 480 Hz, 2 s on, 4 s off.
    NorthAmerica,
}

impl Cadence {
    /// `(frequency in Hz, peak amplitude)` of each component. 5000 is about -13 dBm0 and 2500
    /// about -19 dBm0 (0 dBm0 is a sine of peak ~22 400 in 16-bit G.711).
    fn components(self) -> &'static [(u32, i32)] {
        match self {
            Cadence::Europe => &[(425, 5000)],
            Cadence::NorthAmerica => &[(440, 2500), (480, 2500)],
        }
    }

    fn on_frames(self) -> u32 {
        match self {
            Cadence::Europe => FRAMES_PER_SECOND,
            Cadence::NorthAmerica => 2 * FRAMES_PER_SECOND,
        }
    }

    fn cycle_frames(self) -> u32 {
        self.on_frames() + 4 * FRAMES_PER_SECOND
    }
}

/// An endless ringback stream. Each [`Ringback::next_frame`] is the next 20 ms.
#[derive(Debug, Clone)]
pub struct Ringback {
    codec: Codec,
    cadence: Cadence,
    /// Frames since the start of the current cycle. The phase follows from it: every burst
    /// starts at phase zero.
    frame: u32,
}

impl Ringback {
    pub fn new(codec: Codec, cadence: Cadence) -> Ringback {
        Ringback { codec, cadence, frame: 0 }
    }

    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// The next 20 ms: [`FRAME_SAMPLES`] G.711 bytes.
    pub fn next_frame(&mut self) -> Vec<u8> {
        let frame = self.frame;
        self.skip(1);
        if frame >= self.cadence.on_frames() {
            return vec![self.codec.silence(); FRAME_SAMPLES];
        }
        let components = self.cadence.components();
        // Samples since the burst began: at most 100 frames of 160.
        let first = frame * FRAME_SAMPLES as u32;
        (first..first + FRAME_SAMPLES as u32)
            .map(|n| {
                let sample: i32 = components
                    .iter()
                    .map(|&(hz, amplitude)| (i32::from(sine(n.wrapping_mul(phase_step(hz)))) * amplitude) >> 15)
                    .sum();
                // At most 5000 in magnitude: always fits.
                self.codec.encode(sample as i16)
            })
            .collect()
    }

    /// Moves on by `frames` without making them, keeping the cadence (for a late timer).
    pub fn skip(&mut self, frames: u32) {
        let cycle = self.cadence.cycle_frames();
        self.frame = (self.frame + frames % cycle) % cycle;
    }
}

/// The phase advance per sample for `hz`, rounded: `hz / 8000` of a turn of 2^32.
fn phase_step(hz: u32) -> u32 {
    (((u64::from(hz) << 32) + SAMPLE_RATE / 2) / SAMPLE_RATE) as u32
}

/// sin of a phase (one turn = 2^32), in Q15, from the quarter-wave table (1024 steps a turn).
fn sine(phase: u32) -> i16 {
    let index = (phase >> 22) as usize; // 0..1024
    let i = index % QUARTER;
    match index / QUARTER {
        0 => QUARTER_SINE[i],
        1 => QUARTER_SINE[QUARTER - i],
        2 => -QUARTER_SINE[i],
        _ => -QUARTER_SINE[QUARTER - i],
    }
}

const QUARTER: usize = 256;

/// `sin(k/256 · π/2)` for k in 0..=256, in Q15 (1.0 is 32767).
const QUARTER_SINE: [i16; QUARTER + 1] = quarter_sine();

/// Fixed point Q40 keeps every Taylor term exact enough (error < 2^-30) and `x²` fits an i128.
const fn quarter_sine() -> [i16; QUARTER + 1] {
    const ONE: i128 = 1 << 40;
    /// π/2 · 2^40, rounded.
    const HALF_PI: i128 = 1_727_108_826_179;
    let mut table = [0i16; QUARTER + 1];
    let mut k = 0;
    while k <= QUARTER {
        let x = HALF_PI * k as i128 / QUARTER as i128;
        let x2 = x * x / ONE;
        // sin x = x - x³/3! + x⁵/5! - …, each term from the previous one.
        let mut term = x;
        let mut sum = 0;
        let mut n = 1;
        while term != 0 {
            sum += term;
            term = -term * x2 / ONE / ((2 * n) * (2 * n + 1));
            n += 1;
        }
        table[k] = ((sum * 32767 + ONE / 2) / ONE) as i16;
        k += 1;
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(codec: Codec, frame: &[u8]) -> Vec<i16> {
        frame.iter().map(|&b| codec.decode(b)).collect()
    }

    fn frames(tone: &mut Ringback, n: u32) -> Vec<Vec<u8>> {
        (0..n).map(|_| tone.next_frame()).collect()
    }

    /// The power of `samples` at `hz` (one DFT bin, with our own sine): large for a component
    /// of the signal, near zero for a frequency with a whole number of other cycles in the window.
    fn power_at(samples: &[i16], hz: u32) -> i128 {
        let step = phase_step(hz);
        let (mut re, mut im) = (0i128, 0i128);
        for (n, &x) in (0u32..).zip(samples) {
            let phase = n.wrapping_mul(step);
            re += i128::from(x) * i128::from(sine(phase.wrapping_add(1 << 30)));
            im += i128::from(x) * i128::from(sine(phase));
        }
        re * re + im * im
    }

    /// Asserts that the components of `samples` are exactly `present` among `candidates`.
    #[track_caller]
    fn assert_spectrum(samples: &[i16], present: &[u32]) {
        let candidates = [350, 400, 425, 440, 450, 460, 480, 500];
        let weakest = present.iter().map(|&hz| power_at(samples, hz)).min().unwrap();
        for hz in candidates.into_iter().filter(|hz| !present.contains(hz)) {
            let power = power_at(samples, hz);
            assert!(power * 1000 < weakest, "{hz} Hz: {power} against {weakest}");
        }
    }

    #[test]
    fn table_matches_known_values() {
        assert_eq!(QUARTER_SINE[0], 0);
        assert_eq!(QUARTER_SINE[1], 201);
        assert_eq!(QUARTER_SINE[100], 18868);
        assert_eq!(QUARTER_SINE[128], 23170); // sin(π/4)
        assert_eq!(QUARTER_SINE[256], 32767);
        assert!(QUARTER_SINE.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn sine_has_its_symmetries() {
        for step in 0..1024u32 {
            let phase = step << 22;
            assert_eq!(sine(phase), -sine(phase.wrapping_add(1 << 31)), "half turn at {step}");
        }
        assert_eq!(sine(1 << 30), 32767);
        assert_eq!(sine(3 << 30), -32767);
    }

    #[test]
    fn phase_steps() {
        assert_eq!(phase_step(425), 228_170_138);
        assert_eq!(phase_step(440), 236_223_201);
        assert_eq!(phase_step(480), 257_698_038);
    }

    #[test]
    fn frames_are_20_ms() {
        for codec in [Codec::Pcmu, Codec::Pcma] {
            for cadence in [Cadence::Europe, Cadence::NorthAmerica] {
                let mut tone = Ringback::new(codec, cadence);
                assert_eq!(tone.codec(), codec);
                assert!(frames(&mut tone, 400).iter().all(|f| f.len() == FRAME_SAMPLES));
            }
        }
    }

    #[test]
    fn europe_is_425_hz_one_second_in_five() {
        let mut tone = Ringback::new(Codec::Pcma, Cadence::Europe);
        let all = frames(&mut tone, 2 * 250);
        for (i, frame) in all.iter().enumerate() {
            let on = i % 250 < 50;
            let samples = decode(Codec::Pcma, frame);
            let peak = samples.iter().map(|s| s.unsigned_abs()).max().unwrap();
            if on {
                assert!((4800..=5200).contains(&peak), "frame {i}: peak {peak}");
            } else {
                assert!(frame.iter().all(|&b| b == 0xD5), "frame {i} is not silence");
            }
        }
        let first_second: Vec<i16> = all[..50].iter().flat_map(|f| decode(Codec::Pcma, f)).collect();
        assert_spectrum(&first_second, &[425]);
    }

    #[test]
    fn north_america_is_two_tones_two_seconds_in_six() {
        let mut tone = Ringback::new(Codec::Pcmu, Cadence::NorthAmerica);
        let all = frames(&mut tone, 300 + 100);
        for (i, frame) in all.iter().enumerate() {
            let on = i % 300 < 100;
            if on {
                let energy: i64 = decode(Codec::Pcmu, frame).iter().map(|&s| i64::from(s) * i64::from(s)).sum();
                // Two tones beating at 40 Hz: a 20 ms frame can fall near a null, so compare with a
                // low bar; over the whole burst the power is checked below.
                assert!(energy > 0, "frame {i} is silent");
            } else {
                assert!(frame.iter().all(|&b| b == 0xFF), "frame {i} is not silence");
            }
        }
        let burst: Vec<i16> = all[..100].iter().flat_map(|f| decode(Codec::Pcmu, f)).collect();
        // Mean power of two sines of peak 2500: 2 · 2500² / 2.
        let power = burst.iter().map(|&s| i64::from(s) * i64::from(s)).sum::<i64>() / burst.len() as i64;
        assert!((5_800_000..=6_700_000).contains(&power), "power {power}");
        let peak = burst.iter().map(|s| s.unsigned_abs()).max().unwrap();
        assert!((4800..=5200).contains(&peak), "peak {peak}");
        assert_spectrum(&burst[..8000], &[440, 480]);
    }

    #[test]
    fn skipping_keeps_the_cadence() {
        let mut made = Ringback::new(Codec::Pcmu, Cadence::NorthAmerica);
        let all = frames(&mut made, 700);
        for skip in [0, 1, 99, 100, 299, 300, 301, 650] {
            let mut skipped = Ringback::new(Codec::Pcmu, Cadence::NorthAmerica);
            skipped.skip(skip);
            assert_eq!(skipped.next_frame(), all[skip as usize], "skip {skip}");
        }
    }

    #[test]
    fn every_burst_starts_at_zero_phase() {
        let mut tone = Ringback::new(Codec::Pcmu, Cadence::Europe);
        let first = tone.next_frame();
        let later = frames(&mut tone, 250).pop().unwrap(); // frame 250, the second burst
        assert_eq!(first, later);
    }
}
