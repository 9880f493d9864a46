//! `postgres://` URLs, parsed as libpq reads them and only ever shown with the password
//! replaced by `***`: `Display`, `Debug` and every error use the redacted form, and the full
//! text is reachable through one named method, [`DbUrl::expose_secret`].

use std::fmt;
use std::net::Ipv6Addr;

/// The port of a host that names none.
pub const DEFAULT_PORT: u16 = 5432;

/// Query parameters a URL may carry, besides the ones it is parsed into (`host`, `port`,
/// `user`, `password`, `dbname`, `sslmode`): what [`DbUrl::param`] returns.
pub const EXTRA_PARAMS: &[&str] = &["application_name", "connect_timeout", "options", "sslrootcert"];

/// Every accepted query parameter, for the error about an unknown one.
const ACCEPTED_PARAMS: &str =
    "application_name, connect_timeout, dbname, host, options, password, port, sslmode, sslrootcert, user";

/// Query parameters whose value is shown in the redacted form; any other (`password`, and any
/// key this parser does not know, which may be a misspelt `password`) is shown as `***`.
const SHOWN_PARAMS: &[&str] =
    &["host", "port", "user", "dbname", "sslmode", "application_name", "connect_timeout", "options", "sslrootcert"];

/// `sslmode`: libpq's default is `prefer`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    #[default]
    Prefer,
    Require,
    VerifyFull,
}

impl SslMode {
    pub const ACCEPTED: &'static str = "disable, prefer, require, verify-full";

    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyFull => "verify-full",
        }
    }

    fn parse(text: &str) -> Option<SslMode> {
        [SslMode::Disable, SslMode::Prefer, SslMode::Require, SslMode::VerifyFull]
            .into_iter()
            .find(|m| m.as_str() == text)
    }
}

/// Where a server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A host name or an IPv4 address.
    Name(String),
    /// An IPv6 address (written `[…]` in the authority).
    Ipv6(Ipv6Addr),
    /// A unix socket directory (`?host=/run/postgresql`, or a percent-encoded `%2F…` host).
    Socket(String),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) | Host::Socket(n) => f.write_str(n),
            Host::Ipv6(a) => write!(f, "[{a}]"),
        }
    }
}

/// One server of the URL: a host and its port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: Host,
    pub port: u16,
}

/// A parsed `postgres://` or `postgresql://` URL.
#[derive(Clone, PartialEq, Eq)]
pub struct DbUrl {
    /// `scheme://authority`, as written.
    head: String,
    /// Query pieces (`key=value`) as written, in order.
    query: Vec<String>,
    /// The whole text, as written (or as `with_dbname` rewrote it).
    text: String,
    endpoints: Vec<Endpoint>,
    user: Option<String>,
    password: Option<String>,
    dbname: String,
    sslmode: SslMode,
    params: Vec<(String, String)>,
}

/// A URL that cannot be used. The message shows the URL redacted (or not at all when it is not
/// URL-shaped, since it might be a password pasted in the wrong place).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid PostgreSQL URL{}: {problem}", .shown.as_ref().map(|s| format!(" {s}")).unwrap_or_default())]
pub struct UrlError {
    /// The URL with its password (and any unknown parameter's value) replaced by `***`.
    pub shown: Option<String>,
    pub problem: Problem,
}

/// What is wrong with a URL. No variant holds a password or text that may contain one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("it is empty; expected postgres://user@host:port/dbname")]
    Empty,
    #[error(
        "it is a file path, not a URL\n  help: a SQLite database is a file (`database` in envdb.toml, or --database PATH); a PostgreSQL one is postgres://user@host:port/dbname"
    )]
    FilePath,
    #[error(
        "it is not a URL (the text is not shown, in case it is a secret); expected postgres://user@host:port/dbname"
    )]
    NotAUrl,
    #[error("unknown scheme `{0}://`; did you mean postgres://?")]
    Typo(String),
    #[error(
        "`{0}://` is not a PostgreSQL URL\n  help: a SQLite database is a file: `database` in envdb.toml, or --database PATH"
    )]
    Sqlite(String),
    #[error("unsupported scheme `{0}://`; expected postgres:// or postgresql://")]
    Scheme(String),
    #[error("it contains a space or a control character; percent-encode it (a space is %20)")]
    Whitespace,
    #[error("it contains `#`; percent-encode it as %23 (in a password too)")]
    Fragment,
    #[error("it contains more than one `@`; percent-encode an `@` in a user name or password as %40")]
    ManyAt,
    #[error(
        "the `@` is not before the host; percent-encode a `/`, `?` or `@` in a user name or password (%2F, %3F, %40)"
    )]
    AtAfterHost,
    #[error("the {0} has an invalid percent-escape (`%` must be followed by two hex digits of UTF-8)")]
    Escape(&'static str),
    #[error(
        "it names no host\n  help: give one (postgres://user@host/dbname) or a unix socket directory (?host=/run/postgresql)"
    )]
    NoHost,
    #[error("invalid host `{0}`: expected a host name, an IPv4 address, [an IPv6 address] or a socket directory")]
    Host(String),
    #[error("invalid IPv6 address `[{0}]`")]
    Ipv6(String),
    #[error("invalid port `{0}`: expected a number from 1 to 65535")]
    Port(String),
    #[error("{ports} ports for {hosts} hosts; give one port for all or one per host")]
    PortCount { hosts: usize, ports: usize },
    #[error("it names no database; add one: postgres://user@host:port/DBNAME")]
    NoDbname,
    #[error("sslmode `{0}` is not supported; accepted: {accepted}", accepted = SslMode::ACCEPTED)]
    SslMode(String),
    #[error("invalid connect_timeout `{0}`: expected a whole number of seconds")]
    ConnectTimeout(String),
    #[error("unknown query parameter `{0}`; accepted: {ACCEPTED_PARAMS}")]
    UnknownParam(String),
    #[error("a query parameter has no `=value`; expected ?key=value&key=value")]
    NoValue,
}

