//! The one source of randomness of a simulated run: SplitMix64, so that a
//! seed replays bit for bit whatever the `rand` crate's version.

use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x5EED_5EED_5EED_5EED)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// How often a fault strikes in a drawn world: none in 30 % of worlds,
    /// else up to `max` times.
    pub fn fault_level(&mut self, max: u64) -> u64 {
        if self.chance(30) {
            0
        } else {
            self.below(max + 1)
        }
    }

    /// One of `items` (not empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// The RNG shared by the stand-ins that inject faults (ports must be
/// `Send + Sync`; everything runs on one thread, so the lock is uncontended).
pub type SharedRng = Arc<Mutex<Rng>>;
