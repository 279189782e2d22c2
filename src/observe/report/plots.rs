//! The report's plots, each an SVG document drawn by plotters into a string.

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

use super::fit::PowerLaw;
use crate::count::Spectrum;
use crate::engine::LanguageShare;
use crate::observe::status::{AttemptOutcome, EventKind, JobStatus};

const WIDTH: u32 = 900;
const BLUE: RGBColor = RGBColor(21, 101, 192);
const ORANGE: RGBColor = RGBColor(239, 108, 0);
const GREEN: RGBColor = RGBColor(46, 125, 50);
const RED: RGBColor = RGBColor(198, 40, 40);
const GREY: RGBColor = RGBColor(158, 158, 158);
const FONT: &str = "sans-serif";

type Drawn = Result<(), String>;

/// Runs `draw` on an SVG canvas of `height` and returns the SVG text.
fn svg(
    height: u32,
    draw: impl FnOnce(DrawingArea<SVGBackend<'_>, plotters::coord::Shift>) -> Drawn,
) -> Result<String, String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        draw(root.clone())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(out)
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// A curve on log–log axes, with the line of the power law fitted to it.
struct LogLog<'a> {
    x_desc: &'a str,
    y_desc: &'a str,
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
    curve: &'a [(f64, f64)],
    curve_label: &'a str,
    color: RGBColor,
    /// The fitted line's two ends, and its label.
    fit: Option<([(f64, f64); 2], String)>,
    /// The corner the curve leaves empty.
    legend: SeriesLabelPosition,
}

fn log_log(plot: LogLog<'_>) -> Result<String, String> {
    svg(420, |root| {
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(plot.x.log_scale(), plot.y.log_scale())
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(plot.x_desc)
            .y_desc(plot.y_desc)
            .x_label_formatter(&|v| human(*v))
            .y_label_formatter(&|v| human(*v))
            .label_style((FONT, 13))
            .draw()
            .map_err(err)?;
        let key = |color: RGBColor| {
            move |(x, y): (i32, i32)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            }
        };
        chart
            .draw_series(LineSeries::new(
                plot.curve.iter().copied(),
                plot.color.stroke_width(2),
            ))
            .map_err(err)?
            .label(plot.curve_label)
            .legend(key(plot.color));
        if let Some((line, label)) = plot.fit {
            chart
                .draw_series(LineSeries::new(line, ORANGE.stroke_width(2)))
                .map_err(err)?
                .label(label)
                .legend(key(ORANGE));
        }
        chart
            .configure_series_labels()
            .position(plot.legend)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.3))
            .label_font((FONT, 13))
            .draw()
            .map_err(err)
    })
}

/// Rank against tf on log–log axes, with the fitted Zipf line.
pub fn rank_frequency(spectrum: &Spectrum, zipf: Option<PowerLaw>) -> Result<String, String> {
    let points = spectrum.rank_frequency(400);
    let max_rank = points.last().map_or(1.0, |p| p.0).max(10.0);
    let max_tf = points.first().map_or(1.0, |p| p.1).max(10.0);
    log_log(LogLog {
        x_desc: "rank",
        y_desc: "term frequency",
        x: 1.0..max_rank * 1.5,
        y: 1.0..max_tf * 1.5,
        curve: &points,
        curve_label: "words, by rank",
        color: BLUE,
        fit: zipf.map(|f| {
            let line = [1.0, max_rank].map(|r| (r, f.scale * r.powf(-f.exponent)));
            (
                line,
                format!("Zipf fit: s = {:.3} (R² = {:.3})", f.exponent, f.r2),
            )
        }),
        legend: SeriesLabelPosition::UpperRight,
    })
}

/// Distinct words against tokens (the expected vocabulary of random samples of the job's
/// tokens), with the fitted Heaps line.
pub fn vocabulary_growth(spectrum: &Spectrum, heaps: Option<PowerLaw>) -> Result<String, String> {
    let curve = spectrum.growth(80);
    let (min_n, max_n) = (
        curve.first().map_or(1.0, |p| p.0),
        curve.last().map_or(10.0, |p| p.0),
    );
    let (min_v, max_v) = (
        curve.first().map_or(1.0, |p| p.1),
        curve.last().map_or(10.0, |p| p.1),
    );
    log_log(LogLog {
        x_desc: "tokens",
        y_desc: "distinct words",
        x: min_n.max(1.0)..max_n * 1.2,
        y: (min_v * 0.8).max(1.0)..max_v * 1.3,
        curve: &curve,
        curve_label: "expected vocabulary of a random sample",
        color: GREEN,
        fit: heaps.map(|f| {
            let line = [min_n, max_n].map(|n| (n, f.at(n)));
            let label = format!(
                "Heaps fit: V = {:.2} n^{:.3} (R² = {:.3})",
                f.scale, f.exponent, f.r2
            );
            (line, label)
        }),
        legend: SeriesLabelPosition::UpperLeft,
    })
}

