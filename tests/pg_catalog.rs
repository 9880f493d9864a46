//! The PostgreSQL schema as text (`db::postgres::catalog`) and the scratch database
//! (`db::postgres::scratch`) against a real server, read through PgBouncer in transaction mode:
//! every kind of object, a stable order, readable differences, envdb's and extensions' objects
//! left out, INVALID indexes, and a scratch database that never outlives its guard.

use envdb::db::postgres::catalog::{self, Object};
use envdb::db::postgres::scratch::{self, Connect, Scratch};
use pgtest::{Via, database, postgres, shared};

/// A schema with every kind of object, in an order where each exists before it is used.
const SCHEMA: &str = r#"
CREATE SCHEMA app;
CREATE EXTENSION citext WITH SCHEMA public;
CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE app.pair AS (a integer, b text COLLATE "C");
CREATE TYPE app.span AS RANGE (SUBTYPE = integer);
CREATE DOMAIN app.positive AS integer DEFAULT 1 NOT NULL CONSTRAINT positive_check CHECK (VALUE > 0);
CREATE SEQUENCE app.counter AS integer START WITH 10 INCREMENT BY 5 MINVALUE 10 MAXVALUE 1000 CYCLE;
CREATE TABLE app.owner (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email citext NOT NULL UNIQUE);
CREATE TABLE app.pet (
    id serial PRIMARY KEY,
    owner_id bigint NOT NULL REFERENCES app.owner (id) ON DELETE CASCADE,
    name text NOT NULL DEFAULT 'rex' CHECK (name <> ''),
    mood app.mood,
    legs app.positive,
    weight numeric(6, 2),
    label text GENERATED ALWAYS AS (upper(name)) STORED,
    during tstzrange,
    EXCLUDE USING gist (during WITH &&)
);
CREATE INDEX pet_name_idx ON app.pet (lower(name)) WHERE weight > 1;
CREATE UNLOGGED TABLE public.log (at timestamptz DEFAULT now(), line text) WITH (fillfactor = 70);
CREATE TABLE app.event (at date NOT NULL, what text) PARTITION BY RANGE (at);
CREATE TABLE app.event_2024 PARTITION OF app.event FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE VIEW app.heavy AS SELECT id, name FROM app.pet WHERE weight > 10;
CREATE MATERIALIZED VIEW app.per_owner AS SELECT owner_id, count(*) AS n FROM app.pet GROUP BY owner_id;
CREATE INDEX per_owner_idx ON app.per_owner (owner_id);
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.name := trim(NEW.name); RETURN NEW; END $$;
CREATE FUNCTION app.add(a integer, b integer) RETURNS integer LANGUAGE sql IMMUTABLE RETURN a + b;
CREATE PROCEDURE app.tidy() LANGUAGE sql AS $$ DELETE FROM public.log $$;
CREATE AGGREGATE app.total(integer) (SFUNC = app.add, STYPE = integer, INITCOND = '0');
CREATE TRIGGER pet_touch BEFORE INSERT OR UPDATE ON app.pet FOR EACH ROW EXECUTE FUNCTION app.touch();
CREATE TRIGGER pet_quiet AFTER DELETE ON app.pet FOR EACH ROW EXECUTE FUNCTION app.touch();
ALTER TABLE app.pet DISABLE TRIGGER pet_quiet;
ALTER TABLE app.owner ENABLE ROW LEVEL SECURITY;
"#;

