//! wetgen: deterministic generator of Common-Crawl-shaped WET files.
//!
//! `wetgen --size 400MB --seed 1 --gzip OUT` writes a warcinfo record, then conversion records
//! with Common Crawl's headers (WARC-Target-URI, WARC-Date, WARC-Record-ID, WARC-Refers-To,
//! WARC-Block-Digest, WARC-Identified-Content-Language, Content-Type, Content-Length): CRLF
//! header lines, LF body lines, records separated by CRLF CRLF, and with `--gzip` one gzip
//! member per record (or one stream for the whole file with `--single-stream`).
//!
//! Bodies are multilingual text (Latin-script languages, Cyrillic, Greek, Arabic, Devanagari,
//! Han, Japanese kana, Thai) whose words follow a Zipf law over an unbounded vocabulary,
//! plus a tail of rare tokens (identifiers, numbers, host names), so the number of distinct
//! words keeps growing with the input the way web text does. The same arguments always give
//! the same bytes: the generator uses its own seeded PRNG and no hash-map ordering.
//!
//! `--profile web` makes text as dense in new words as real multilingual web text: about one
//! new word per nine tokens at 85 MB (real text in 482 languages of that size: one per
//! nine), where the default profile has one per fifteen. Each language comes in 40
//! variants with vocabularies of their own (about 500 in all, as a crawl's languages), and
//! rare tokens (numbers, identifiers, host names) are five times as common.

mod lang;
mod rng;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use flate2::write::GzEncoder;
use flate2::Compression;

use lang::{Lang, LANGS};
use rng::Rng;

#[derive(Debug, Parser)]
#[command(
    name = "wetgen",
    about = "Generate a deterministic, Common-Crawl-shaped WET file",
    after_help = "Example: wetgen --size 400MB --seed 1 --gzip corpus.warc.wet.gz"
)]
struct Args {
    /// Approximate size of the WARC data (uncompressed): 2MB, 400MB, 1GiB, 50000 ...
    #[arg(long, value_parser = parse_size, default_value = "2MB")]
    size: u64,
    /// Seed of the pseudo-random generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Compress, one gzip member per record (Common Crawl's layout).
    #[arg(long)]
    gzip: bool,
    /// With --gzip: compress the whole file as one gzip stream instead.
    #[arg(long, requires = "gzip")]
    single_stream: bool,
    /// Ranks 1..=HEAD follow Zipf's law with s = 1 (the common words of each language).
    #[arg(long, default_value_t = 10_000)]
    head: u64,
    /// Beyond HEAD, ranks follow a power law with this exponent (steeper than 1, as in web
    /// text, so the vocabulary grows like Heaps' law with beta = 1 / exponent).
    #[arg(long, default_value_t = 1.6)]
    tail_exponent: f64,
    /// The kind of text: `zipf`, or `web`: as dense in new words as real multilingual web
    /// text (one new word per ~9 tokens at 85 MB, against ~15 for `zipf`), each language in
    /// 40 variants with vocabularies of their own, and five times as many rare tokens.
    #[arg(long, value_enum, default_value = "zipf")]
    profile: Profile,
    /// Output file.
    out: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Profile {
    Zipf,
    Web,
}

/// How a profile shapes the text.
struct Shape {
    /// Variants of each language, each with its own vocabulary.
    variants: u64,
    /// One token in this many is a rare one.
    rare_every: u64,
}

impl Shape {
    fn of(profile: Profile) -> Shape {
        match profile {
            Profile::Zipf => Shape {
                variants: 1,
                rare_every: 200,
            },
            Profile::Web => Shape {
                variants: 40,
                rare_every: 40,
            },
        }
    }

    /// A record's language: one of `LANGS`, in one of its variants (the first, a
    /// language's main one, seven times in eight).
    fn pick(&self, rng: &mut Rng) -> Lang {
        let mut lang = *pick_lang(rng);
        if self.variants > 1 && rng.next().is_multiple_of(8) {
            let variant = 1 + rng.next() % (self.variants - 1);
            lang.salt ^= variant << 32;
        }
        lang
    }
}

fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| format!("bad size: {text}"))?;
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        other => return Err(format!("unknown size unit: {other}")),
    };
    Ok((number * scale) as u64)
}