fn error(text: &str, problem: Problem) -> UrlError {
    UrlError { shown: redact(text), problem }
}

/// `text` with the password (`user:***@`) and the values of `password` and unknown query
/// parameters replaced by `***`; `None` when it has no `://` (then nothing of it is shown).
/// Conservative on malformed text: the userinfo is taken up to the last `@`, so a password with
/// an unencoded `@`, `/`, `?` or `#` is still hidden whole.
fn redact(text: &str) -> Option<String> {
    let start = text.find("://")? + 3;
    let (head, rest) = text.split_at(start);
    let mut out = String::from(head);
    let after_at = match rest.rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            match userinfo.find(':') {
                Some(colon) => {
                    out.push_str(&userinfo[..=colon]);
                    out.push_str("***");
                }
                None => out.push_str(userinfo),
            }
            out.push('@');
            &rest[at + 1..]
        }
        None => rest,
    };
    let (base, query) = match after_at.find('?') {
        Some(q) => (&after_at[..q], Some(&after_at[q + 1..])),
        None => (after_at, None),
    };
    out.push_str(base);
    if let Some(query) = query {
        out.push('?');
        let pieces: Vec<String> = query
            .split('&')
            .map(|piece| match piece.split_once('=') {
                Some((key, _)) if SHOWN_PARAMS.contains(&decode(key).unwrap_or_default().as_str()) => piece.to_owned(),
                Some((key, _)) => format!("{key}=***"),
                None if piece.is_empty() => String::new(),
                None => "***".to_owned(),
            })
            .collect();
        out.push_str(&pieces.join("&"));
    }
    Some(out)
}

/// `text` as it may be printed: redacted as a URL, or `(not shown)` when it has no `://`.
pub fn redact_or_hide(text: &str) -> String {
    redact(text).unwrap_or_else(|| "(not shown)".into())
}

/// Percent-decodes `text` into UTF-8; `None` on a bad escape or bytes that are not UTF-8.
fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(text: &str) -> String {
    encode_keeping(text, b"")
}

/// Percent-encodes `text` for a URL, leaving letters, digits, `-._~` and the bytes of `keep`
/// (a socket directory keeps its `/`).
pub(crate) fn encode_keeping(text: &str, keep: &[u8]) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') || keep.contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The edit distance between two short ASCII strings.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// Why a text without `://` is not a URL.
fn not_a_url(text: &str) -> Problem {
    let lower = text.to_ascii_lowercase();
    if let Some(scheme) = ["postgresql:", "postgres:"].iter().find(|s| lower.starts_with(**s)) {
        return Problem::Typo(text[..scheme.len() - 1].to_owned());
    }
    let pathlike = text.starts_with(['/', '.', '~'])
        || [".db", ".sqlite", ".sqlite3", ".db3"].iter().any(|ext| lower.ends_with(ext))
        || (text.len() > 2 && text.as_bytes()[1] == b':' && text.as_bytes()[2] == b'\\');
    if pathlike { Problem::FilePath } else { Problem::NotAUrl }
}

/// Why a scheme other than `postgres`/`postgresql` is refused.
fn bad_scheme(scheme: &str) -> Problem {
    let lower = scheme.to_ascii_lowercase();
    let near = |target: &str| distance(&lower, target) <= 2;
    if matches!(lower.as_str(), "sqlite" | "sqlite3" | "file") {
        Problem::Sqlite(scheme.to_owned())
    } else if near("postgres") || near("postgresql") || matches!(lower.as_str(), "pg" | "pgsql" | "psql" | "postgre") {
        Problem::Typo(scheme.to_owned())
    } else {
        Problem::Scheme(scheme.to_owned())
    }
}