/// Horizontal bars, one per `(label, value)`, in the order given (top down), each labelled
/// at its end with its label and value.
fn bars(rows: &[(String, f64)], x_desc: &str, color: RGBColor) -> Result<String, String> {
    let n = rows.len().max(1);
    let max = rows.iter().map(|r| r.1).fold(0.0, f64::max).max(1e-9);
    svg(50 + 22 * n as u32, |root| {
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(34)
            .y_label_area_size(10)
            // Room on the right for the longest bar's label.
            .build_cartesian_2d(0.0..max * 1.35, (0..n).into_segmented())
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            // (The labels are drawn at the bars' ends; no labels at all, y_labels(0), makes
            // plotters loop forever on a segmented axis.)
            .y_labels(1)
            .y_label_formatter(&|_| String::new())
            .x_desc(x_desc)
            .x_label_formatter(&|v| human(*v))
            .label_style((FONT, 13))
            .draw()
            .map_err(err)?;
        let at = |i: usize| n - 1 - i;
        chart
            .draw_series(rows.iter().enumerate().map(|(i, row)| {
                let mut bar = Rectangle::new(
                    [
                        (0.0, SegmentValue::Exact(at(i))),
                        (row.1, SegmentValue::Exact(at(i) + 1)),
                    ],
                    color.filled(),
                );
                bar.set_margin(3, 3, 0, 0);
                bar
            }))
            .map_err(err)?;
        let style =
            TextStyle::from((FONT, 13).into_font()).pos(plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Left,
                plotters::style::text_anchor::VPos::Center,
            ));
        chart
            .draw_series(rows.iter().enumerate().map(|(i, row)| {
                let label = format!("{}  {}", row.0, human(row.1));
                Text::new(
                    label,
                    (row.1 + max * 0.01, SegmentValue::CenterOf(at(i))),
                    style.clone(),
                )
            }))
            .map_err(err)?;
        Ok(())
    })
}

/// A number as a short label: 1.2M, 35k, 12, 0.5.
fn human(v: f64) -> String {
    let a = v.abs();
    let (value, unit) = match a {
        a if a >= 1e12 => (v / 1e12, "T"),
        a if a >= 1e9 => (v / 1e9, "G"),
        a if a >= 1e6 => (v / 1e6, "M"),
        a if a >= 1e4 => (v / 1e3, "k"),
        _ => (v, ""),
    };
    let text = if value.fract().abs() < 1e-9 || value.abs() >= 100.0 {
        format!("{value:.0}")
    } else if value.abs() >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    };
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    text + unit
}

/// The top words by term frequency.
pub fn top_words(words: &[(String, u64)]) -> Result<String, String> {
    let rows: Vec<(String, f64)> = words
        .iter()
        .map(|(w, tf)| (w.clone(), *tf as f64))
        .collect();
    bars(&rows, "term frequency", BLUE)
}

/// Each language's share of the tokens, in percent.
pub fn languages(shares: &[LanguageShare], tokens: u64) -> Result<String, String> {
    let rows: Vec<(String, f64)> = (shares.iter())
        .map(|s| {
            (
                s.language.clone(),
                100.0 * s.tokens as f64 / tokens.max(1) as f64,
            )
        })
        .collect();
    bars(&rows, "share of the tokens (%)", GREEN)
}

/// Input MB/s over the job's time.
pub fn throughput(rates: &[(f64, f64)]) -> Result<String, String> {
    let end = rates.iter().map(|r| r.0).fold(0.0, f64::max).max(1e-3) * 1.02;
    let top = rates
        .iter()
        .map(|r| r.1 / 1e6)
        .fold(0.0, f64::max)
        .max(1e-3)
        * 1.15;
    svg(300, |root| {
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..end, 0.0..top)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("seconds")
            .y_desc("input MB/s")
            .label_style((FONT, 13))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(
                rates.iter().map(|&(t, r)| (t, r / 1e6)),
                BLUE.stroke_width(2),
            ))
            .map_err(err)?;
        Ok(())
    })
}