fn main() -> ExitCode {
    let args = Args::parse();
    match generate(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wetgen: {}: {e}", args.out.display());
            ExitCode::from(3)
        }
    }
}

/// Where records go: plain, one gzip member each, or one gzip stream.
enum Sink {
    Plain(BufWriter<File>),
    Members(BufWriter<File>),
    Stream(Box<GzEncoder<BufWriter<File>>>),
}

impl Sink {
    fn record(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Sink::Plain(w) => w.write_all(bytes),
            Sink::Members(w) => {
                let mut member = GzEncoder::new(Vec::new(), Compression::default());
                member.write_all(bytes)?;
                w.write_all(&member.finish()?)
            }
            Sink::Stream(w) => w.write_all(bytes),
        }
    }

    fn finish(self) -> io::Result<()> {
        let mut file = match self {
            Sink::Plain(w) | Sink::Members(w) => w,
            Sink::Stream(w) => (*w).finish()?,
        };
        file.flush()?;
        file.get_ref().sync_all()
    }
}

fn generate(args: &Args) -> io::Result<()> {
    let file = BufWriter::with_capacity(1 << 20, File::create(&args.out)?);
    let mut sink = match (args.gzip, args.single_stream) {
        (false, _) => Sink::Plain(file),
        (true, false) => Sink::Members(file),
        (true, true) => Sink::Stream(Box::new(GzEncoder::new(file, Compression::default()))),
    };
    let mut rng = Rng::new(args.seed);
    let mut written = 0u64;
    let mut record = Vec::new();
    let info = warcinfo(&mut rng, args.seed);
    frame(&mut record, &info.0, info.1.as_bytes());
    sink.record(&record)?;
    written += record.len() as u64;
    let mut body = String::new();
    let mut serial = 0u64;
    let shape = Shape::of(args.profile);
    let ranks = Ranks::new(args.head, args.tail_exponent);
    while written < args.size {
        let lang = shape.pick(&mut rng);
        body.clear();
        let target = body_len(&mut rng);
        write_body(&mut rng, &lang, &ranks, shape.rare_every, target, &mut body);
        let headers = conversion_headers(&mut rng, &lang, serial, body.as_bytes());
        frame(&mut record, &headers, body.as_bytes());
        sink.record(&record)?;
        written += record.len() as u64;
        serial += 1;
    }
    sink.finish()
}

