//! The tokenizers' fast paths against their slow references (tests/common/reference.rs):
//! fixed cases for the hard corners of Unicode, and property tests on random Unicode text,
//! random bytes, and WET-like text. The run tokenizers are checked on every lane this CPU
//! has (scalar, SSE2, AVX2): each one, not only the fastest, must equal the reference.

mod common;

use common::reference;
use proptest::prelude::*;
use wetmr::tokenize::{Lane, Tokenizer, TokenizerKind};

const KINDS: [(TokenizerKind, &str); 3] = [
    (TokenizerKind::Word, "word"),
    (TokenizerKind::CcPyspark, "cc-pyspark"),
    (TokenizerKind::Uax29, "uax29"),
];

fn fast(tokenizer: Tokenizer, text: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    // A dirty scratch buffer must not leak into words.
    let mut scratch = b"garbage".to_vec();
    tokenizer.for_each_word(text, &mut scratch, |w| {
        let word = String::from_utf8(w.to_vec()).expect("words are UTF-8");
        // What the TSV and the map/reduce streams rely on: no tab, no line break, no other
        // whitespace in a word (and no empty word).
        assert!(
            !word.is_empty() && !word.chars().any(char::is_whitespace),
            "{:?}: a word with whitespace, or empty: {word:?}",
            tokenizer.kind()
        );
        out.push(word)
    });
    out
}

fn assert_same(text: &[u8]) {
    for (kind, name) in KINDS {
        let want = reference::words(name, text);
        for lane in Lane::ALL.into_iter().filter_map(Lane::ready) {
            let tokenizer = Tokenizer::on_lane(kind, lane);
            assert_eq!(
                fast(tokenizer, text),
                want,
                "{name} on the {} lane, on {:?}",
                tokenizer.lane().name(),
                String::from_utf8_lossy(text)
            );
        }
    }
}

#[test]
fn every_lane_of_this_cpu_is_tested() {
    let lanes: Vec<&str> = Lane::ALL
        .into_iter()
        .filter_map(Lane::ready)
        .map(|l| l.lane().name())
        .collect();
    // Say which lanes a run could not check (a CPU without AVX2 checks only two).
    eprintln!("lanes checked on this CPU: {lanes:?}");
    assert!(lanes.contains(&"scalar"));
    #[cfg(target_arch = "x86_64")]
    assert!(lanes.contains(&"sse2"));
    let detected = Tokenizer::new(TokenizerKind::Word).lane();
    assert!(lanes.contains(&detected.name()), "{detected:?}");
}

/// Text whose spans cross the 64-byte blocks the lanes classify: long ASCII runs (with and
/// without capitals), non-ASCII in the middle of long runs, separators at every offset.
fn block_crossing_text() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        (1usize..140, any::<bool>()).prop_map(|(n, caps)| {
            let c = if caps { b'Q' } else { b'q' };
            let mut run: Vec<u8> = (0..n).map(|i| c + (i % 7) as u8).collect();
            run[n / 2] = b'_';
            run
        }),
        (1usize..70).prop_map(|n| "ж".repeat(n).into_bytes()),
        (1usize..70).prop_map(|n| "Ж京".repeat(n).into_bytes()),
        wet_piece(),
        (1usize..70).prop_map(|n| vec![b' '; n]),
    ];
    proptest::collection::vec(piece, 0..12).prop_map(|p| p.concat())
}