/// The same objects, created in another order (and through other statements).
const SCHEMA_OTHER_ORDER: &str = r#"
CREATE EXTENSION citext WITH SCHEMA public;
CREATE SCHEMA app;
CREATE FUNCTION app.add(a integer, b integer) RETURNS integer LANGUAGE sql IMMUTABLE RETURN a + b;
CREATE AGGREGATE app.total(integer) (SFUNC = app.add, STYPE = integer, INITCOND = '0');
CREATE TABLE app.event (at date NOT NULL, what text) PARTITION BY RANGE (at);
CREATE UNLOGGED TABLE public.log (at timestamptz DEFAULT now(), line text) WITH (fillfactor = 70);
CREATE PROCEDURE app.tidy() LANGUAGE sql AS $$ DELETE FROM public.log $$;
CREATE TYPE app.span AS RANGE (SUBTYPE = integer);
CREATE DOMAIN app.positive AS integer DEFAULT 1 NOT NULL CONSTRAINT positive_check CHECK (VALUE > 0);
CREATE TYPE app.pair AS (a integer, b text COLLATE "C");
CREATE TYPE app.mood AS ENUM ('sad', 'happy');
ALTER TYPE app.mood ADD VALUE 'ok' BEFORE 'happy';
CREATE TABLE app.event_2024 PARTITION OF app.event FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE app.owner (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email citext NOT NULL UNIQUE);
ALTER TABLE app.owner ENABLE ROW LEVEL SECURITY;
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.name := trim(NEW.name); RETURN NEW; END $$;
CREATE TABLE app.pet (id serial PRIMARY KEY);
ALTER TABLE app.pet ADD COLUMN owner_id bigint NOT NULL REFERENCES app.owner (id) ON DELETE CASCADE,
    ADD COLUMN name text NOT NULL DEFAULT 'rex' CHECK (name <> ''),
    ADD COLUMN mood app.mood, ADD COLUMN legs app.positive, ADD COLUMN weight numeric(6, 2),
    ADD COLUMN label text GENERATED ALWAYS AS (upper(name)) STORED, ADD COLUMN during tstzrange,
    ADD EXCLUDE USING gist (during WITH &&);
CREATE TRIGGER pet_quiet AFTER DELETE ON app.pet FOR EACH ROW EXECUTE FUNCTION app.touch();
ALTER TABLE app.pet DISABLE TRIGGER pet_quiet;
CREATE TRIGGER pet_touch BEFORE INSERT OR UPDATE ON app.pet FOR EACH ROW EXECUTE FUNCTION app.touch();
CREATE MATERIALIZED VIEW app.per_owner AS SELECT owner_id, count(*) AS n FROM app.pet GROUP BY owner_id;
CREATE INDEX per_owner_idx ON app.per_owner (owner_id);
CREATE VIEW app.heavy AS SELECT id, name FROM app.pet WHERE weight > 10;
CREATE INDEX pet_name_idx ON app.pet (lower(name)) WHERE weight > 1;
CREATE SEQUENCE app.counter AS integer START WITH 10 INCREMENT BY 5 MINVALUE 10 MAXVALUE 1000 CYCLE;
"#;

/// envdb's own tables (as the backend keeps them) in `schema`.
fn envdb_tables(schema: &str) -> String {
    format!(
        "CREATE SCHEMA IF NOT EXISTS {schema};
         CREATE TABLE {schema}.envdb_migrations (version bigint PRIMARY KEY, name text NOT NULL, applied_at timestamptz DEFAULT now());
         CREATE INDEX envdb_migrations_at ON {schema}.envdb_migrations (applied_at);
         CREATE TABLE {schema}.envdb_meta (key text PRIMARY KEY, value text NOT NULL CHECK (value <> ''));
         CREATE TABLE {schema}.envdb_lock (id serial PRIMARY KEY, holder text UNIQUE);"
    )
}

fn objects_of(sql: &str, history_schema: &str) -> Vec<Object> {
    let db = database();
    db.connect(Via::Tcp).batch_execute(sql).unwrap_or_else(|e| panic!("{e}\n{sql}"));
    catalog::objects(&mut db.connect(Via::Bouncer), history_schema).unwrap()
}

fn find<'a>(objects: &'a [Object], kind: &str, name: &str) -> &'a str {
    let found = objects.iter().find(|(k, n, _)| k == kind && n == name);
    &found.unwrap_or_else(|| panic!("no {kind} {name} in {objects:#?}")).2
}

