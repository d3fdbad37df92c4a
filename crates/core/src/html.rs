//! HTML escaping for text that came from ads (hostile input): the one escaper the report and the
//! pages' hot paths use, escaping exactly what maud escapes (`&`, `<`, `>`, `"`).

/// Appends `text` escaped for HTML as maud escapes it (`&`, `<`, `>`, `"`), copying the runs
/// between those whole and skipping eight bytes at a time where there is none: ad text is long
/// and mostly plain, and escaping it was the largest share of rendering a card.
pub fn escape_into(text: &str, out: &mut String) {
    let bytes = text.as_bytes();
    let mut plain = 0;
    let mut escape_from = |out: &mut String, from: usize, to: usize| {
        for (i, byte) in bytes[from..to].iter().enumerate() {
            if let Some(entity) = entity(*byte) {
                // The four are ASCII, so `from + i` is a character boundary.
                out.push_str(&text[plain..from + i]);
                out.push_str(entity);
                plain = from + i + 1;
            }
        }
    };
    let words = bytes.chunks_exact(8);
    let tail = bytes.len() - words.remainder().len();
    for (n, word) in words.enumerate() {
        let word = u64::from_le_bytes([word[0], word[1], word[2], word[3], word[4], word[5], word[6], word[7]]);
        if [b'&', b'<', b'>', b'"'].into_iter().any(|special| has_zero_byte(word ^ (u64::from(special) * LOW_BITS))) {
            escape_from(out, n * 8, n * 8 + 8);
        }
    }
    escape_from(out, tail, bytes.len());
    out.push_str(&text[plain..]);
}

/// `0x0101…01`: a byte repeated across a word by multiplying.
const LOW_BITS: u64 = u64::from_le_bytes([1; 8]);

/// Whether any byte of `word` is zero (the classic test: exact, no false answers either way).
fn has_zero_byte(word: u64) -> bool {
    word.wrapping_sub(LOW_BITS) & !word & (LOW_BITS << 7) != 0
}

fn entity(byte: u8) -> Option<&'static str> {
    match byte {
        b'&' => Some("&amp;"),
        b'<' => Some("&lt;"),
        b'>' => Some("&gt;"),
        b'"' => Some("&quot;"),
        _ => None,
    }
}

/// `text` escaped for HTML, as a new string.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    escape_into(text, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The naive escaper the fast one must equal.
    fn naive(text: &str) -> String {
        text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
    }

    #[test]
    fn every_special_is_escaped_wherever_it_falls_in_a_word() {
        for len in 0..24 {
            for at in 0..len {
                for special in ['&', '<', '>', '"', '\'', 'é'] {
                    let mut text: String = "abcdefghijklmnopqrstuvwx"[..len].to_string();
                    text.replace_range(at..=at, &special.to_string());
                    assert_eq!(escape(&text), naive(&text), "{text:?}");
                }
            }
        }
        assert_eq!(
            escape("<script>alert(\"x&y\")</script>"),
            "&lt;script&gt;alert(&quot;x&amp;y&quot;)&lt;/script&gt;"
        );
    }
}
