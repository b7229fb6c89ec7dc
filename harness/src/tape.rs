//! Fault tapes: the run's one source of randomness.
//!
//! A tape is a byte sequence read front to back. Every perturbation point draws one byte; 0 means
//! "no perturbation here", and an exhausted tape reads as 0. So a shorter tape, or one with
//! smaller bytes, perturbs less: proptest's shrinking (toward shorter vectors and smaller
//! elements) yields fewer and smaller faults. A seed expands to a tape deterministically.

use std::fmt;

/// A fault tape; see the module docs: 0 means "no perturbation here", an exhausted tape reads as 0.
///
/// ```
/// let mut t = green_harness::Tape::new(vec![3, 0, 7]);
/// assert_eq!((t.draw(), t.draw(), t.draw(), t.draw()), (3, 0, 7, 0));
/// assert_eq!(t.used(), 4); // the draw past the end counts too
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tape {
    bytes: Vec<u8>,
    pos: usize,
}

impl Tape {
    /// A tape of these bytes.
    ///
    /// ```
    /// assert_eq!(green_harness::Tape::new(vec![1]).len(), 1);
    /// ```
    pub fn new(bytes: Vec<u8>) -> Tape {
        Tape { bytes, pos: 0 }
    }

    /// Expands `seed` into `len` bytes, each non-zero with probability about `density` (0..=1).
    ///
    /// ```
    /// let a = green_harness::Tape::from_seed(42, 64, 0.25);
    /// assert_eq!(a, green_harness::Tape::from_seed(42, 64, 0.25));
    /// assert!(a.active() > 0 && a.active() < 64);
    /// ```
    pub fn from_seed(seed: u64, len: usize, density: f64) -> Tape {
        let mut state = seed;
        let mut next = || {
            // splitmix64
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let cut = (density.clamp(0.0, 1.0) * u32::MAX as f64) as u64;
        let bytes = (0..len)
            .map(|_| {
                let r = next();
                if (r >> 32) <= cut && cut > 0 {
                    1 + (r % 255) as u8
                } else {
                    0
                }
            })
            .collect();
        Tape::new(bytes)
    }

    /// Parses a tape written by [`to_hex`](Tape::to_hex).
    ///
    /// ```
    /// let t = green_harness::Tape::from_hex("00ff10").unwrap();
    /// assert_eq!(t.to_hex(), "00ff10");
    /// assert!(green_harness::Tape::from_hex("0g").is_none());
    /// ```
    pub fn from_hex(s: &str) -> Option<Tape> {
        let s = s.trim();
        if s.len() % 2 != 0 {
            return None;
        }
        let bytes =
            (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok()).collect::<Option<Vec<u8>>>()?;
        Some(Tape::new(bytes))
    }

    /// The tape as lowercase hex.
    ///
    /// ```
    /// assert_eq!(green_harness::Tape::new(vec![0, 171]).to_hex(), "00ab");
    /// ```
    pub fn to_hex(&self) -> String {
        self.bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Draws the next byte (0 once exhausted).
    ///
    /// ```
    /// assert_eq!(green_harness::Tape::default().draw(), 0);
    /// ```
    pub fn draw(&mut self) -> u8 {
        let b = self.bytes.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    /// Draws read so far.
    ///
    /// ```
    /// let mut t = green_harness::Tape::default();
    /// t.draw();
    /// assert_eq!(t.used(), 1);
    /// ```
    pub fn used(&self) -> usize {
        self.pos
    }

    /// Length in bytes.
    ///
    /// ```
    /// assert_eq!(green_harness::Tape::new(vec![0; 4]).len(), 4);
    /// ```
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// True for an empty tape (which perturbs nothing).
    ///
    /// ```
    /// assert!(green_harness::Tape::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Non-zero bytes: the perturbations the tape can cause at most.
    ///
    /// ```
    /// assert_eq!(green_harness::Tape::new(vec![0, 5, 0, 1]).active(), 2);
    /// ```
    pub fn active(&self) -> usize {
        self.bytes.iter().filter(|&&b| b != 0).count()
    }

    /// The bytes.
    ///
    /// ```
    /// assert_eq!(green_harness::Tape::new(vec![9]).bytes(), &[9]);
    /// ```
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl fmt::Display for Tape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}
