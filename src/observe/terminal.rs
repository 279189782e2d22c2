//! The live bar on a terminal (indicatif), and the one way to print a line on standard
//! error while a bar may be drawn: [`say`] prints it above the bars instead of through
//! them.

use std::sync::{Mutex, PoisonError};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The bars drawn now, if any.
static DRAWN: Mutex<Option<MultiProgress>> = Mutex::new(None);

/// Prints `wetmr: LINE` on standard error, above the bars when some are drawn.
pub fn say(line: &str) {
    let drawn = DRAWN.lock().unwrap_or_else(PoisonError::into_inner);
    match drawn.as_ref() {
        Some(bars) => bars.suspend(|| eprintln!("wetmr: {line}")),
        None => eprintln!("wetmr: {line}"),
    }
}

/// Bars on standard error, redrawn in place at most 10 times a second, for as long as it
/// lives; dropping it clears them.
pub struct Bars {
    multi: MultiProgress,
}

impl Bars {
    pub fn new() -> Bars {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10));
        *DRAWN.lock().unwrap_or_else(PoisonError::into_inner) = Some(multi.clone());
        Bars { multi }
    }

    /// A new bar below the others: the job's bar when `total` bytes are known, a counter
    /// of bytes otherwise; or a line of text (`None` and `text`).
    pub fn add(&self, kind: BarKind) -> ProgressBar {
        let bar = match kind {
            BarKind::Bytes(Some(total)) => ProgressBar::new(total),
            _ => ProgressBar::no_length(),
        };
        bar.set_style(style(kind));
        self.multi.add(bar)
    }

    pub fn remove(&self, bar: &ProgressBar) {
        self.multi.remove(bar);
    }
}

impl Default for Bars {
    fn default() -> Self {
        Bars::new()
    }
}

impl Drop for Bars {
    fn drop(&mut self) {
        *DRAWN.lock().unwrap_or_else(PoisonError::into_inner) = None;
        let _ = self.multi.clear();
    }
}

/// What a bar shows.
#[derive(Debug, Clone, Copy)]
pub enum BarKind {
    /// Bytes done of a total, if the total is known (URLs may not say their size).
    Bytes(Option<u64>),
    /// A line of text (its message), e.g. one worker's.
    Text,
}

fn style(kind: BarKind) -> ProgressStyle {
    // The templates are fixed (a test parses each): one that did not parse would be shown
    // as a plain bar.
    ProgressStyle::with_template(template(kind))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

fn template(kind: BarKind) -> &'static str {
    match kind {
        BarKind::Bytes(Some(_)) => {
            "{spinner:.green} {elapsed_precise} [{wide_bar:.cyan/blue}] \
             {decimal_bytes}/{decimal_total_bytes} {decimal_bytes_per_sec} ETA {eta} {msg}"
        }
        BarKind::Bytes(None) => {
            "{spinner:.green} {elapsed_precise} {decimal_bytes} {decimal_bytes_per_sec} {msg}"
        }
        BarKind::Text => "  {msg}",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        for kind in [BarKind::Bytes(Some(1)), BarKind::Bytes(None), BarKind::Text] {
            let parsed = ProgressStyle::with_template(template(kind));
            assert!(parsed.is_ok(), "{kind:?}: {:?}", parsed.err());
        }
    }
}