fn outcome_color(outcome: AttemptOutcome) -> RGBColor {
    match outcome {
        AttemptOutcome::Done => GREEN,
        AttemptOutcome::Running => BLUE,
        AttemptOutcome::Failed => RED,
        AttemptOutcome::Lost => ORANGE,
        AttemptOutcome::Cancelled => GREY,
    }
}

/// The tasks' copies per worker over time: maps (full height) and their shuffles (half),
/// coloured by outcome, backups outlined, losses and joins marked.
pub fn gantt(status: &JobStatus) -> Result<String, String> {
    let n = status.workers.len().max(1);
    let end = status.elapsed.max(1e-3);
    let labels: Vec<String> = status.workers.iter().map(|w| w.address.clone()).collect();
    svg(70 + 28 * n as u32, |root| {
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(150)
            .build_cartesian_2d(0.0..end, (0..n).into_segmented())
            .map_err(err)?;
        let name = |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&name)
            .x_desc("seconds")
            .label_style((FONT, 13))
            .draw()
            .map_err(err)?;
        let attempts = status.tasks.iter().flat_map(|t| t.attempts.iter());
        let mut shapes = Vec::new();
        for a in attempts {
            let w = a.worker as usize;
            let ended = a.ended.unwrap_or(end);
            let mapped = a.mapped.unwrap_or(ended).min(ended);
            let color = outcome_color(a.outcome);
            let mut map = Rectangle::new(
                [
                    (a.started, SegmentValue::Exact(w)),
                    (mapped.max(a.started), SegmentValue::Exact(w + 1)),
                ],
                color.filled(),
            );
            map.set_margin(4, 4, 0, 1);
            shapes.push(map);
            if ended > mapped {
                let mut shuffle = Rectangle::new(
                    [
                        (mapped, SegmentValue::Exact(w)),
                        (ended, SegmentValue::Exact(w + 1)),
                    ],
                    color.mix(0.45).filled(),
                );
                shuffle.set_margin(14, 4, 0, 1);
                shapes.push(shuffle);
            }
            if a.backup {
                let mut outline = Rectangle::new(
                    [
                        (a.started, SegmentValue::Exact(w)),
                        (ended, SegmentValue::Exact(w + 1)),
                    ],
                    BLACK.stroke_width(1),
                );
                outline.set_margin(3, 3, 0, 0);
                shapes.push(outline);
            }
        }
        chart.draw_series(shapes).map_err(err)?;
        let marks = status.events.iter().filter_map(|e| {
            let w = e.worker? as usize;
            let color = match e.kind {
                EventKind::WorkerLost => RED,
                EventKind::WorkerJoined => GREEN,
                _ => return None,
            };
            Some(PathElement::new(
                vec![
                    (e.at, SegmentValue::Exact(w)),
                    (e.at, SegmentValue::Exact(w + 1)),
                ],
                color.stroke_width(3),
            ))
        });
        chart.draw_series(marks).map_err(err)?;
        Ok(())
    })
}

/// Shuffle bytes per worker: sent to other workers, kept for its own partitions, received.
pub fn shuffle(status: &JobStatus) -> Result<String, String> {
    let mut rows = Vec::new();
    for w in &status.workers {
        rows.push((
            format!("{} sent", w.address),
            w.shuffle_bytes_sent as f64 / 1e6,
        ));
        rows.push((
            format!("{} kept", w.address),
            w.shuffle_bytes_kept as f64 / 1e6,
        ));
        rows.push((
            format!("{} received", w.address),
            w.shuffle_bytes_received as f64 / 1e6,
        ));
    }
    bars(&rows, "MB", ORANGE)
}

#[cfg(test)]
mod tests {
    use super::human;

    #[test]
    fn labels_are_short() {
        let cases = [
            (0.0, "0"),
            (12.0, "12"),
            (0.5, "0.5"),
            (2.25, "2.25"),
            (9999.0, "9999"),
            (35_000.0, "35k"),
            (1_200_000.0, "1.2M"),
            (3e9, "3G"),
            (45.3, "45.3"),
        ];
        for (v, want) in cases {
            assert_eq!(human(v), want, "{v}");
        }
    }
}
