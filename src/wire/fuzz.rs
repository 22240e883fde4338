//! Test-only helpers for this room's fuzz and property tests: a deterministic xorshift RNG that
//! generates random and mutated byte strings (no new crates, no sleeps, same inputs every run).

/// Deterministic xorshift64* RNG for the fuzz and property tests of this room (no new crates).
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    pub fn byte(&mut self) -> u8 {
        self.next_u64() as u8
    }

    /// Random bytes of length below `max`, drawn half the time from `alphabet`.
    pub fn bytes(&mut self, max: usize, alphabet: &[u8]) -> Vec<u8> {
        let len = self.below(max);
        (0..len)
            .map(|_| {
                if !alphabet.is_empty() && self.next_u64() & 1 == 0 {
                    alphabet[self.below(alphabet.len())]
                } else {
                    self.byte()
                }
            })
            .collect()
    }

    /// `base` with a few random edits: flips, inserts, deletes, truncation.
    pub fn mutate(&mut self, base: &[u8]) -> Vec<u8> {
        let mut v = base.to_vec();
        for _ in 0..=self.below(4) {
            match self.below(5) {
                0 if !v.is_empty() => {
                    let i = self.below(v.len());
                    v[i] ^= 1 << self.below(8);
                }
                1 => {
                    let i = self.below(v.len() + 1);
                    let b = self.byte();
                    v.insert(i, b);
                }
                2 if !v.is_empty() => {
                    let i = self.below(v.len());
                    v.remove(i);
                }
                3 => {
                    let n = self.below(v.len() + 1);
                    v.truncate(n);
                }
                _ if !v.is_empty() => {
                    let i = self.below(v.len());
                    v[i] = self.byte();
                }
                _ => {}
            }
        }
        v
    }
}
