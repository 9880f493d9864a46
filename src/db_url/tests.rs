//! `DbUrl`: every accepted form, every refused one, and the password hidden everywhere.

use super::*;

fn ok(text: &str) -> DbUrl {
    DbUrl::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn problem(text: &str) -> Problem {
    match DbUrl::parse(text) {
        Ok(u) => panic!("{text} parsed: {u}"),
        Err(e) => e.problem,
    }
}

fn name(h: &str) -> Host {
    Host::Name(h.into())
}

#[test]
fn accepted_forms() {
    let u = ok("postgres://app:s3cret@db.example.com:6432/app_prod?sslmode=verify-full");
    assert_eq!(
        (u.host(), u.port(), u.user(), u.password()),
        (&name("db.example.com"), 6432, Some("app"), Some("s3cret"))
    );
    assert_eq!((u.dbname(), u.sslmode()), ("app_prod", SslMode::VerifyFull));

    let u = ok("postgresql://localhost/app");
    assert_eq!((u.host(), u.port(), u.user(), u.password()), (&name("localhost"), DEFAULT_PORT, None, None));
    assert_eq!(u.sslmode(), SslMode::Prefer);

    let u = ok("postgres://u@[::1]:5433/db");
    assert_eq!((u.host(), u.port()), (&Host::Ipv6("::1".parse().unwrap()), 5433));
    assert_eq!(ok("postgres://[2001:db8::7]/db").port(), DEFAULT_PORT);

    let u = ok("postgres://127.0.0.1:1/db?sslmode=disable");
    assert_eq!((u.host(), u.port(), u.sslmode()), (&name("127.0.0.1"), 1, SslMode::Disable));
    assert_eq!(ok("postgres://h/db?sslmode=require").sslmode(), SslMode::Require);
    assert_eq!(ok("postgres://h/db?sslmode=prefer").sslmode(), SslMode::Prefer);
}

#[test]
fn unix_sockets_query_parameters_and_several_hosts() {
    let u = ok("postgres:///app?host=/run/postgresql");
    assert_eq!((u.host(), u.port()), (&Host::Socket("/run/postgresql".into()), DEFAULT_PORT));
    let u = ok("postgres://%2Ftmp%2Fpg:5444/app");
    assert_eq!((u.host(), u.port()), (&Host::Socket("/tmp/pg".into()), 5444));
    let u = ok("postgres://ignored/x?host=%2Fvar%2Frun&port=7000&user=me&dbname=real&password=pw");
    assert_eq!(
        (u.host(), u.port(), u.user(), u.dbname(), u.password()),
        (&Host::Socket("/var/run".into()), 7000, Some("me"), "real", Some("pw"))
    );
    let u = ok("postgres://a:1,b,[::1]:3/db");
    let ends: Vec<(String, u16)> = u.endpoints().iter().map(|e| (e.host.to_string(), e.port)).collect();
    assert_eq!(ends, [("a".into(), 1), ("b".into(), DEFAULT_PORT), ("[::1]".into(), 3)]);
    let u = ok("postgres://a,b/db?port=9");
    assert!(u.endpoints().iter().all(|e| e.port == 9));
    let u = ok("postgres:///db?host=a,::1&port=1,2");
    assert_eq!(u.endpoints()[1], Endpoint { host: Host::Ipv6(Ipv6Addr::LOCALHOST), port: 2 });
    let u = ok(
        "postgres://h/db?application_name=envdb&connect_timeout=10&options=-c%20search_path%3Dx&sslrootcert=/ca.pem",
    );
    assert_eq!((u.param("application_name"), u.param("connect_timeout")), (Some("envdb"), Some("10")));
    assert_eq!((u.param("options"), u.param("sslrootcert")), (Some("-c search_path=x"), Some("/ca.pem")));
    assert_eq!(u.param("nope"), None);
}

#[test]
fn percent_decoding() {
    let u = ok("postgres://us%40er:p%40ss%2Fw%3Frd%23%25@h/my%20db");
    assert_eq!((u.user(), u.password(), u.dbname()), (Some("us@er"), Some("p@ss/w?rd#%"), "my db"));
    assert_eq!(ok("postgres://u:caf%C3%A9@h/d").password(), Some("café"));
    assert_eq!(ok("postgres://:pw@h/d").user(), None);
    assert_eq!(ok("postgres://u:@h/d").password(), Some(""));
}

#[test]
fn misspelt_schemes_and_things_that_are_not_urls() {
    for typo in ["postgress", "postgre", "pg", "postgrse", "postgresq", "Postgres", "POSTGRESQL", "psql", "pgsql"] {
        let p = problem(&format!("{typo}://h/db"));
        assert_eq!(p, Problem::Typo(typo.into()), "{typo}");
        assert!(p.to_string().contains("did you mean postgres://?"), "{p}");
    }
    assert_eq!(problem("postgres:/h/db"), Problem::Typo("postgres".into()));
    assert_eq!(problem("sqlite://app.db"), Problem::Sqlite("sqlite".into()));
    assert_eq!(problem("file:///app.db"), Problem::Sqlite("file".into()));
    assert_eq!(problem("mysql://h/db"), Problem::Scheme("mysql".into()));
    assert!(problem("mysql://h/db").to_string().contains("expected postgres:// or postgresql://"));
    for path in ["/var/lib/app.db", "./app.db", "app.sqlite", "~/x.db", "C:\\data\\app.db"] {
        assert_eq!(problem(path), Problem::FilePath, "{path}");
    }
    assert_eq!(problem("hunter2"), Problem::NotAUrl);
    assert_eq!(problem("host=h dbname=d"), Problem::NotAUrl);
    assert_eq!(problem(""), Problem::Empty);
}

#[test]
fn refused_forms() {
    let cases: &[(&str, Problem)] = &[
        ("postgres://h", Problem::NoDbname),
        ("postgres://h/", Problem::NoDbname),
        ("postgres://h/?dbname=", Problem::NoDbname),
        ("postgres:///db", Problem::NoHost),
        ("postgres://u@/db", Problem::NoHost),
        ("postgres://h:0/db", Problem::Port("0".into())),
        ("postgres://h:65536/db", Problem::Port("65536".into())),
        ("postgres://h:+1/db", Problem::Port("+1".into())),
        ("postgres://h:x/db", Problem::Port("x".into())),
        ("postgres://h/db?port=1,2", Problem::PortCount { hosts: 1, ports: 2 }),
        ("postgres:///db?host=a,b,c&port=1,2", Problem::PortCount { hosts: 3, ports: 2 }),
        ("postgres://[::1/db", Problem::Ipv6("::1".into())),
        ("postgres://[zz::1]/db", Problem::Ipv6("zz::1".into())),
        ("postgres://[::1]x/db", Problem::Host("[::1]x".into())),
        ("postgres://h$st/db", Problem::Host("h$st".into())),
        ("postgres://a,,b/db", Problem::Host(String::new())),
        ("postgres://h/db?sslmode=verify-ca", Problem::SslMode("verify-ca".into())),
        ("postgres://h/db?sslmode=REQUIRE", Problem::SslMode("REQUIRE".into())),
        ("postgres://h/db?sslmod=require", Problem::UnknownParam("sslmod".into())),
        ("postgres://h/db?sslmode", Problem::NoValue),
        ("postgres://h/db?connect_timeout=soon", Problem::ConnectTimeout("soon".into())),
        ("postgres://h/d%zzb", Problem::Escape("database name")),
        ("postgres://u:p%4@h/db", Problem::Escape("password")),
        ("postgres://u%ff:p@h/db", Problem::Escape("user name")),
        ("postgres://u:p@h/db?password=%", Problem::Escape("password")),
        ("postgres://h/my db", Problem::Whitespace),
        ("postgres://h/db\n", Problem::Whitespace),
        ("postgres://u:p#w@h/db", Problem::Fragment),
        ("postgres://u:p@w@h/db", Problem::ManyAt),
        ("postgres://u:p/w@h/db", Problem::AtAfterHost),
        ("postgres://u:p?w@h/db", Problem::AtAfterHost),
        ("postgres://h/db?user=a@b", Problem::AtAfterHost),
    ];
    for (text, expected) in cases {
        assert_eq!(&problem(text), expected, "{text}");
    }
    assert!(
        problem("postgres://h/db?sslmode=verify-ca")
            .to_string()
            .contains("accepted: disable, prefer, require, verify-full")
    );
}

/// Every place a password can be written, in URLs that parse and in URLs that do not.
#[test]
fn the_password_is_never_shown() {
    let secret = "Sup3rS3cret";
    let parsed = [
        format!("postgres://app:{secret}@h:5432/db?sslmode=require"),
        format!("postgresql://app:{secret}@a:1,[::1]:2/db"),
        format!("postgres://h/db?password={secret}&sslmode=disable"),
        format!("postgres://h/db?pass%77ord={secret}"),
        format!("postgres://:{secret}@h/db"),
        format!("postgres://app:{secret}@h/db?password={secret}"),
    ];
    for text in &parsed {
        let u = ok(text);
        for shown in [u.to_string(), format!("{u:?}"), u.redacted(), u.with_dbname("scratch").to_string()] {
            assert!(!shown.contains(secret) && shown.contains("***"), "{shown}");
        }
        assert_eq!(u.expose_secret(), text, "the full text stays reachable by name");
        assert!(u.with_dbname("other").expose_secret().contains(secret));
    }
    assert_eq!(ok(&parsed[0]).to_string(), "postgres://app:***@h:5432/db?sslmode=require");
    assert_eq!(ok(&parsed[2]).to_string(), "postgres://h/db?password=***&sslmode=disable");
    let refused = [
        format!("postgress://app:{secret}@h/db"),
        format!("mysql://app:{secret}@h/db"),
        format!("postgres://app:{secret}@h/db?sslmode=bogus"),
        format!("postgres://app:{secret}@h:99999/db"),
        format!("postgres://app:{secret}@h"),
        format!("postgres://app:{secret}@h/db?pasword={secret}"),
        format!("postgres://app:{secret}@h/db?{secret}"),
        format!("postgres://app:a/{secret}@h/db"),
        format!("postgres://app:a?{secret}@h/db"),
        format!("postgres://app:a#{secret}@h/db"),
        format!("postgres://app:a@{secret}@h/db"),
        format!("postgres://app:a{secret} x@h/db"),
        format!("postgres://app:a{secret}%zz@h/db"),
        format!("postgres://h/db?password={secret}%zz"),
        format!("postgres://app:{secret}@/db"),
        secret.to_owned(),
        format!("{secret}.db"),
    ];
    for text in &refused {
        let e = DbUrl::parse(text).unwrap_err();
        for shown in [e.to_string(), format!("{e:?}")] {
            assert!(!shown.contains(secret), "{text} → {shown}");
        }
    }
    let e = DbUrl::parse(&refused[0]).unwrap_err().to_string();
    assert!(e.contains("postgress://app:***@h/db") && e.contains("did you mean postgres://"), "{e}");
}

#[test]
fn with_dbname_keeps_everything_else() {
    let u = ok("postgres://app:pw@h:6432/app?dbname=app2&sslmode=require&application_name=x");
    let s = u.with_dbname("envdb scratch/1");
    assert_eq!(s.dbname(), "envdb scratch/1");
    assert_eq!(
        (s.host(), s.port(), s.user(), s.password(), s.sslmode()),
        (u.host(), 6432, Some("app"), Some("pw"), SslMode::Require)
    );
    assert_eq!(s.expose_secret(), "postgres://app:pw@h:6432/envdb%20scratch%2F1?sslmode=require&application_name=x");
    assert_eq!(ok(s.expose_secret()), s, "the rewritten text parses to the same URL");
    assert!(ok("postgres://h:1/a").with_dbname("b").same_database(&ok("postgres://H:1/b?sslmode=disable")));
    assert!(!ok("postgres://h/a").same_database(&ok("postgres://h:5433/a")));
}