#[test]
fn every_kind_of_object_appears_in_one_order_whatever_order_it_was_created_in() {
    let db = database();
    db.connect(Via::Tcp).batch_execute(SCHEMA).unwrap();
    let mut client = db.connect(Via::Bouncer);
    let first = catalog::objects(&mut client, "public").unwrap();
    assert_eq!(catalog::objects(&mut client, "public").unwrap(), first, "two reads differ");
    assert_eq!(objects_of(SCHEMA_OTHER_ORDER, "public"), first, "the creation order shows");
    // The reading transaction and its `SET LOCAL` ended with it: the session is as it was.
    let rows = client.simple_query("SHOW search_path").unwrap();
    let search_path = rows.iter().find_map(|m| match m {
        postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
        _ => None,
    });
    assert_eq!(search_path.as_deref(), Some("\"$user\", public"));

    let kinds: Vec<&str> = first.iter().map(|(k, _, _)| k.as_str()).collect();
    let mut ordered = kinds.clone();
    ordered.dedup();
    let expected = [
        "schema",
        "extension",
        "type",
        "domain",
        "function",
        "aggregate",
        "procedure",
        "sequence",
        "table",
        "constraint",
        "index",
        "view",
        "materialized view",
        "trigger",
    ];
    assert_eq!(ordered, expected, "every kind, grouped, in this order");
    for kind in expected {
        let names: Vec<&String> = first.iter().filter(|(k, _, _)| k == kind).map(|(_, n, _)| n).collect();
        assert!(names.is_sorted(), "{kind}: {names:?}");
    }

    let text = |kind, name| find(&first, kind, name).to_owned();
    assert_eq!(text("schema", "app"), "CREATE SCHEMA app");
    assert!(!first.iter().any(|(k, n, _)| k == "schema" && n == "public"), "the history schema is envdb's");
    assert!(text("extension", "citext").starts_with("CREATE EXTENSION citext WITH SCHEMA public VERSION '"));
    assert_eq!(text("type", "app.mood"), "CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy')");
    assert_eq!(text("type", "app.pair"), "CREATE TYPE app.pair AS (\n    a integer,\n    b text COLLATE \"C\"\n)");
    assert_eq!(text("type", "app.span"), "CREATE TYPE app.span AS RANGE (SUBTYPE = integer)");
    assert_eq!(
        text("domain", "app.positive"),
        "CREATE DOMAIN app.positive AS integer\n    DEFAULT 1\n    NOT NULL\n    CONSTRAINT positive_check CHECK ((VALUE > 0))"
    );
    assert_eq!(
        text("sequence", "app.counter"),
        "CREATE SEQUENCE app.counter\n    AS integer\n    START WITH 10\n    INCREMENT BY 5\n    MINVALUE 10\n    MAXVALUE 1000\n    CACHE 1\n    CYCLE"
    );
    assert!(
        text("sequence", "app.pet_id_seq").ends_with("\n    OWNED BY app.pet.id"),
        "{}",
        text("sequence", "app.pet_id_seq")
    );
    assert!(text("sequence", "app.owner_id_seq").ends_with("\n    OWNED BY app.owner.id"));
    assert_eq!(
        text("table", "app.pet"),
        "CREATE TABLE app.pet (\n    \
            id integer NOT NULL DEFAULT nextval('app.pet_id_seq'::regclass),\n    \
            owner_id bigint NOT NULL,\n    \
            name text NOT NULL DEFAULT 'rex'::text,\n    \
            mood app.mood,\n    \
            legs app.positive,\n    \
            weight numeric(6,2),\n    \
            label text GENERATED ALWAYS AS (upper(name)) STORED,\n    \
            during tstzrange\n)"
    );
    assert_eq!(
        text("table", "app.owner"),
        "CREATE TABLE app.owner (\n    id bigint NOT NULL GENERATED ALWAYS AS IDENTITY,\n    email public.citext NOT NULL\n);\nALTER TABLE app.owner ENABLE ROW LEVEL SECURITY"
    );
    assert_eq!(
        text("table", "public.log"),
        "CREATE UNLOGGED TABLE public.log (\n    at timestamp with time zone DEFAULT now(),\n    line text\n) WITH (fillfactor=70)"
    );
    assert!(text("table", "app.event").ends_with("\n) PARTITION BY RANGE (at)"));
    assert!(text("table", "app.event_2024").starts_with(
        "CREATE TABLE app.event_2024 PARTITION OF app.event FOR VALUES FROM ('2024-01-01') TO ('2025-01-01') (\n"
    ));
    assert_eq!(text("constraint", "app.pet.pet_pkey"), "ALTER TABLE app.pet ADD CONSTRAINT pet_pkey PRIMARY KEY (id)");
    assert_eq!(
        text("constraint", "app.pet.pet_owner_id_fkey"),
        "ALTER TABLE app.pet ADD CONSTRAINT pet_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES app.owner(id) ON DELETE CASCADE"
    );
    assert!(text("constraint", "app.pet.pet_name_check").ends_with("CHECK ((name <> ''::text))"));
    assert!(text("constraint", "app.pet.pet_during_excl").ends_with("EXCLUDE USING gist (during WITH &&)"));
    assert!(text("constraint", "app.owner.owner_email_key").ends_with("UNIQUE (email)"));
    assert_eq!(
        text("index", "app.pet_name_idx"),
        "CREATE INDEX pet_name_idx ON app.pet USING btree (lower(name)) WHERE (weight > (1)::numeric)"
    );
    assert!(text("index", "app.per_owner_idx").starts_with("CREATE INDEX per_owner_idx ON app.per_owner"));
    // A constraint's index is the constraint's: not listed twice.
    assert!(!first.iter().any(|(k, n, _)| k == "index" && n == "app.pet_pkey"));
    assert!(text("view", "app.heavy").starts_with("CREATE VIEW app.heavy AS\n SELECT pet.id,"));
    assert!(text("view", "app.heavy").contains("FROM app.pet"));
    assert!(text("materialized view", "app.per_owner").starts_with("CREATE MATERIALIZED VIEW app.per_owner AS\n"));
    assert!(text("function", "app.touch()").contains("trim(NEW.name)"));
    assert!(text("function", "app.add(a integer, b integer)").starts_with("CREATE OR REPLACE FUNCTION app.add("));
    assert!(text("procedure", "app.tidy()").starts_with("CREATE OR REPLACE PROCEDURE app.tidy()"));
    assert!(text("aggregate", "app.total(integer)").contains("SFUNC = app.add, STYPE = integer, INITCOND = '0'"));
    assert!(
        text("trigger", "app.pet.pet_touch").starts_with("CREATE TRIGGER pet_touch BEFORE INSERT OR UPDATE ON app.pet")
    );
    assert!(text("trigger", "app.pet.pet_quiet").ends_with(";\nALTER TABLE app.pet DISABLE TRIGGER pet_quiet"));
    // The functions a range type made for itself are the type's.
    assert!(!first.iter().any(|(k, n, _)| k == "function" && n.starts_with("app.span")), "{first:#?}");
    // citext's own functions, types and operators belong to the extension.
    assert!(!first.iter().any(|(k, n, _)| k != "extension" && n.contains("citext")), "{first:#?}");

    let dump = catalog::render(&first);
    assert!(dump.starts_with("CREATE SCHEMA app;\nCREATE EXTENSION citext"), "{dump}");
}

