//! The table against plain maps: examples, and a model checked with proptest.

mod examples {
    use super::super::key::padded;
    use super::super::*;

    fn sorted(t: &CountTable) -> Vec<(Vec<u8>, u64, u64)> {
        let mut v: Vec<_> = t
            .iter()
            .filter(|e| e.1 != 0)
            .map(|(w, tf, df)| (w.to_vec(), tf, df))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn tf_and_df() {
        let mut t = CountTable::new();
        t.begin_record();
        for w in ["a", "b", "a"] {
            t.add(w.as_bytes(), 1);
        }
        t.begin_record();
        t.add(b"a", 1);
        assert_eq!(
            sorted(&t),
            vec![(b"a".to_vec(), 3, 2), (b"b".to_vec(), 1, 1)]
        );
    }

    #[test]
    fn withdrawing_restores_the_table() {
        let mut t = CountTable::new();
        t.begin_record();
        t.add(b"keep", 1);
        let before = sorted(&t);
        let minus = 1u64.wrapping_neg();
        for delta in [1, minus] {
            t.begin_record();
            for w in ["x", "keep", "x"] {
                t.add(w.as_bytes(), delta);
            }
        }
        assert_eq!(sorted(&t), before);
    }

    #[test]
    fn absorb_sums() {
        let mut a = CountTable::new();
        let mut b = CountTable::new();
        a.begin_record();
        a.add(b"w", 1);
        b.begin_record();
        b.add(b"w", 1);
        b.add(b"v", 1);
        a.absorb(&b);
        assert_eq!(
            sorted(&a),
            vec![(b"v".to_vec(), 1, 1), (b"w".to_vec(), 2, 2)]
        );
    }

    #[test]
    fn padded_matches_a_plain_copy() {
        let bytes: Vec<u8> = (1..=16).collect();
        for len in 0..=INLINE {
            let mut buf = [0u8; 16];
            buf[..len].copy_from_slice(&bytes[..len]);
            let want = (
                u64::from_le_bytes(buf[..8].try_into().unwrap()),
                u64::from_le_bytes(buf[8..].try_into().unwrap()),
            );
            assert_eq!(padded(&bytes[..len]), want, "len {len}");
        }
    }

    #[test]
    fn short_long_and_prefix_sharing_keys_stay_apart() {
        let words: Vec<Vec<u8>> = [
            &b""[..],
            b"a",
            b"a\0",
            b"sixteen_bytes_ok",
            b"seventeen_bytes_x",
            b"seventeen_bytes_y",
            b"seventeen_bytes_xx",
            "ünïcödé-wörds-are-long".as_bytes(),
        ]
        .iter()
        .map(|w| w.to_vec())
        .collect();
        let mut t = CountTable::new();
        for (i, w) in words.iter().enumerate() {
            for _ in 0..=i {
                t.begin_record();
                t.add(w, 1);
            }
        }
        let mut want: Vec<_> = words
            .iter()
            .enumerate()
            .map(|(i, w)| (w.clone(), i as u64 + 1, i as u64 + 1))
            .collect();
        want.sort();
        assert_eq!(sorted(&t), want);
    }

    #[test]
    fn doc_serial_wrap_keeps_df_exact() {
        let mut t = CountTable::new();
        t.doc = DocId::MAX - 1;
        for _ in 0..4 {
            t.begin_record();
            t.add(b"w", 1);
        }
        assert_eq!(sorted(&t), vec![(b"w".to_vec(), 4, 4)]);
    }
}

mod model {
    use super::super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    proptest! {
        #[test]
        fn tables_and_merges_match_a_map(
            docs in proptest::collection::vec(
                proptest::collection::vec((0usize..2, "[a-cé]{0,3}|[a-z]{15,18}"), 0..40),
                0..30,
            )
        ) {
            let mut tables = [CountTable::new(), CountTable::new()];
            let mut model: HashMap<Vec<u8>, (u64, u64)> = HashMap::new();
            for doc in &docs {
                for t in &mut tables {
                    t.begin_record();
                }
                let mut seen = std::collections::HashSet::new();
                for (which, word) in doc {
                    if word.is_empty() {
                        continue;
                    }
                    tables[*which].add(word.as_bytes(), 1);
                    let e = model.entry(word.as_bytes().to_vec()).or_default();
                    e.0 += 1;
                    if seen.insert((*which, word.clone())) {
                        e.1 += 1;
                    }
                }
            }
            let [mut a, b] = tables;
            a.absorb(&b);
            let mut got: Vec<_> = a.iter().map(|(w, tf, df)| (w.to_vec(), (tf, df))).collect();
            got.sort();
            let mut want: Vec<_> = model.into_iter().collect();
            want.sort();
            prop_assert_eq!(got, want);
        }
    }
}
