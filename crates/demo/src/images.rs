//! The image pool: fake phone screenshots of ads (header, photo-like media, text lines, a
//! button), rendered and JPEG-encoded so that the pool's sizes follow real screenshots'.

use rand::{Rng, RngExt};

use crate::POOL_SLOTS;
use crate::rng::{DOMAIN_POOL, pick, pick_weighted, rng_for};

/// Screenshot sizes of the pool, `(w, h)`.
const POOL_DIMS: &[(u32, u32)] =
    &[(480, 854), (540, 960), (576, 1024), (720, 1280), (720, 1600), (864, 1536), (1080, 1920), (1080, 2340)];

/// Target size of pool slot `j`: quantiles of a log-normal (median ~80 KB), jittered and
/// clipped to 22 KB .. 340 KB, so the pool always spans the whole range.
fn pool_target_bytes(rng: &mut impl Rng, j: u64) -> f64 {
    // Spread the quantiles over the slots in a scrambled order.
    let q = ((j * 29) % POOL_SLOTS as u64) as f64;
    let u = ((q + rng.random_range(0.1f64..0.9)) / POOL_SLOTS as f64).clamp(0.001, 0.999);
    // Tukey-lambda approximation of the standard normal quantile.
    let z = 4.91 * (u.powf(0.14) - (1.0 - u).powf(0.14));
    (80_000.0 * (0.62 * z).exp()).clamp(22_000.0, 340_000.0)
}

/// Renders and encodes pool slot `j` of `seed`.
pub(crate) fn render_pool_jpeg(seed: u64, j: u64) -> Vec<u8> {
    let mut rng = rng_for(seed, DOMAIN_POOL, j);
    let target = pool_target_bytes(&mut rng, j);
    // Choose a screen size and quality that can reach the target with moderate noise.
    let mut feasible = Vec::new();
    for &dims in POOL_DIMS {
        let px = (dims.0 * dims.1) as f64;
        for &q in POOL_QUALITIES {
            let f = screen_factor(dims.1);
            let (lo, hi) =
                (expected_bytes(q, 2.0, px * 0.45, px * 0.55) * f, expected_bytes(q, 60.0, px * 0.45, px * 0.55) * f);
            if (lo..=hi).contains(&target) {
                // Prefer smaller screens: cheaper to encode, and cropped ads are common.
                feasible.push(((dims, q), 1.0 / px));
            }
        }
    }
    let (dims, quality) = if feasible.is_empty() {
        (*pick(&mut rng, POOL_DIMS), *pick(&mut rng, POOL_QUALITIES))
    } else {
        *pick_weighted(&mut rng, &feasible)
    };
    let layout = Layout::new(&mut rng, dims.0, dims.1);
    let media_px = ((layout.media_bottom - layout.media_top) * dims.0) as f64;
    let ui_px = (dims.0 * dims.1) as f64 - media_px;
    let noise_seed = seed ^ j.wrapping_mul(0x2545_F491_4F6C_DD1D);
    // Up to two correction steps keep the pool's sizes close to their targets.
    let mut asked = target / screen_factor(dims.1);
    let mut best = encode(&layout.render(noise_amp_for(asked, quality, ui_px, media_px), noise_seed), dims, quality);
    for _ in 0..2 {
        let ratio = best.len() as f64 / target;
        if (0.85..=1.12).contains(&ratio) {
            break;
        }
        asked /= ratio;
        let again = encode(&layout.render(noise_amp_for(asked, quality, ui_px, media_px), noise_seed), dims, quality);
        if (again.len() as f64 / target).ln().abs() < ratio.ln().abs() {
            best = again;
        }
    }
    best
}

fn encode(rgb: &[u8], (w, h): (u32, u32), quality: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(rgb.len() / 8);
    let enc = jpeg_encoder::Encoder::new(&mut out, quality);
    enc.encode(rgb, w as u16, h as u16, jpeg_encoder::ColorType::Rgb).expect("in-memory JPEG encoding cannot fail");
    out
}

const POOL_QUALITIES: &[u8] = &[62, 66, 70, 75, 80, 85, 90];
/// Noise amplitudes of the columns of [`NOISE_BPP`].
const AMPS: [f64; 6] = [0.0, 5.0, 10.0, 20.0, 40.0, 80.0];
/// Size model of this renderer, fitted by least squares on encoded layouts:
/// `bytes ~= ui_pixels * ui_bpp + media_pixels * noise_bpp(amp)`, by JPEG quality.
/// Rows: `(quality, ui_bpp, noise_bpp at each of AMPS)`.
const SIZE_MODEL: [(u8, f64, [f64; 6]); 6] = [
    (62, 0.066, [0.008, 0.028, 0.074, 0.146, 0.266, 0.395]),
    (70, 0.069, [0.008, 0.043, 0.094, 0.184, 0.313, 0.444]),
    (75, 0.072, [0.008, 0.053, 0.110, 0.215, 0.346, 0.481]),
    (80, 0.076, [0.008, 0.068, 0.138, 0.258, 0.391, 0.539]),
    (85, 0.081, [0.008, 0.091, 0.184, 0.314, 0.448, 0.625]),
    (90, 0.103, [0.029, 0.158, 0.283, 0.439, 0.656, 1.097]),
];