#[test]
fn envdb_tables_are_left_out_only_in_the_history_schema() {
    let user = "CREATE TABLE public.t (x int);";
    let in_public = objects_of(&format!("{user}{}", envdb_tables("public")), "public");
    assert_eq!(in_public, objects_of(user, "public"), "envdb's tables, keys, indexes, sequences show");

    let elsewhere = objects_of(&format!("{user}{}", envdb_tables("envdb")), "envdb");
    assert_eq!(elsewhere, objects_of(user, "envdb"), "envdb's schema or tables show");
    // Tables of the same names in another schema are the user's.
    let theirs = objects_of(&envdb_tables("app"), "envdb");
    assert!(theirs.iter().any(|(k, n, _)| k == "table" && n == "app.envdb_meta"), "{theirs:#?}");
    assert!(theirs.iter().any(|(k, n, _)| k == "sequence" && n == "app.envdb_lock_id_seq"), "{theirs:#?}");
    assert!(theirs.iter().any(|(k, n, _)| k == "schema" && n == "app"), "{theirs:#?}");
}

/// The database's schema, then the migrations' with one change: what `validate` would say.
fn diff_after(base: &str, database: &str, migrations: &str) -> Vec<String> {
    let actual = objects_of(&format!("{base}{database}"), "public");
    let expected = objects_of(&format!("{base}{migrations}"), "public");
    catalog::diff(&actual, &expected)
}

