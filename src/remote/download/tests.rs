use super::answer::content_range;

#[test]
fn content_ranges_are_checked() {
    assert_eq!(content_range("bytes 100-199/200"), Some((100, 200)));
    assert_eq!(content_range("bytes 0-0/1"), Some((0, 1)));
    assert_eq!(content_range("bytes 100-99/200"), None);
    assert_eq!(content_range("bytes 100-200/200"), None);
    assert_eq!(content_range("bytes */200"), None);
    assert_eq!(content_range("items 1-2/3"), None);
}