fn lerp(a: f64, b: f64, t: f64) -> f64 {
    a + (b - a) * t
}

/// The [`SIZE_MODEL`] row of `quality`, interpolated: `(ui_bpp, noise_bpp by AMPS)`.
fn size_model(quality: u8) -> (f64, [f64; 6]) {
    let q = quality.clamp(62, 90);
    let i = SIZE_MODEL.iter().rposition(|r| r.0 <= q).unwrap().min(SIZE_MODEL.len() - 2);
    let (lo, hi) = (SIZE_MODEL[i], SIZE_MODEL[i + 1]);
    let t = (q - lo.0) as f64 / (hi.0 - lo.0) as f64;
    (lerp(lo.1, hi.1, t), std::array::from_fn(|k| lerp(lo.2[k], hi.2[k], t)))
}

/// Small screens cost more per pixel (their UI edges are denser) than the fit's average.
fn screen_factor(h: u32) -> f64 {
    (1400.0 / h as f64).powf(SCREEN_EXP)
}
const SCREEN_EXP: f64 = 0.35;

/// Expected JPEG size of a layout with the given pixel counts.
fn expected_bytes(quality: u8, amp: f64, ui_px: f64, media_px: f64) -> f64 {
    let (ui, row) = size_model(quality);
    let amp = amp.clamp(0.0, AMPS[5]);
    let i = AMPS.iter().rposition(|a| *a <= amp).unwrap().min(4);
    ui * ui_px + media_px * lerp(row[i], row[i + 1], (amp - AMPS[i]) / (AMPS[i + 1] - AMPS[i]))
}

/// The noise amplitude expected to give `bytes` (inverse of [`expected_bytes`], clamped).
fn noise_amp_for(bytes: f64, quality: u8, ui_px: f64, media_px: f64) -> f64 {
    let (ui, row) = size_model(quality);
    let bpp = (bytes - ui * ui_px) / media_px;
    if bpp <= row[0] {
        return 0.0;
    }
    for i in 0..5 {
        if bpp <= row[i + 1] {
            return lerp(AMPS[i], AMPS[i + 1], (bpp - row[i]) / (row[i + 1] - row[i]));
        }
    }
    AMPS[5]
}

/// A line of text in a screenshot: `(y, height, words as (x, width))`.
type TextRow = (u32, u32, Vec<(u32, u32)>);

/// The look of one fake ad screenshot: a phone UI with a header, a photo-like media area, text
/// lines and a call-to-action button.
struct Layout {
    w: u32,
    h: u32,
    bg: [u8; 3],
    ink: [u8; 3],
    media_top: u32,
    media_bottom: u32,
    c1: [u8; 3],
    c2: [u8; 3],
    /// Rectangles in the media area: `(x, y, w, h, colour)`.
    shapes: Vec<(u32, u32, u32, u32, [u8; 3])>,
    text_rows: Vec<TextRow>,
    button: (u32, u32, u32, u32, [u8; 3]),
}

fn color(rng: &mut impl Rng) -> [u8; 3] {
    [rng.random(), rng.random(), rng.random()]
}

impl Layout {
    fn new(rng: &mut impl Rng, w: u32, h: u32) -> Layout {
        let dark = rng.random_bool(0.3);
        let bg = if dark { [18, 18, 22] } else { [250, 250, 250] };
        let ink = if dark { [230, 230, 235] } else { [28, 30, 33] };
        let media_top = h * rng.random_range(8..16u32) / 100;
        let media_bottom = media_top + h * rng.random_range(40..70u32) / 100;
        let shapes = (0..rng.random_range(2..9usize))
            .map(|_| {
                let sw = rng.random_range(w / 10..w * 2 / 3);
                let sh = rng.random_range((media_bottom - media_top) / 10..(media_bottom - media_top) * 2 / 3);
                let x = rng.random_range(0..w - sw);
                let y = rng.random_range(media_top..media_bottom - sh);
                (x, y, sw, sh, color(rng))
            })
            .collect();
        let line_h = (h / 64).max(8);
        let mut text_rows = Vec::new();
        let mut y = media_bottom + line_h;
        let text_end = h - h / 8;
        while y + line_h < text_end && text_rows.len() < 12 {
            let mut x = w / 24;
            let mut words = Vec::new();
            let right = w - w / 24 - rng.random_range(0..w / 3);
            while x < right {
                let ww = rng.random_range(line_h..line_h * 5);
                words.push((x, ww.min(right - x)));
                x += ww + line_h / 2;
            }
            text_rows.push((y, line_h * 2 / 3, words));
            y += line_h + line_h / 2 + rng.random_range(0..line_h);
        }
        let bw = w * rng.random_range(30..60u32) / 100;
        let button = (w / 24, h - h / 10, bw, h / 22, color(rng));
        Layout { w, h, bg, ink, media_top, media_bottom, c1: color(rng), c2: color(rng), shapes, text_rows, button }
    }