fn parse_port(text: &str) -> Result<Option<u16>, Problem> {
    if text.is_empty() {
        return Ok(None);
    }
    match text.parse::<u16>() {
        Ok(p) if p > 0 && text.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(p)),
        _ => Err(Problem::Port(text.to_owned())),
    }
}

/// A decoded host: a socket directory, an IPv6 address, or a name.
fn parse_host(decoded: String) -> Result<Host, Problem> {
    if decoded.starts_with('/') {
        return Ok(Host::Socket(decoded));
    }
    if decoded.contains(':') {
        return decoded.parse().map(Host::Ipv6).map_err(|_| Problem::Ipv6(decoded));
    }
    if decoded.is_empty() || !decoded.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')) {
        return Err(Problem::Host(decoded));
    }
    Ok(Host::Name(decoded))
}

/// The authority's host list, `h1:p1,[::1]:p2,…`: each host and its port as written.
fn authority_hosts(list: &str) -> Result<Vec<(Host, Option<u16>)>, Problem> {
    let mut out = Vec::new();
    for item in list.split(',') {
        let (host, port) = if let Some(inner) = item.strip_prefix('[') {
            let (addr, after) = inner.split_once(']').ok_or_else(|| Problem::Ipv6(inner.to_owned()))?;
            let port = match after {
                "" => "",
                p => p.strip_prefix(':').ok_or_else(|| Problem::Host(item.to_owned()))?,
            };
            (addr.parse().map(Host::Ipv6).map_err(|_| Problem::Ipv6(addr.to_owned()))?, port)
        } else {
            let (host, port) = item.split_once(':').unwrap_or((item, ""));
            (parse_host(decode(host).ok_or(Problem::Escape("host"))?)?, port)
        };
        out.push((host, parse_port(port)?));
    }
    Ok(out)
}

