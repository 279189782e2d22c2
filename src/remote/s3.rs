//! `s3://bucket/key` inputs: where to send the GET, and its AWS Signature V4 headers.
//!
//! Credentials come from where AWS's own tools look: `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`), else the `AWS_PROFILE` (or
//! `default`) section of `~/.aws/credentials` (or `AWS_SHARED_CREDENTIALS_FILE`). The
//! region is `--s3-region`, else `AWS_REGION` / `AWS_DEFAULT_REGION`, else `us-east-1`
//! (Common Crawl's). `--s3-endpoint` points at an S3-compatible store, addressed in path
//! style (`ENDPOINT/bucket/key`); without it, AWS's virtual-hosted style is used.
//! Signing is done by the AWS SDK's `aws-sigv4` crate, per request (a retry an hour later
//! needs a fresh date).

use std::path::PathBuf;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings,
};
use aws_sigv4::sign::v4;

/// Common Crawl's bucket lives there.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Where and as whom to fetch S3 objects.
#[derive(Debug, Clone)]
pub struct S3Config {
    /// `--s3-endpoint`, without its trailing `/`.
    pub endpoint: Option<String>,
    pub region: String,
    access_key: String,
    secret_key: String,
    session_token: Option<String>,
}

impl S3Config {
    /// Finds the credentials and region (see the module docs), or says what is missing.
    pub fn load(endpoint: Option<&str>, region: Option<&str>) -> Result<S3Config, String> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let region = region
            .map(str::to_string)
            .or_else(|| env("AWS_REGION"))
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| DEFAULT_REGION.to_string());
        let endpoint = endpoint.map(|e| e.trim_end_matches('/').to_string());
        let (access_key, secret_key, session_token) =
            match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
                (Some(key), Some(secret)) => (key, secret, env("AWS_SESSION_TOKEN")),
                _ => from_credentials_file()?,
            };
        Ok(S3Config {
            endpoint,
            region,
            access_key,
            secret_key,
            session_token,
        })
    }

    /// The HTTP URL of an object.
    pub fn object_url(&self, bucket: &str, key: &str) -> String {
        let key = encode_key(key);
        match &self.endpoint {
            Some(endpoint) => format!("{endpoint}/{bucket}/{key}"),
            None => format!("https://{bucket}.s3.{}.amazonaws.com/{key}", self.region),
        }
    }

    /// The headers that sign a GET of `url` now.
    pub fn sign_get(&self, url: &str) -> Result<Vec<(String, String)>, String> {
        let identity = Credentials::new(
            &self.access_key,
            &self.secret_key,
            self.session_token.clone(),
            None,
            "wetmr",
        )
        .into();
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| format!("cannot sign the request: {e}"))?
            .into();
        let request = SignableRequest::new(
            "GET",
            url,
            std::iter::empty(),
            SignableBody::UnsignedPayload,
        )
        .map_err(|e| format!("cannot sign the request: {e}"))?;
        let (instructions, _) = sign(request, &params)
            .map_err(|e| format!("cannot sign the request: {e}"))?
            .into_parts();
        Ok(instructions
            .headers()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect())
    }
}

/// The credentials of the `AWS_PROFILE` (or `default`) section of the shared credentials
/// file.
fn from_credentials_file() -> Result<(String, String, Option<String>), String> {
    let missing = "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or \
                   write them to ~/.aws/credentials (Common Crawl's files are also served \
                   without credentials at https://data.commoncrawl.org/)";
    let path = match std::env::var_os("AWS_SHARED_CREDENTIALS_FILE") {
        Some(path) => PathBuf::from(path),
        None => match std::env::var_os("HOME") {
            Some(home) => PathBuf::from(home).join(".aws").join("credentials"),
            None => return Err(missing.to_string()),
        },
    };
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Err(missing.to_string());
    };
    let profile = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".to_string());
    let section = profile_section(&text, &profile);
    match (
        section.get("aws_access_key_id"),
        section.get("aws_secret_access_key"),
    ) {
        (Some(key), Some(secret)) => Ok((
            key.clone(),
            secret.clone(),
            section.get("aws_session_token").cloned(),
        )),
        _ => Err(format!(
            "{}: no aws_access_key_id and aws_secret_access_key in profile [{profile}]",
            crate::error::shown(&path)
        )),
    }
}

/// The `key = value` lines of section `[name]` of an INI text.
fn profile_section(text: &str, name: &str) -> std::collections::HashMap<String, String> {
    let mut values = std::collections::HashMap::new();
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = section.trim() == name;
            continue;
        }
        if let (true, Some((key, value))) = (inside, line.split_once('=')) {
            values.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    values
}

/// An object key as a URL path: every byte but the unreserved ones and `/`
/// percent-encoded, as Signature V4's canonical URI has it.
fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for &b in key.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_read_from_their_section() {
        let text = "[default]\naws_access_key_id = A\naws_secret_access_key=B\n\
                    [other]\n# comment\naws_access_key_id = C\n";
        let default = profile_section(text, "default");
        assert_eq!(default["aws_access_key_id"], "A");
        assert_eq!(default["aws_secret_access_key"], "B");
        let other = profile_section(text, "other");
        assert_eq!(other["aws_access_key_id"], "C");
        assert!(!other.contains_key("aws_secret_access_key"));
    }

    #[test]
    fn keys_are_encoded_for_the_path() {
        assert_eq!(encode_key("crawl-data/a b+c.gz"), "crawl-data/a%20b%2Bc.gz");
    }

    #[test]
    fn urls_follow_the_endpoint() {
        let mut config = S3Config {
            endpoint: Some("http://127.0.0.1:9000".into()),
            region: "us-east-1".into(),
            access_key: "k".into(),
            secret_key: "s".into(),
            session_token: None,
        };
        assert_eq!(
            config.object_url("commoncrawl", "crawl-data/x"),
            "http://127.0.0.1:9000/commoncrawl/crawl-data/x"
        );
        config.endpoint = None;
        assert_eq!(
            config.object_url("commoncrawl", "x"),
            "https://commoncrawl.s3.us-east-1.amazonaws.com/x"
        );
        let headers = config.sign_get("https://commoncrawl.s3.us-east-1.amazonaws.com/x");
        let headers = headers.unwrap();
        assert!(headers
            .iter()
            .any(|(n, v)| n == "authorization" && v.starts_with("AWS4-HMAC-SHA256 Credential=k/")));
    }
}
