//! The seeded random streams and the small drawing helpers every part of the generator uses.

use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

// Domains that separate the RNG streams derived from one seed.
pub(crate) const DOMAIN_OBSERVERS: u64 = 1;
pub(crate) const DOMAIN_AD: u64 = 2;
pub(crate) const DOMAIN_POOL: u64 = 3;
pub(crate) const DOMAIN_ADVERTISERS: u64 = 4;

/// A ChaCha8 stream for `(seed, domain, index)`; distinct triples give independent streams.
pub(crate) fn rng_for(seed: u64, domain: u64, index: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[0..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&domain.to_le_bytes());
    key[16..24].copy_from_slice(&index.to_le_bytes());
    key[24..32].copy_from_slice(b"aaodemo1");
    ChaCha8Rng::from_seed(key)
}

pub(crate) fn uuid_v4(rng: &mut impl Rng) -> String {
    let mut b = [0u8; 16];
    rng.fill_bytes(&mut b);
    uuid::Builder::from_random_bytes(b).into_uuid().to_string()
}

pub(crate) fn pick<'a, T>(rng: &mut impl Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

pub(crate) fn pick_weighted<'a, T>(rng: &mut impl Rng, items: &'a [(T, f64)]) -> &'a T {
    let total: f64 = items.iter().map(|(_, w)| w).sum();
    let mut x = rng.random::<f64>() * total;
    for (item, w) in items {
        if x < *w {
            return item;
        }
        x -= w;
    }
    &items[items.len() - 1].0
}

/// Distinct indices `< n`, `k` of them (k <= n), in drawing order.
pub(crate) fn distinct_indices(rng: &mut impl Rng, n: usize, k: usize) -> Vec<usize> {
    let mut out = Vec::with_capacity(k);
    while out.len() < k.min(n) {
        let i = rng.random_range(0..n);
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

/// Rounds to `d` decimals (keeps JSON short, like device-produced numbers).
pub(crate) fn round(x: f64, d: i32) -> f64 {
    let m = 10f64.powi(d);
    (x * m).round() / m
}