impl DbUrl {
    /// Parses a `postgres://` or `postgresql://` URL:
    /// `postgres://[user[:password]@][host[:port][,host[:port]…]]/dbname[?key=value&…]`,
    /// percent-decoded, with `host`, `port`, `user`, `password`, `dbname` and `sslmode` also
    /// accepted as query parameters (a query parameter wins, as in libpq).
    pub fn parse(text: &str) -> Result<DbUrl, UrlError> {
        if text.is_empty() {
            return Err(error(text, Problem::Empty));
        }
        let Some(sep) = text.find("://") else {
            return Err(error(text, not_a_url(text)));
        };
        let scheme = &text[..sep];
        if scheme != "postgres" && scheme != "postgresql" {
            return Err(error(text, bad_scheme(scheme)));
        }
        let fail = |problem| error(text, problem);
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(fail(Problem::Whitespace));
        }
        if text.contains('#') {
            return Err(fail(Problem::Fragment));
        }
        let rest = &text[sep + 3..];
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        match rest.match_indices('@').count() {
            0 | 1 => {}
            _ => return Err(fail(Problem::ManyAt)),
        }
        if rest.find('@').is_some_and(|at| at > authority_end) {
            return Err(fail(Problem::AtAfterHost));
        }
        let authority = &rest[..authority_end];
        let (userinfo, hostlist) = match authority.split_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let mut user = None;
        let mut password = None;
        if let Some(userinfo) = userinfo {
            let (u, p) = match userinfo.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (userinfo, None),
            };
            user = Some(decode(u).ok_or_else(|| fail(Problem::Escape("user name")))?).filter(|u| !u.is_empty());
            if let Some(p) = p {
                password = Some(decode(p).ok_or_else(|| fail(Problem::Escape("password")))?);
            }
        }
        let mut hosts: Vec<Host> = Vec::new();
        let mut ports: Vec<Option<u16>> = Vec::new();
        if !hostlist.is_empty() {
            for (host, port) in authority_hosts(hostlist).map_err(fail)? {
                hosts.push(host);
                ports.push(port);
            }
        }
        let after = &rest[authority_end..];
        let (path, query) = match after.split_once('?') {
            Some((p, q)) => (p, q),
            None => (after, ""),
        };
        let mut dbname = match path.strip_prefix('/') {
            Some(name) => Some(decode(name).ok_or_else(|| fail(Problem::Escape("database name")))?),
            None => None,
        }
        .filter(|n| !n.is_empty());
        let mut sslmode = SslMode::default();
        let mut params: Vec<(String, String)> = Vec::new();
        let mut query_pieces = Vec::new();
        for piece in query.split('&').filter(|p| !p.is_empty()) {
            query_pieces.push(piece.to_owned());
            let (key, value) = piece.split_once('=').ok_or_else(|| fail(Problem::NoValue))?;
            let key = decode(key).ok_or_else(|| fail(Problem::Escape("query parameter name")))?;
            let what = if key == "password" { "password" } else { "query parameter value" };
            let value = decode(value).ok_or_else(|| fail(Problem::Escape(what)))?;
            match key.as_str() {
                "host" => {
                    hosts =
                        value.split(',').map(|h| parse_host(h.to_owned())).collect::<Result<_, _>>().map_err(fail)?
                }
                "port" => ports = value.split(',').map(parse_port).collect::<Result<_, _>>().map_err(fail)?,
                "user" => user = Some(value).filter(|u| !u.is_empty()),
                "password" => password = Some(value),
                "dbname" => dbname = Some(value).filter(|n| !n.is_empty()),
                "sslmode" => sslmode = SslMode::parse(&value).ok_or_else(|| fail(Problem::SslMode(value.clone())))?,
                "connect_timeout" if value.parse::<u32>().is_err() => {
                    return Err(fail(Problem::ConnectTimeout(value)));
                }
                k if EXTRA_PARAMS.contains(&k) => {
                    params.retain(|(p, _)| p != k);
                    params.push((key.clone(), value));
                }
                _ => return Err(fail(Problem::UnknownParam(key))),
            }
        }
        if hosts.is_empty() {
            return Err(fail(Problem::NoHost));
        }
        let ports: Vec<u16> = match ports.len() {
            0 => vec![DEFAULT_PORT; hosts.len()],
            1 => vec![ports[0].unwrap_or(DEFAULT_PORT); hosts.len()],
            n if n == hosts.len() => ports.iter().map(|p| p.unwrap_or(DEFAULT_PORT)).collect(),
            n => return Err(fail(Problem::PortCount { hosts: hosts.len(), ports: n })),
        };
        let dbname = dbname.ok_or_else(|| fail(Problem::NoDbname))?;
        Ok(DbUrl {
            head: text[..sep + 3 + authority_end].to_owned(),
            query: query_pieces,
            text: text.to_owned(),
            endpoints: hosts.into_iter().zip(ports).map(|(host, port)| Endpoint { host, port }).collect(),
            user,
            password,
            dbname,
            sslmode,
            params,
        })
    }

    /// The whole URL, password included: only to connect, and for `run`'s child `DATABASE_URL`.
    /// Never print it.
    pub fn expose_secret(&self) -> &str {
        &self.text
    }

    /// The URL as written, with `***` for the password wherever it is (`user:***@`,
    /// `password=***`): what is printed, logged and audited.
    pub fn redacted(&self) -> String {
        redact(&self.text).unwrap_or_default()
    }

    /// Every server, in order (libpq tries them in turn).
    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    /// The first server's host.
    pub fn host(&self) -> &Host {
        &self.endpoints[0].host
    }

    /// The first server's port.
    pub fn port(&self) -> u16 {
        self.endpoints[0].port
    }

    /// The user name, if the URL gives one (else the client's default).
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// The password, if the URL gives one (else `PGPASSWORD` or `~/.pgpass` may). Never print it.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    pub fn dbname(&self) -> &str {
        &self.dbname
    }

    pub fn sslmode(&self) -> SslMode {
        self.sslmode
    }

    /// One of [`EXTRA_PARAMS`], if the URL sets it.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The same server, user and settings with another database (a scratch database, or the
    /// maintenance database `postgres`); a `dbname` query parameter is dropped.
    pub fn with_dbname(&self, name: &str) -> DbUrl {
        let query: Vec<String> = self
            .query
            .iter()
            .filter(|piece| piece.split_once('=').and_then(|(k, _)| decode(k)).as_deref() != Some("dbname"))
            .cloned()
            .collect();
        let mut text = format!("{}/{}", self.head, encode(name));
        if !query.is_empty() {
            text.push('?');
            text.push_str(&query.join("&"));
        }
        DbUrl { text, query, dbname: name.to_owned(), ..self.clone() }
    }

    /// Whether two URLs name the same database on the same servers (host names compared
    /// without case), whoever connects.
    pub fn same_database(&self, other: &DbUrl) -> bool {
        let key = |u: &DbUrl| {
            let hosts: Vec<(String, u16)> =
                u.endpoints.iter().map(|e| (e.host.to_string().to_ascii_lowercase(), e.port)).collect();
            (hosts, u.dbname.clone())
        };
        key(self) == key(other)
    }
}

impl fmt::Display for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DbUrl").field(&self.redacted()).finish()
    }
}

impl std::str::FromStr for DbUrl {
    type Err = UrlError;

    fn from_str(text: &str) -> Result<DbUrl, UrlError> {
        DbUrl::parse(text)
    }
}

#[cfg(test)]
mod tests;
