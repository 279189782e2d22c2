//! The languages of generated pages: how a word of a given Zipf rank is spelled.
//!
//! A word is a deterministic function of (language, rank): frequent ranks give short words,
//! rare ranks longer ones, and distinct ranks almost always give distinct words. Scripts
//! cover what the tokenizers must get right: Latin with diacritics, Cyrillic, Greek (final
//! sigma), Arabic, Devanagari (combining vowel signs and virama), Han and Japanese kana
//! (written without spaces), and Thai.

use super::rng::{mix, Rng};

#[derive(Clone, Copy)]
pub struct Lang {
    pub code: &'static str,
    pub tld: &'static str,
    pub weight: u32,
    /// Whether words are separated by spaces.
    pub spaces: bool,
    pub comma: &'static str,
    pub stop: &'static str,
    pub salt: u64,
    pub onsets: &'static [&'static str],
    pub nuclei: &'static [&'static str],
    /// Words are 1..=max_units units long (syllables, or characters for Han).
    pub max_units: u64,
}

const LATIN_ONSETS: &[&str] = &[
    "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "th",
    "sh", "ch", "st", "br", "tr", "pl", "gr", "",
];
const LATIN_NUCLEI: &[&str] = &["a", "e", "i", "o", "u", "ea", "ou", "ai", "y", "ee"];
const DEU_NUCLEI: &[&str] = &["a", "e", "i", "o", "u", "ä", "ö", "ü", "ei", "au", "ie"];
const DEU_ONSETS: &[&str] = &[
    "b", "d", "f", "g", "h", "k", "l", "m", "n", "r", "s", "t", "w", "z", "sch", "ß", "st", "",
];
const FRA_NUCLEI: &[&str] = &["a", "e", "é", "è", "i", "o", "u", "ou", "ê", "à", "oi"];
const SPA_NUCLEI: &[&str] = &["a", "e", "i", "o", "u", "á", "é", "í", "ó", "ú", "ue"];
const SPA_ONSETS: &[&str] = &[
    "b", "c", "d", "f", "g", "j", "l", "ll", "m", "n", "ñ", "p", "r", "rr", "s", "t", "v", "",
];
const CYR_ONSETS: &[&str] = &[
    "б", "в", "г", "д", "ж", "з", "к", "л", "м", "н", "п", "р", "с", "т", "ф", "х", "ц", "ч", "ш",
    "щ", "",
];
const CYR_NUCLEI: &[&str] = &["а", "е", "ё", "и", "о", "у", "ы", "э", "ю", "я", "ой", "ий"];
const GRK_ONSETS: &[&str] = &[
    "β", "γ", "δ", "ζ", "θ", "κ", "λ", "μ", "ν", "ξ", "π", "ρ", "σ", "τ", "φ", "χ", "ψ", "",
];
const GRK_NUCLEI: &[&str] = &["α", "ε", "η", "ι", "ο", "υ", "ω", "ά", "έ", "ί", "ό", "ού"];
const ARA_ONSETS: &[&str] = &[
    "ب", "ت", "ث", "ج", "ح", "خ", "د", "ذ", "ر", "ز", "س", "ش", "ص", "ض", "ط", "ع", "ف", "ق", "ك",
    "ل", "م", "ن", "ه",
];
const ARA_NUCLEI: &[&str] = &["ا", "و", "ي", "", "", "ة"];
const DEV_ONSETS: &[&str] = &[
    "क",
    "ख",
    "ग",
    "च",
    "ज",
    "ट",
    "ड",
    "त",
    "द",
    "न",
    "प",
    "ब",
    "म",
    "य",
    "र",
    "ल",
    "व",
    "स",
    "ह",
    "क्ष",
    "त्र",
    "स्त",
];
const DEV_NUCLEI: &[&str] = &["", "ा", "ि", "ी", "ु", "ू", "े", "ै", "ो", "ं", "्"];
const HAN: &[&str] = &[""];
const HIRA_ONSETS: &[&str] = &[
    "か", "き", "く", "け", "こ", "さ", "し", "す", "た", "ち", "つ", "な", "に", "の", "は", "ま",
    "も", "ら", "り", "る", "を", "が", "で",
];
const KATA_NUCLEI: &[&str] = &[
    "ア", "イ", "カ", "キ", "ク", "サ", "シ", "タ", "テ", "ト", "ナ", "ハ", "フ", "マ", "ラ", "リ",
    "ル", "ン", "ー", "ッ",
];
const THAI_ONSETS: &[&str] = &[
    "ก", "ข", "ค", "ง", "จ", "ช", "ด", "ต", "ท", "น", "บ", "ป", "พ", "ม", "ย", "ร", "ล", "ว", "ส",
    "ห", "อ",
];
const THAI_NUCLEI: &[&str] = &["า", "ิ", "ี", "ุ", "ู", "เ", "แ", "ไ", "ั", "่", "้", ""];