#[test]
fn each_change_shows_as_a_readable_difference() {
    let function =
        "CREATE OR REPLACE FUNCTION f(x int) RETURNS int LANGUAGE plpgsql AS $$\nBEGIN\n  RETURN x + 1;\nEND $$;";
    let base = format!("CREATE TYPE mood AS ENUM ('sad', 'ok'); CREATE TABLE owner (id int PRIMARY KEY); {function}");
    let body_changed = function.replace("x + 1", "x + 2");
    let base = base.as_str();
    let same = |change: &str, line: &str| {
        let d = diff_after(base, change, change);
        assert!(d.is_empty(), "{line}: {d:?}");
    };
    let cases: [(&str, &str, &str, &str); 10] = [
        (
            "column type",
            "CREATE TABLE t (x integer);",
            "CREATE TABLE t (x bigint);",
            "column public.t.x: type integer → bigint (database → migrations)",
        ),
        (
            "column default",
            "CREATE TABLE t (x integer DEFAULT 0);",
            "CREATE TABLE t (x integer DEFAULT 1);",
            "column public.t.x: default 0 → 1 (database → migrations)",
        ),
        (
            "nullability",
            "CREATE TABLE t (x integer);",
            "CREATE TABLE t (x integer NOT NULL);",
            "column public.t.x: nullable → NOT NULL (database → migrations)",
        ),
        (
            "a column added",
            "CREATE TABLE t (x integer);",
            "CREATE TABLE t (x integer, y text);",
            "missing column public.t.y; the migrations create:\n    y text",
        ),
        (
            "an index",
            "CREATE TABLE t (x integer); CREATE INDEX t_x ON t (x);",
            "CREATE TABLE t (x integer); CREATE INDEX t_x ON t (x DESC);",
            "index public.t_x differs:\n    database:   CREATE INDEX t_x ON public.t USING btree (x)\n    migrations: CREATE INDEX t_x ON public.t USING btree (x DESC)",
        ),
        (
            "a constraint",
            "CREATE TABLE t (x integer CHECK (x > 0));",
            "CREATE TABLE t (x integer CHECK (x > 1));",
            "constraint public.t.t_x_check differs:\n    database:   ALTER TABLE public.t ADD CONSTRAINT t_x_check CHECK ((x > 0))\n    migrations: ALTER TABLE public.t ADD CONSTRAINT t_x_check CHECK ((x > 1))",
        ),
        (
            "a foreign key missing",
            "CREATE TABLE t (o int);",
            "CREATE TABLE t (o int REFERENCES owner);",
            "missing constraint public.t.t_o_fkey; the migrations create:\n    ALTER TABLE public.t ADD CONSTRAINT t_o_fkey FOREIGN KEY (o) REFERENCES public.owner(id)",
        ),
        (
            "a view body",
            "CREATE VIEW v AS SELECT 1 AS one;",
            "CREATE VIEW v AS SELECT 2 AS one;",
            "view public.v differs (- database, + migrations):\n    -  SELECT 1 AS one\n    +  SELECT 2 AS one",
        ),
        (
            "a function body",
            "",
            &body_changed,
            "function public.f(x integer) differs (- database, + migrations):\n    -   RETURN x + 1;\n    +   RETURN x + 2;",
        ),
        (
            "an enum label",
            "",
            "ALTER TYPE mood ADD VALUE 'happy';",
            "type public.mood differs:\n    database:   CREATE TYPE public.mood AS ENUM ('sad', 'ok')\n    migrations: CREATE TYPE public.mood AS ENUM ('sad', 'ok', 'happy')",
        ),
    ];
    for (what, database, migrations, line) in cases {
        assert_eq!(diff_after(base, database, migrations), [line], "{what}");
        same(database, what);
    }
    let unexpected = diff_after(base, "CREATE SEQUENCE s;", "");
    assert_eq!(unexpected.len(), 1, "{unexpected:?}");
    assert!(
        unexpected[0].starts_with("unexpected sequence public.s, not created by any migration:\n"),
        "{unexpected:?}"
    );
}

