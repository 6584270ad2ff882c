//! Small sampling helpers over the seeded generator.

use casellario_domain::Date;
use casellario_domain::codes::CodeEnum;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub type R = ChaCha8Rng;

pub fn chance(r: &mut R, p: f64) -> bool {
    r.random::<f64>() < p
}

/// Uniform in `lo..=hi`.
pub fn range(r: &mut R, lo: i64, hi: i64) -> i64 {
    if hi <= lo {
        lo
    } else {
        r.random_range(lo..=hi)
    }
}

pub fn pick<'a, T>(r: &mut R, items: &'a [T]) -> &'a T {
    &items[r.random_range(0..items.len())]
}

/// Weighted choice over `(item, weight)` pairs.
pub fn weighted<'a, T>(r: &mut R, items: &'a [(T, u32)]) -> &'a T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut x = r.random_range(0..total.max(1));
    for (it, w) in items {
        if x < *w {
            return it;
        }
        x -= w;
    }
    &items[items.len() - 1].0
}

/// The `i`-th code of an enumeration, in XSD order.
pub fn nth<T: CodeEnum>(i: usize) -> T {
    let entries = T::TABLE.entries;
    T::from_code(entries[i.min(entries.len() - 1)].0).expect("code of its own table")
}

/// A code of an enumeration drawn with one weight per code (XSD order;
/// missing weights count as 0).
pub fn code<T: CodeEnum>(r: &mut R, weights: &[u32]) -> T {
    let total: u32 = weights.iter().sum();
    let mut x = r.random_range(0..total.max(1));
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return nth(i);
        }
        x -= w;
    }
    nth(0)
}

/// Uniform date in `lo..=hi`.
pub fn date_between(r: &mut R, lo: Date, hi: Date) -> Date {
    Date::from_days(range(r, lo.to_days(), hi.to_days()))
}

/// A uniformly random day of `year`.
pub fn date_in_year(r: &mut R, year: i32) -> Date {
    date_between(
        r,
        Date {
            year,
            month: 1,
            day: 1,
        },
        Date {
            year,
            month: 12,
            day: 31,
        },
    )
}

pub fn add_days(d: Date, n: i64) -> Date {
    Date::from_days(d.to_days() + n)
}
