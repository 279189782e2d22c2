//! The report's HTML: a header, the job's figures (the stats document's, same numbers),
//! and the plots, each an inline SVG with a caption that says what it shows.

use std::fmt::Write;

use super::plots;
use super::ReportData;

/// Escapes text for HTML.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{margin:0;font:14px/1.5 system-ui,-apple-system,'Segoe UI',sans-serif;\
color:#1d2330}header{padding:16px 28px;border-bottom:1px solid #e4e7ec}h1{font-size:20px;\
margin:0}main{padding:8px 28px 28px;max-width:960px}h2{font-size:16px;margin:26px 0 6px}\
table{border-collapse:collapse;font-variant-numeric:tabular-nums}td,th{padding:3px 14px 3px 0;\
text-align:left}td.n{text-align:right}.muted{color:#667085}figure{margin:8px 0 0}\
figcaption{color:#667085;font-size:13px;margin-top:2px}svg{max-width:100%;height:auto}";

/// The whole page.
pub fn render(data: &ReportData) -> Result<String, String> {
    let s = data.stats;
    let mut html = String::new();
    let _ = write!(
        html,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>wetmr report: {}</title><style>{STYLE}</style></head><body>\
         <header><h1>wetmr report</h1><div class=\"muted\">{}</div></header><main>",
        esc(&data.title),
        esc(&data.title)
    );
    html.push_str("<h2>The job</h2><table id=\"figures\">");
    let rows: [(&str, &str, String); 11] = [
        ("files", "files", s.files.to_string()),
        ("records", "records", s.counters.records.to_string()),
        (
            "conversion_records",
            "conversion records",
            s.counters.conversion_records.to_string(),
        ),
        ("tokens", "tokens", s.counters.tokens.to_string()),
        (
            "distinct_words",
            "distinct words",
            s.distinct_words.to_string(),
        ),
        (
            "words_written",
            "words written",
            s.words_written.to_string(),
        ),
        ("bytes_in", "bytes in", s.bytes_in.to_string()),
        (
            "warc_bytes",
            "WARC bytes",
            s.counters.warc_bytes.to_string(),
        ),
        ("threads", "threads", s.threads.to_string()),
        ("seconds", "seconds", format!("{:.3}", s.seconds)),
        ("mb_per_s", "MB/s in", format!("{:.1}", s.mb_per_s)),
    ];
    for (key, label, value) in rows {
        let _ = write!(
            html,
            "<tr><th>{label}</th><td class=\"n\" data-key=\"{key}\">{value}</td></tr>"
        );
    }
    html.push_str("</table>");

    let spectrum = &data.spectrum;
    let zipf = spectrum.zipf();
    let heaps = spectrum.heaps();
    let source = format!("all {} distinct words", spectrum.words());
    figure(
        &mut html,
        "Rank–frequency",
        "rank-frequency",
        plots::rank_frequency(spectrum, zipf)?,
        &match zipf {
            Some(f) => format!(
                "Each word's term frequency against its rank, on log–log axes ({source}). \
                 Zipf's law tf = C·rank<sup>−s</sup> fitted on log-spaced ranks up to the last \
                 word seen twice: <b data-key=\"zipf_s\">s = {:.3}</b>, R² = {:.3}.",
                f.exponent, f.r2
            ),
            None => format!("Too few words to fit Zipf's law ({source})."),
        },
    );
    figure(
        &mut html,
        "Vocabulary growth",
        "vocabulary-growth",
        plots::vocabulary_growth(spectrum, heaps)?,
        &match heaps {
            Some(f) => format!(
                "Distinct words against tokens: the expected vocabulary of a uniform random \
                 sample of n of the job's tokens, computed from its frequency spectrum (a word \
                 of frequency t is in it with probability 1 − (1 − n/N)<sup>t</sup>). Heaps' law \
                 V = K·n<sup>β</sup> fitted: <b data-key=\"heaps_beta\">β = {:.3}</b>, \
                 K = {:.2}, R² = {:.3}.",
                f.exponent, f.scale, f.r2
            ),
            None => "Too few tokens to fit Heaps' law.".to_string(),
        },
    );
    figure(
        &mut html,
        "Top words",
        "top-words",
        plots::top_words(&data.top)?,
        &format!(
            "The {} most frequent words, by term frequency.",
            data.top.len()
        ),
    );
    let languages = &s.languages;
    figure(
        &mut html,
        "Languages",
        "languages",
        plots::languages(&languages[..languages.len().min(20)], s.counters.tokens)?,
        "Share of the tokens by the first language of each record's \
         WARC-Identified-Content-Language header ((none): records without it).",
    );
    html.push_str(
        "<table id=\"languages\"><tr><th>language</th><th>records</th><th>tokens</th></tr>",
    );
    for l in languages {
        let _ = write!(
            html,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            esc(&l.language),
            l.records,
            l.tokens
        );
    }
    html.push_str("</table>");
    if let Some(samples) = &data.throughput {
        figure(
            &mut html,
            "Throughput",
            "throughput",
            plots::throughput(&samples.rates())?,
            &format!(
                "Input bytes read per second over the job (samples {:.2} s apart at most).",
                samples.interval
            ),
        );
    }
    if let Some(status) = &data.cluster {
        figure(
            &mut html,
            "Tasks per worker",
            "gantt",
            plots::gantt(status)?,
            "Every copy of every map task on its worker over time: the map (tall bar) then its \
             shuffle until every partition is acknowledged (short bar). Green: done; grey: \
             cancelled (another copy won); orange: lost with its worker; red: failed; \
             outlined: a backup copy. Red marks: a worker lost; green: a worker joined.",
        );
        figure(
            &mut html,
            "Shuffle per worker",
            "shuffle",
            plots::shuffle(status)?,
            "Partition bytes each worker sent to the others, kept for the partitions it owns, \
             and received.",
        );
        let r = &status.recovery;
        let _ = write!(
            html,
            "<p class=\"muted\">Recovery: {} workers lost, {} tasks run again, {} partitions \
             moved, {} backup copies ({} won), {} workers joined.</p>",
            r.workers_lost,
            r.tasks_reexecuted,
            r.partitions_moved,
            r.backups_launched,
            r.backups_won,
            r.workers_joined
        );
    }
    html.push_str("</main></body></html>\n");
    Ok(html)
}

fn figure(html: &mut String, title: &str, id: &str, svg: String, caption: &str) {
    let _ = write!(
        html,
        "<h2>{title}</h2><figure id=\"{id}\">{svg}<figcaption>{caption}</figcaption></figure>"
    );
}