#[test]
fn an_index_a_failed_concurrent_build_left_is_reported_as_invalid() {
    let db = database();
    let mut client = db.connect(Via::Bouncer);
    client.batch_execute("CREATE TABLE t (x int); INSERT INTO t VALUES (1), (1)").unwrap();
    assert_eq!(catalog::invalid_indexes(&mut client).unwrap(), []);
    let failed = client.batch_execute("CREATE UNIQUE INDEX CONCURRENTLY t_x_key ON t (x)").unwrap_err();
    assert_eq!(failed.code(), Some(&postgres::error::SqlState::UNIQUE_VIOLATION), "{failed}");
    let invalid = catalog::invalid_indexes(&mut client).unwrap();
    assert_eq!(invalid, [("public.t_x_key".to_owned(), "public.t".to_owned())]);
    // Reported there, not again as part of the schema.
    let objects = catalog::objects(&mut client, "public").unwrap();
    assert!(!objects.iter().any(|(_, name, _)| name.contains("t_x_key")), "{objects:?}");
}

fn connect_plain() -> Connect {
    Box::new(|url: &str| {
        postgres::Client::connect(url, postgres::NoTls)
            .map_err(|e| envdb::db::postgres::PgError::Server { label: "test".into(), message: e.to_string() })
    })
}

fn exists(name: &str) -> bool {
    let sql = format!("SELECT 1 FROM pg_database WHERE datname = '{name}'");
    let rows = shared().admin().simple_query(&sql).unwrap();
    rows.iter().any(|m| matches!(m, postgres::SimpleQueryMessage::Row(_)))
}

#[test]
fn the_scratch_database_is_dropped_after_a_success_and_after_a_failure() {
    let target = database();
    for via in [Via::Tcp, Via::Bouncer, Via::Socket] {
        // Success: the migrations run there, the schema is read, the guard is dropped.
        let scratch = Scratch::create(&target.url(via), connect_plain()).unwrap();
        let name = scratch.name().to_owned();
        assert!(name.starts_with("envdb_scratch_") && name.len() == 41, "{name}");
        assert!(exists(&name), "{via:?}: {name} was not created");
        let mut session = postgres::Client::connect(scratch.url(), postgres::NoTls).unwrap();
        session.batch_execute("CREATE TABLE t (x int)").unwrap();
        let objects = catalog::objects(&mut session, "public").unwrap();
        assert_eq!(objects, [("table".into(), "public.t".into(), "CREATE TABLE public.t (\n    x integer\n)".into())]);
        scratch.drop_database().unwrap();
        assert!(!exists(&name), "{via:?}: {name} is left after a success");

        // Failure: a migration fails and the caller returns early, its session still open.
        let failed = || -> Result<(), postgres::Error> {
            let scratch = Scratch::create(&target.url(via), connect_plain()).unwrap();
            let mut session = postgres::Client::connect(scratch.url(), postgres::NoTls)?;
            let name = scratch.name().to_owned();
            std::thread::spawn(move || {
                // The session stays open (in another thread) past the guard's drop.
                let _keep = session.batch_execute("SELECT pg_sleep(0.5)");
            });
            let mut again = postgres::Client::connect(scratch.url(), postgres::NoTls)?;
            let result = again.batch_execute("CREATE TABLE t (x int); CREATE TABLE t (x int)");
            assert!(exists(&name), "{name} is gone before its guard");
            result
        };
        let error = failed().unwrap_err();
        assert_eq!(error.code(), Some(&postgres::error::SqlState::DUPLICATE_TABLE), "{error:?}");
        let left: Vec<String> = shared()
            .admin()
            .simple_query("SELECT datname FROM pg_database WHERE datname LIKE 'envdb_scratch_%'")
            .unwrap()
            .iter()
            .filter_map(|m| match m {
                postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
                _ => None,
            })
            .collect();
        assert_eq!(left, Vec::<String>::new(), "{via:?}: left after a failure");
    }
}

