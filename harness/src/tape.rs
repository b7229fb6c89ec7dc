//! Fault tapes: the run's one source of randomness.
//!
//! A tape is a sequence of bytes read front to back, one per perturbation point; 0 means "no
//! perturbation here". Two kinds:
//!
//! * an **explicit** tape ([`Tape::new`], `GREEN_TAPE`, what proptest and shrinking produce) is
//!   finite and reads as 0 after its end, so a shorter tape, or one with smaller bytes, perturbs
//!   less: shrinking yields fewer and smaller faults;
//! * a **seeded** tape ([`Tape::seeded`], `GREEN_SEED`) drives the whole run: draw *i* is a pure
//!   function of (seed, *i*, density), without a length, so an I/O-heavy test gets faults to its
//!   end. The bytes drawn so far are kept, so a seeded run can be shrunk as an explicit tape.

use std::fmt;

/// Where a tape's bytes come from.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Source {
    Explicit,
    Seeded { seed: u64, density: f64, limit: Option<usize> },
}

/// A fault tape; see the module docs: 0 means "no perturbation here"; an explicit tape reads as
/// 0 after its end, a seeded one never ends.
///
/// ```
/// let mut t = green_harness::Tape::new(vec![3, 0, 7]);
/// assert_eq!((t.draw(), t.draw(), t.draw(), t.draw()), (3, 0, 7, 0));
/// assert_eq!(t.used(), 4); // the draw past the end counts too
/// assert!(t.exhausted());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Tape {
    /// The explicit bytes, or the bytes a seeded tape has drawn so far.
    bytes: Vec<u8>,
    pos: usize,
    source: Source,
}

impl Default for Tape {
    fn default() -> Self {
        Tape::new(Vec::new())
    }
}

/// Draw `i` of a seeded tape: non-zero with probability about `density`.
fn seeded_byte(seed: u64, i: usize, density: f64) -> u8 {
    // splitmix64's i-th output for this seed: a pure function of (seed, i).
    let mut z = seed.wrapping_add((i as u64).wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    let r = z ^ (z >> 31);
    let cut = (density.clamp(0.0, 1.0) * u32::MAX as f64) as u64;
    if cut > 0 && (r >> 32) <= cut {
        1 + (r % 255) as u8
    } else {
        0
    }
}

impl Tape {
    /// A tape of these bytes.
    ///
    /// ```
    /// assert_eq!(green_harness::Tape::new(vec![1]).len(), 1);
    /// ```
    pub fn new(bytes: Vec<u8>) -> Tape {
        Tape { bytes, pos: 0, source: Source::Explicit }
    }

    /// A seeded tape: draw *i* is a pure function of (`seed`, *i*, `density`) and it never runs
    /// out; [`from_seed`](Tape::from_seed) gives its first bytes as an explicit tape.
    ///
    /// ```
    /// use green_harness::Tape;
    /// let mut t = Tape::seeded(42, 0.25);
    /// let first: Vec<u8> = (0..64).map(|_| t.draw()).collect();
    /// assert_eq!(first, Tape::from_seed(42, 64, 0.25).bytes());
    /// assert_eq!(t.seed(), Some(42));
    /// assert!(!t.exhausted());
    /// ```
    pub fn seeded(seed: u64, density: f64) -> Tape {
        Tape { bytes: Vec::new(), pos: 0, source: Source::Seeded { seed, density, limit: None } }
    }

    /// A seeded tape that reads as 0 after `limit` draws (`GREEN_TAPE_LEN`).
    ///
    /// ```
    /// let mut t = green_harness::Tape::seeded_with_limit(1, 1.0, 2);
    /// assert!(t.draw() != 0 && t.draw() != 0);
    /// assert_eq!(t.draw(), 0);
    /// assert!(t.exhausted());
    /// ```
    pub fn seeded_with_limit(seed: u64, density: f64, limit: usize) -> Tape {
        Tape { bytes: Vec::new(), pos: 0, source: Source::Seeded { seed, density, limit: Some(limit) } }
    }

    /// A seeded tape's seed, density and limit (`None` for an explicit one).
    pub(crate) fn seeded_params(&self) -> Option<(u64, f64, Option<usize>)> {
        match self.source {
            Source::Seeded { seed, density, limit } => Some((seed, density, limit)),
            Source::Explicit => None,
        }
    }

    /// The seed of a seeded tape (`None` for an explicit one).
    ///
    /// ```
    /// assert_eq!(green_harness::Tape::new(vec![1]).seed(), None);
    /// ```
    pub fn seed(&self) -> Option<u64> {
        match self.source {
            Source::Seeded { seed, .. } => Some(seed),
            Source::Explicit => None,
        }
    }

    /// True when the run drew past the end of an explicit tape (or past a seeded tape's limit):
    /// the draws after it read as 0, so the run was perturbed only up to there.
    ///
    /// ```
    /// let mut t = green_harness::Tape::new(vec![1]);
    /// t.draw();
    /// assert!(!t.exhausted());
    /// t.draw();
    /// assert!(t.exhausted());
    /// ```
    pub fn exhausted(&self) -> bool {
        match self.source {
            Source::Explicit => self.pos > self.bytes.len(),
            Source::Seeded { limit, .. } => limit.is_some_and(|l| self.pos > l),
        }
    }

    /// The same tape, rewound to its start (a seeded tape keeps its seed).
    ///
    /// ```
    /// let mut t = green_harness::Tape::seeded(3, 0.5);
    /// let a = t.draw();
    /// assert_eq!(t.rewound().draw(), a);
    /// ```
    pub fn rewound(&self) -> Tape {
        match self.source {
            Source::Explicit => Tape::new(self.bytes.clone()),
            Source::Seeded { .. } => Tape { bytes: Vec::new(), pos: 0, source: self.source },
        }
    }

    /// The bytes drawn so far as an explicit tape without its trailing zeros (what a seeded run
    /// is shrunk from; an explicit tape's trailing zeros perturb nothing).
    ///
    /// ```
    /// let t = green_harness::Tape::new(vec![0, 4, 0, 0]);
    /// assert_eq!(t.explicit().bytes(), &[0, 4]);
    /// ```
    pub fn explicit(&self) -> Tape {
        let mut b = self.bytes.clone();
        while b.last() == Some(&0) {
            b.pop();
        }
        Tape::new(b)
    }

    /// The first `len` bytes of [`Tape::seeded`]`(seed, density)` as an explicit tape: each
    /// non-zero with probability about `density` (0..=1).
    ///
    /// ```
    /// let a = green_harness::Tape::from_seed(42, 64, 0.25);
    /// assert_eq!(a, green_harness::Tape::from_seed(42, 64, 0.25));
    /// assert!(a.active() > 0 && a.active() < 64);
    /// ```
    pub fn from_seed(seed: u64, len: usize, density: f64) -> Tape {
        Tape::new((0..len).map(|i| seeded_byte(seed, i, density)).collect())
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
        if s.len() % 2 != 0 || !s.is_ascii() {
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
        let b = match self.source {
            Source::Explicit => self.bytes.get(self.pos).copied().unwrap_or(0),
            Source::Seeded { seed, density, limit } => {
                let b = if limit.is_some_and(|l| self.pos >= l) { 0 } else { seeded_byte(seed, self.pos, density) };
                self.bytes.push(b);
                b
            }
        };
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

    /// Length in bytes (of a seeded tape: the bytes drawn so far).
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

    /// The bytes (of a seeded tape: the bytes drawn so far).
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
