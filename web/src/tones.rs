//! Call progress tones made with Web Audio: ringback while the other side rings, a ringtone for
//! an incoming call, and a short beep for a call waiting. No audio files.

use web_sys::{AudioContext, GainNode, OscillatorNode};

pub struct Tone {
    ctx: AudioContext,
    oscillators: Vec<OscillatorNode>,
    _gain: GainNode,
}

/// (frequencies in Hz, seconds on, seconds off, how many cycles)
type Cadence = (&'static [f32], f64, f64, u32);

/// North American ringback: 440 + 480 Hz, 2 s on, 4 s off.
pub const RINGBACK: Cadence = (&[440.0, 480.0], 2.0, 4.0, 30);
/// A ringtone: 480 + 620 Hz, 1 s on, 2 s off.
pub const RINGTONE: Cadence = (&[480.0, 620.0], 1.0, 2.0, 60);
/// The balance is running out: one short 1 kHz beep.
pub const WARNING: Cadence = (&[1000.0], 0.3, 0.7, 1);
/// Call waiting: one short 440 Hz beep every 5 s.
pub const WAITING: Cadence = (&[440.0], 0.3, 5.0, 24);

impl Tone {
    /// Starts playing; `None` when the browser will not make sound (no Web Audio, or autoplay
    /// is blocked until the user interacts): the call works regardless.
    pub fn play((freqs, on, off, cycles): Cadence) -> Option<Self> {
        let ctx = AudioContext::new().ok()?;
        let gain = ctx.create_gain().ok()?;
        gain.connect_with_audio_node(&ctx.destination()).ok()?;
        let level = gain.gain();
        let t0 = ctx.current_time();
        level.set_value_at_time(0.0, t0).ok()?;
        for i in 0..cycles {
            let start = t0 + f64::from(i) * (on + off);
            level.set_value_at_time(0.15, start).ok()?;
            level.set_value_at_time(0.0, start + on).ok()?;
        }
        let mut oscillators = vec![];
        for f in freqs {
            let osc = ctx.create_oscillator().ok()?;
            osc.frequency().set_value(*f);
            osc.connect_with_audio_node(&gain).ok()?;
            osc.start().ok()?;
            oscillators.push(osc);
        }
        Some(Self { ctx, oscillators, _gain: gain })
    }
}

impl Drop for Tone {
    fn drop(&mut self) {
        for o in &self.oscillators {
            #[allow(deprecated)]
            let _ = o.stop();
        }
        let _ = self.ctx.close();
    }
}