/// A killed run (Ctrl-C in a test run) leaves its scratch database: the next scratch database of
/// the same kind drops it once it is ten minutes old, unless a session is still on it (the
/// databases belong to the role that makes scratch databases, as a killed run's do).
#[test]
fn a_scratch_database_a_killed_run_left_is_dropped_by_the_next_one_unless_in_use() {
    let target = database();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let abandoned = format!("envdb_test_{}_00000000000000a1", now - 3600);
    let in_use = format!("envdb_test_{}_00000000000000a2", now - 3600);
    let recent = format!("envdb_test_{}_00000000000000a3", now - 60);
    let unrelated = format!("envdb_testing_{}_00000000000000a4", now - 3600);
    let mut admin = shared().admin();
    for name in [&abandoned, &in_use, &recent, &unrelated] {
        admin.batch_execute(&format!("CREATE DATABASE {name} OWNER {}", pgtest::ROLE)).unwrap();
    }
    let url = shared().url_as(Via::Socket, &in_use, pgtest::SUPERUSER, "");
    let held = postgres::Client::connect(&url, postgres::NoTls).unwrap();

    let fresh = Scratch::create_for(&target.url(Via::Bouncer), scratch::TEST, connect_plain()).unwrap();
    assert!(!exists(&abandoned), "{abandoned} is left");
    for kept in [&in_use, &recent, &unrelated] {
        assert!(exists(kept), "{kept} was dropped");
    }
    fresh.drop_database().unwrap();
    drop(held);
    for name in [&in_use, &recent, &unrelated] {
        admin.batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)")).unwrap();
    }
}

#[test]
fn a_role_without_createdb_is_told_how_to_get_it_and_its_password_is_never_shown() {
    let target = database();
    let password = "pw-b7e1c9d2-never-shown";
    let mut admin = shared().admin();
    admin
        .batch_execute(&format!(
            "DROP ROLE IF EXISTS envdb_nocreatedb; CREATE ROLE envdb_nocreatedb LOGIN NOCREATEDB PASSWORD '{password}'"
        ))
        .unwrap();
    let url = shared().url_as(Via::Tcp, target.name(), "envdb_nocreatedb", password);
    let error = Scratch::create(&url, connect_plain()).unwrap_err().to_string();
    assert!(error.contains("the role `envdb_nocreatedb` may not create databases"), "{error}");
    assert!(error.contains("SQLSTATE 42501"), "{error}");
    assert!(error.contains("ALTER ROLE envdb_nocreatedb CREATEDB"), "{error}");
    assert!(error.contains(&format!("127.0.0.1:{}", shared().port())), "{error}");
    assert!(!error.contains(password), "{error}");

    // A wrong password: the server's refusal, the password not in it.
    let wrong = shared().url_as(Via::Tcp, target.name(), "envdb_nocreatedb", "wrong-pw-5f3a");
    let error = Scratch::create(&wrong, connect_plain()).unwrap_err().to_string();
    assert!(error.contains("cannot connect to the maintenance database"), "{error}");
    assert!(!error.contains("wrong-pw-5f3a"), "{error}");
    admin.batch_execute("DROP ROLE envdb_nocreatedb").unwrap();
}

#[test]
fn a_search_path_set_on_the_database_does_not_change_the_text() {
    let db = database();
    let set = format!("ALTER DATABASE {} SET search_path = app, public", db.name());
    db.connect(Via::Tcp).batch_execute(&set).unwrap();
    db.connect(Via::Tcp).batch_execute(SCHEMA).unwrap();
    let objects = catalog::objects(&mut db.connect(Via::Bouncer), "public").unwrap();
    assert_eq!(objects, objects_of(SCHEMA, "public"));
}