    fn fill(&self, buf: &mut [u8], x: u32, y: u32, w: u32, h: u32, c: [u8; 3]) {
        let x1 = (x + w).min(self.w);
        let y1 = (y + h).min(self.h);
        let mut row = Vec::with_capacity(((x1 - x.min(x1)) * 3) as usize);
        for _ in x..x1 {
            row.extend_from_slice(&c);
        }
        for yy in y..y1 {
            let start = ((yy * self.w + x) * 3) as usize;
            buf[start..start + row.len()].copy_from_slice(&row);
        }
    }

    /// Renders the RGB pixels; `amp` is the amplitude of the photo-like noise in the media area.
    fn render(&self, amp: f64, noise_seed: u64) -> Vec<u8> {
        let (w, h) = (self.w, self.h);
        let mut buf = vec![0u8; (w * h * 3) as usize];
        self.fill(&mut buf, 0, 0, w, h, self.bg);
        // Status bar and header: avatar + page name.
        self.fill(&mut buf, 0, 0, w, h / 40, self.ink.map(|c| c / 3 + self.bg[0] / 2));
        let line_h = (h / 64).max(8);
        self.fill(&mut buf, w / 24, h / 30, line_h * 3, line_h * 3, self.c2);
        self.fill(&mut buf, w / 24 + line_h * 4, h / 30 + line_h / 2, w / 3, line_h, self.ink);
        // Media: 2-D gradient, shapes, noise.
        let mh = (self.media_bottom - self.media_top).max(1);
        let mut grad_row = vec![0u8; (w * 3) as usize];
        for y in self.media_top..self.media_bottom {
            // The gradient changes slowly: recompute it every 4th row only.
            if (y - self.media_top).is_multiple_of(4) {
                let t = (y - self.media_top) * 256 / mh;
                for (x, px) in grad_row.chunks_exact_mut(3).enumerate() {
                    let a = (t + x as u32 * 256 / w) / 2;
                    for ((v, c1), c2) in px.iter_mut().zip(self.c1).zip(self.c2) {
                        *v = ((c1 as u32 * (256 - a) + c2 as u32 * a) / 256) as u8;
                    }
                }
            }
            let start = (y * w * 3) as usize;
            buf[start..start + grad_row.len()].copy_from_slice(&grad_row);
        }
        for &(x, y, sw, sh, c) in &self.shapes {
            self.fill(&mut buf, x, y, sw, sh, c);
        }
        if amp > 0.0 {
            // clamp(v + d, 0, 255) == CLAMP[v + d + 384] for |d| <= 384.
            let clamp: Vec<u8> = (0..1024i32).map(|i| (i - 384).clamp(0, 255) as u8).collect();
            let mut state = noise_seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            let scale = (amp.min(AMPS[5]) * 256.0 / 128.0) as i32;
            let start = (self.media_top * w * 3) as usize;
            let end = (self.media_bottom * w * 3) as usize;
            let mut coarse = 0i32;
            for (i, px) in buf[start..end].chunks_exact_mut(3).enumerate() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                if i % 8 == 0 {
                    coarse = ((state >> 40) as u8 as i32 - 128) * scale / 512;
                }
                let n = (((state as u8 as i32 - 128) * scale) >> 8) + coarse + 384;
                let chroma = ((((state >> 8) as u8 as i32) - 128) * scale) >> 10;
                px[0] = clamp[(px[0] as i32 + n + chroma) as usize];
                px[1] = clamp[(px[1] as i32 + n) as usize];
                px[2] = clamp[(px[2] as i32 + n - chroma) as usize];
            }
        }
        // Text and button.
        for (y, lh, words) in &self.text_rows {
            for &(x, ww) in words {
                self.fill(&mut buf, x, *y, ww, *lh, self.ink);
            }
        }
        let (bx, by, bw, bh, bc) = self.button;
        self.fill(&mut buf, bx, by, bw, bh, bc);
        self.fill(&mut buf, bx + bw / 4, by + bh / 3, bw / 2, bh / 3, self.bg);
        buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::data;
    use crate::{DemoConfig, DemoData};