pub static LANGS: &[Lang] = &[
    Lang {
        code: "eng",
        tld: "com",
        weight: 42,
        spaces: true,
        comma: ",",
        stop: ".",
        salt: 1,
        onsets: LATIN_ONSETS,
        nuclei: LATIN_NUCLEI,
        max_units: 5,
    },
    Lang {
        code: "deu",
        tld: "de",
        weight: 7,
        spaces: true,
        comma: ",",
        stop: ".",
        salt: 2,
        onsets: DEU_ONSETS,
        nuclei: DEU_NUCLEI,
        max_units: 6,
    },
    Lang {
        code: "fra",
        tld: "fr",
        weight: 6,
        spaces: true,
        comma: ",",
        stop: " !",
        salt: 3,
        onsets: LATIN_ONSETS,
        nuclei: FRA_NUCLEI,
        max_units: 5,
    },
    Lang {
        code: "spa",
        tld: "es",
        weight: 6,
        spaces: true,
        comma: ",",
        stop: ".",
        salt: 4,
        onsets: SPA_ONSETS,
        nuclei: SPA_NUCLEI,
        max_units: 5,
    },
    Lang {
        code: "rus",
        tld: "ru",
        weight: 8,
        spaces: true,
        comma: ",",
        stop: ".",
        salt: 5,
        onsets: CYR_ONSETS,
        nuclei: CYR_NUCLEI,
        max_units: 5,
    },
    Lang {
        code: "ell",
        tld: "gr",
        weight: 2,
        spaces: true,
        comma: ",",
        stop: ";",
        salt: 6,
        onsets: GRK_ONSETS,
        nuclei: GRK_NUCLEI,
        max_units: 5,
    },
    Lang {
        code: "ara",
        tld: "sa",
        weight: 4,
        spaces: true,
        comma: "،",
        stop: ".",
        salt: 7,
        onsets: ARA_ONSETS,
        nuclei: ARA_NUCLEI,
        max_units: 4,
    },
    Lang {
        code: "hin",
        tld: "in",
        weight: 4,
        spaces: true,
        comma: ",",
        stop: "।",
        salt: 8,
        onsets: DEV_ONSETS,
        nuclei: DEV_NUCLEI,
        max_units: 4,
    },
    Lang {
        code: "zho",
        tld: "cn",
        weight: 7,
        spaces: false,
        comma: "，",
        stop: "。",
        salt: 9,
        onsets: HAN,
        nuclei: HAN,
        max_units: 3,
    },
    Lang {
        code: "jpn",
        tld: "jp",
        weight: 4,
        spaces: false,
        comma: "、",
        stop: "。",
        salt: 10,
        onsets: HIRA_ONSETS,
        nuclei: KATA_NUCLEI,
        max_units: 4,
    },
    Lang {
        code: "tha",
        tld: "th",
        weight: 2,
        spaces: false,
        comma: " ",
        stop: " ",
        salt: 11,
        onsets: THAI_ONSETS,
        nuclei: THAI_NUCLEI,
        max_units: 4,
    },
];