#[test]
fn fixed_cases_match_the_reference() {
    let cases: &[&[u8]] = &[
        "".as_bytes(),
        "Hello, World!".as_bytes(),
        "हिन्दी भाषा में स्वागत है".as_bytes(), // Devanagari vowel signs and virama
        "ΟΔΟΣ Σ ΣΑ ΑΣ. σοφός ΣΟΦΟΣ".as_bytes(), // Greek final sigma
        "İstanbul İ i̇ KIRMIZI".as_bytes(), // dotted capital I
        "a\u{200d}b a\u{200c}b 👩\u{200d}💻".as_bytes(), // ZWJ / ZWNJ
        "東京都の漢字とひらがな".as_bytes(),
        "カタカナとｶﾀｶﾅ ー".as_bytes(),
        "ภาษาไทยสวัสดีครับ".as_bytes(),
        "emoji 😀 between 🇫🇷 flags".as_bytes(),
        "x² H₂O ½ ¾ ⅷ ① 10³".as_bytes(),
        "snake_case __init__ _ a_b_".as_bytes(),
        b"inv\xffalid \xc3 \xe2\x82 \xf0\x9f\x98 \xed\xa0\x80 \xc0\xaf mid\x80dle",
        b"split\r\nacross\r\nCRLF\nlines",
        "ǅungla ǈ ß ẞ ﬁ ŉ".as_bytes(), // titlecase, expansions
        "Ⅻ ⓐ Ⓐ 𝔄𝔟𝔠 ＡＢＣ".as_bytes(),
        "can't won’t e.g. 3.14 1,000 U.S.A.".as_bytes(),
        "مرحبا بالعالم، كيف حالك؟".as_bytes(),
        "Привет, МИР! Ёлка".as_bytes(),
        "\u{301}start with a mark e\u{301}".as_bytes(),
        // Marks after whitespace: UAX #29 makes one segment of "\t\u{903}" (rule WB4).
        "a\t\u{903}b x \u{11cb0} y\u{a0}\u{903} z\n\u{903}".as_bytes(),
    ];
    for text in cases {
        assert_same(text);
    }
}

/// Pieces that WET text is made of, and that tokenizers get wrong.
fn wet_piece() -> impl Strategy<Value = Vec<u8>> {
    let fixed: Vec<Vec<u8>> = [
        "Hello",
        "WORLD",
        "the",
        " ",
        " ",
        "\r\n",
        "\n",
        "\t",
        ",",
        ".",
        "-",
        "'",
        "’",
        "_",
        "ΟΔΟΣ",
        "Σ",
        "ς",
        "İ",
        "ı",
        "हिन्दी",
        "्",
        "東京",
        "の",
        "ひらがな",
        "カタカナ",
        "ー",
        "ภาษาไทย",
        "😀",
        "👩\u{200d}💻",
        "\u{200d}",
        "\u{200c}",
        "²",
        "½",
        "①",
        "e\u{301}",
        "ß",
        "ﬁ",
        "ǅ",
        "Привет",
        "مرحبا",
        "١٢٣",
        "123",
        "3.14",
        "x",
        "Ⓐ",
        "ｶﾀｶﾅ",
        "\u{feff}",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .chain([
        b"\xff".to_vec(),
        b"\xc3".to_vec(),
        b"\xe2\x82".to_vec(),
        b"\x80".to_vec(),
    ])
    .collect();
    prop_oneof![
        4 => proptest::sample::select(fixed),
        1 => any::<char>().prop_map(|c| c.to_string().into_bytes()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_unicode_matches(text in "\\PC{0,64}") {
        assert_same(text.as_bytes());
    }

    #[test]
    fn any_chars_match(chars in proptest::collection::vec(any::<char>(), 0..48)) {
        let text: String = chars.into_iter().collect();
        assert_same(text.as_bytes());
    }

    #[test]
    fn random_bytes_match(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
        assert_same(&bytes);
    }

    #[test]
    fn block_crossing_text_matches(text in block_crossing_text()) {
        assert_same(&text);
    }

    #[test]
    fn long_random_bytes_match(bytes in proptest::collection::vec(
        prop_oneof![4 => proptest::sample::select(b"aZ_9 .\xc3\xa9\xe4\xba\xac".to_vec()), 1 => any::<u8>()],
        0..400,
    )) {
        assert_same(&bytes);
    }

    #[test]
    fn wet_like_text_matches(pieces in proptest::collection::vec(wet_piece(), 0..40)) {
        assert_same(&pieces.concat());
    }
}