    /// Walks a baseline JPEG's marker segments up to the scan; returns the frame size.
    fn jpeg_frame_size(jpeg: &[u8]) -> (u16, u16) {
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "SOI");
        assert_eq!(&jpeg[jpeg.len() - 2..], &[0xFF, 0xD9], "EOI");
        let mut i = 2;
        let mut size = None;
        loop {
            assert_eq!(jpeg[i], 0xFF, "marker at {i}");
            let marker = jpeg[i + 1];
            let len = u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]) as usize;
            if marker == 0xC0 {
                let h = u16::from_be_bytes([jpeg[i + 5], jpeg[i + 6]]);
                let w = u16::from_be_bytes([jpeg[i + 7], jpeg[i + 8]]);
                assert_eq!(jpeg[i + 9], 3, "three components");
                size = Some((w, h));
            }
            if marker == 0xDA {
                return size.expect("SOF0 before SOS");
            }
            i += 2 + len;
        }
    }

    #[test]
    fn images_are_real_jpegs_of_realistic_sizes() {
        let d = data(3, 2, 11);
        let mut seen = 0;
        for i in 0..3 {
            let ad = d.ad(i);
            assert!(!ad.images.is_empty());
            for (_, jpeg) in &ad.images {
                let (w, h) = jpeg_frame_size(jpeg);
                assert!((480..=1080).contains(&w) && (854..=2400).contains(&h), "{w}x{h}");
                assert!((18_000..=450_000).contains(&jpeg.len()), "{} bytes", jpeg.len());
                seen += 1;
            }
        }
        assert!(seen >= 3);
        // The whole pool: too slow for debug builds (the encoder is generic, so it is compiled
        // without optimisation there), quick in release builds.
        if !cfg!(debug_assertions) {
            let d = DemoData::new(&DemoConfig { ads: 1000, images_per_ad: 3, seed: 12 });
            let sizes: Vec<usize> = (0..POOL_SLOTS)
                .map(|j| {
                    let jpeg = d.pool_image(j);
                    jpeg_frame_size(&jpeg);
                    jpeg.len()
                })
                .collect();
            assert!(sizes.iter().all(|s| (18_000..=450_000).contains(s)), "{sizes:?}");
            let mean = sizes.iter().sum::<usize>() / sizes.len();
            assert!((70_000..=130_000).contains(&mean), "mean {mean}");
            assert!(sizes.iter().filter(|s| **s < 40_000).count() >= 3, "{sizes:?}");
            assert!(sizes.iter().filter(|s| **s > 200_000).count() >= 2, "{sizes:?}");
            let distinct: std::collections::HashSet<_> = (0..POOL_SLOTS).map(|j| d.pool_image(j)).collect();
            assert_eq!(distinct.len(), POOL_SLOTS);
        }
    }

    /// `cargo test -p aao-export-demo --release images::tests::pool_report -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn pool_report() {
        for seed in [1u64, 2, 3] {
            let t = std::time::Instant::now();
            let d = DemoData::new(&DemoConfig { ads: 1000, images_per_ad: 3, seed });
            let built = t.elapsed();
            let mut sizes: Vec<usize> = (0..POOL_SLOTS).map(|j| d.pool_image(j).len()).collect();
            sizes.sort();
            let mean = sizes.iter().sum::<usize>() / sizes.len();
            println!(
                "seed {seed}: pool built in {built:?}; KB min {} median {} mean {} max {}",
                sizes[0] / 1000,
                sizes[24] / 1000,
                mean / 1000,
                sizes[47] / 1000
            );
            let mp: usize = (0..POOL_SLOTS)
                .map(|j| {
                    let (w, h) = jpeg_frame_size(&d.pool_image(j));
                    w as usize * h as usize
                })
                .sum();
            println!("  pool megapixels {}", mp / 1_000_000);
            let t = std::time::Instant::now();
            let ads = 2000;
            let mut per_ad = Vec::with_capacity(ads * 3);
            let mut rdo_bytes = 0;
            for i in 0..ads {
                let ad = d.ad(i);
                rdo_bytes += ad.rdo.len();
                per_ad.extend(ad.images.iter().map(|(_, b)| b.len()));
            }
            let el = t.elapsed();
            per_ad.sort();
            let pct = |p: usize| per_ad[per_ad.len() * p / 100] / 1000;
            println!(
                "  {ads} ads in {el:?} ({:?}/ad), mean RDO {} B, {} images, image KB mean {} p5 {} p50 {} p95 {}",
                el / ads as u32,
                rdo_bytes / ads,
                per_ad.len(),
                per_ad.iter().sum::<usize>() / per_ad.len() / 1000,
                pct(5),
                pct(50),
                pct(95),
            );
        }
    }
}