/// Writes header lines (CRLF), the blank line, the body, and the CRLF CRLF trailer.
fn frame(out: &mut Vec<u8>, headers: &[(&str, String)], body: &[u8]) {
    out.clear();
    out.extend_from_slice(b"WARC/1.0\r\n");
    for (name, value) in headers {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(b"\r\n\r\n");
}

fn warcinfo(rng: &mut Rng, seed: u64) -> (Vec<(&'static str, String)>, String) {
    let body = format!(
        "Software-Info: wetgen/{} (seed {seed})\r\n\
         Extracted-Date: Sat, 18 May 2024 01:57:12 GMT\r\n\
         robots: checked via crawler-commons 1.5-SNAPSHOT\r\n\
         isPartOf: CC-MAIN-2024-22\r\n\
         operator: Common Crawl Admin (info@commoncrawl.org)\r\n\
         description: Synthetic crawl generated for wetmr tests and benchmarks\r\n\
         publisher: Common Crawl\r\n",
        env!("CARGO_PKG_VERSION")
    );
    let headers = vec![
        ("WARC-Type", "warcinfo".to_string()),
        ("WARC-Date", "2024-05-18T01:57:12Z".to_string()),
        (
            "WARC-Filename",
            format!(
                "CC-MAIN-20240518000000-20240518030000-{:05}.warc.wet.gz",
                seed % 100_000
            ),
        ),
        ("WARC-Record-ID", uuid(rng)),
        ("Content-Type", "application/warc-fields".to_string()),
    ];
    (headers, body)
}

fn conversion_headers(
    rng: &mut Rng,
    lang: &Lang,
    serial: u64,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    let host = format!(
        "{}{}.{}",
        lang::ascii_word(rng.next() % 5000, 6),
        serial % 97,
        lang.tld
    );
    let second = serial % 86_400;
    vec![
        ("WARC-Type", "conversion".to_string()),
        (
            "WARC-Target-URI",
            format!(
                "https://{host}/{}/{serial}",
                lang::ascii_word(rng.next() % 100_000, 9)
            ),
        ),
        (
            "WARC-Date",
            format!(
                "2024-05-18T{:02}:{:02}:{:02}Z",
                second / 3600,
                second / 60 % 60,
                second % 60
            ),
        ),
        ("WARC-Record-ID", uuid(rng)),
        ("WARC-Refers-To", uuid(rng)),
        (
            "WARC-Block-Digest",
            format!(
                "sha1:{}",
                base32(&sha1_smol::Sha1::from(body).digest().bytes())
            ),
        ),
        ("WARC-Identified-Content-Language", lang.code.to_string()),
        ("Content-Type", "text/plain".to_string()),
    ]
}

fn uuid(rng: &mut Rng) -> String {
    let (a, b) = (rng.next(), rng.next());
    format!(
        "<urn:uuid:{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}>",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

/// RFC 4648 base32 without padding (a SHA-1 digest is 20 bytes: exactly 32 characters).
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u64, 0);
    for &b in bytes {
        buffer = (buffer << 8) | u64::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

fn pick_lang(rng: &mut Rng) -> &'static Lang {
    let total: u32 = LANGS.iter().map(|l| l.weight).sum();
    let mut x = (rng.next() % u64::from(total)) as u32;
    for lang in LANGS {
        if x < lang.weight {
            return lang;
        }
        x -= lang.weight;
    }
    &LANGS[0]
}

/// Body length in bytes: mostly a few KB, sometimes much longer (a rough log-normal).
fn body_len(rng: &mut Rng) -> usize {
    let u = rng.unit();
    (800.0 * (1.0 + 40.0 * u * u * u)) as usize
}

fn write_body(
    rng: &mut Rng,
    lang: &Lang,
    ranks: &Ranks,
    rare_every: u64,
    target: usize,
    out: &mut String,
) {
    while out.len() < target {
        let words = 4 + (rng.next() % 18) as usize;
        for i in 0..words {
            if i > 0 && lang.spaces {
                out.push(' ');
            }
            let rare = rng.next().is_multiple_of(rare_every);
            let start = out.len();
            if rare {
                lang::rare_token(rng, out);
            } else {
                lang.word(ranks.sample(rng), out);
            }
            if i == 0 && !rng.next().is_multiple_of(3) {
                lang::capitalize_first(out, start);
            } else if rng.next().is_multiple_of(50) {
                lang::uppercase_from(out, start);
            }
            if i + 1 < words && rng.next().is_multiple_of(9) {
                out.push_str(lang.comma);
            }
        }
        out.push_str(lang.stop);
        out.push(if rng.next().is_multiple_of(4) {
            '\n'
        } else {
            ' '
        });
    }
    out.push('\n');
}

/// Word ranks from a double power law: density ∝ 1/r on 1..=head, ∝ r^-s beyond, joined
/// continuously at `head` (the shape measured on large text collections).
struct Ranks {
    head: f64,
    exponent: f64,
    /// Probability that a rank falls in the head.
    p_head: f64,
}

impl Ranks {
    fn new(head: u64, exponent: f64) -> Ranks {
        let head = head.max(2) as f64;
        let exponent = exponent.max(1.01);
        // Equal densities at `head`: p/(head ln head) = (1-p)(s-1)/head.
        let k = (exponent - 1.0) * head.ln();
        Ranks {
            head,
            exponent,
            p_head: k / (1.0 + k),
        }
    }

    fn sample(&self, rng: &mut Rng) -> u64 {
        let u = rng.unit();
        let rank = if rng.unit() < self.p_head {
            self.head.powf(u)
        } else {
            self.head * (1.0 - u).powf(-1.0 / (self.exponent - 1.0))
        };
        rank.clamp(1.0, 1e15) as u64
    }
}