impl Lang {
    /// Appends the word of `rank` in this language.
    pub fn word(&self, rank: u64, out: &mut String) {
        let mut h = mix(rank.wrapping_mul(0x1000_0000_01b3) ^ self.salt);
        // Frequent ranks are short: about one unit more per factor of 30 in rank.
        let length_class = (64 - rank.leading_zeros() as u64) / 5;
        let units = 1 + (length_class + h % 2).min(self.max_units - 1);
        h = mix(h);
        if self.code == "zho" || (self.code == "jpn" && h.is_multiple_of(5)) {
            // Han characters: rank picks them from the common CJK block.
            for _ in 0..units {
                out.push(char::from_u32(0x4e00 + (h % 6000) as u32).unwrap_or('中'));
                h = mix(h);
            }
            return;
        }
        for u in 0..units {
            let table = if self.code == "jpn" {
                // Hiragana words, or Katakana ones (loanwords).
                if rank.is_multiple_of(3) {
                    self.nuclei
                } else {
                    self.onsets
                }
            } else if u % 2 == 0 || self.nuclei.is_empty() {
                out.push_str(self.onsets[(h % self.onsets.len() as u64) as usize]);
                h = mix(h);
                self.nuclei
            } else {
                self.nuclei
            };
            out.push_str(table[(h % table.len() as u64) as usize]);
            h = mix(h);
        }
        // Distinct ranks give distinct words: very rare ranks carry a suffix.
        if rank > 200_000 && self.spaces && self.code != "hin" && self.code != "ara" {
            out.push_str(&ascii_word(rank, 4));
        }
    }
}

/// A pronounceable ASCII word for `n`, at most `max_len` bytes.
pub fn ascii_word(n: u64, max_len: usize) -> String {
    let mut h = mix(n);
    let mut s = String::new();
    while s.len() + 2 <= max_len {
        s.push(b"bcdfghklmnprstvz"[(h % 16) as usize] as char);
        s.push(b"aeiou"[((h >> 8) % 5) as usize] as char);
        h = mix(h);
        if h.is_multiple_of(4) && s.len() >= 4 {
            break;
        }
    }
    s
}

/// A token from the long tail: identifiers, numbers, host names, odd symbols.
pub fn rare_token(rng: &mut Rng, out: &mut String) {
    let h = rng.next();
    match h % 8 {
        0 | 1 => {
            for i in 0..8 {
                out.push(
                    b"abcdefghijklmnopqrstuvwxyz0123456789"[((h >> (i * 5)) % 36) as usize] as char,
                );
            }
        }
        2 | 3 => out.push_str(&(h % 10_000_000).to_string()),
        4 => out.push_str(&format!("www.{}{}.com", ascii_word(h, 8), h % 1000)),
        5 => out.push_str(&format!("{}_{}", ascii_word(h, 6), h % 100)),
        6 => out.push_str(
            [
                "½",
                "x²",
                "™",
                "—",
                "😀",
                "👩\u{200d}💻",
                "İstanbul",
                "ΟΔΟΣ",
            ][(h >> 8) as usize % 8],
        ),
        _ => out.push_str(&format!("{}{}", ascii_word(h >> 3, 6), h % 17)),
    }
}

/// Uppercases the first character of `out[start..]`.
pub fn capitalize_first(out: &mut String, start: usize) {
    if let Some(c) = out[start..].chars().next() {
        let upper: String = c.to_uppercase().collect();
        out.replace_range(start..start + c.len_utf8(), &upper);
    }
}

/// Uppercases `out[start..]`.
pub fn uppercase_from(out: &mut String, start: usize) {
    let upper = out[start..].to_uppercase();
    out.truncate(start);
    out.push_str(&upper);
}
