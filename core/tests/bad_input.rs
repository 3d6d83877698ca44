//! Every malformed configuration is a typed error whose message names the fix; none panics.

use passmint::{ErrorKind, Provider};

/// (input, expected kind, a word the message must contain so the user knows what to change)
const PROVIDER_URLS: &[(&str, &str)] = &[
    ("", "provider URL"),
    ("   ", "provider URL"),
    ("dsql", "not a provider URL"),
    ("abc.dsql.us-east-1.on.aws", "not a provider URL"),
    ("gcp://instance", "takes no host"),
    ("gcs://bucket", "unknown provider"),
    ("mysql://host", "unknown provider"),
    ("postgresql://app@host/db", "for_postgres_url"),
    ("dsql://", "needs a cluster"),
    ("dsql://abc123", "?region="),
    ("dsql://abc.example.com", "?region="),
    (
        "dsql://abc.dsql.us-east-1.on.aws?region=eu-west-1",
        "contradicts",
    ),
    ("dsql://abc.dsql.us-east-1.on.aws:5432", "no port"),
    (
        "dsql://abc.dsql.us-east-1.on.aws?expires_in=0",
        "1 to 604800",
    ),
    (
        "dsql://abc.dsql.us-east-1.on.aws?expires_in=604801",
        "1 to 604800",
    ),
    (
        "dsql://abc.dsql.us-east-1.on.aws?expires_in=-5",
        "1 to 604800",
    ),
    (
        "dsql://abc.dsql.us-east-1.on.aws?expires_in=15m",
        "1 to 604800",
    ),
    ("dsql://abc.dsql.us-east-1.on.aws?user=", "empty"),
    ("dsql://abc.dsql.us-east-1.on.aws?usr=app", "accepted are"),
    ("dsql://abc.dsql.us-east-1.on.aws?user=a&user=b", "twice"),
    ("dsql://abc.dsql.us-east-1.on.aws?user", "name=value"),
    ("dsql://abc.dsql.us-east-1.on.aws?user=%FF%FE", "UTF-8"),
    ("dsql://abc123?region=US_EAST", "region code"),
    ("dsql://abc.dsql.us-east-1.on.aws/db", "no path"),
    ("dsql://abc.dsql.us-east-1.on.aws#frag", "fragment"),
    ("dsql://admin@abc.dsql.us-east-1.on.aws", "?user="),
    ("dsql://bad_host!.dsql.us-east-1.on.aws", "host name"),
    ("rds://db.abc.eu-west-1.rds.amazonaws.com", "?user="),
    (
        "rds://db.example.com:5432?user=app",
        "never guesses us-east-1",
    ),
    (
        "rds://db.abc.eu-west-1.rds.amazonaws.com:0?user=app",
        "1-65535",
    ),
    (
        "rds://db.abc.eu-west-1.rds.amazonaws.com:70000?user=app",
        "1-65535",
    ),
    (
        "rds://db.abc.eu-west-1.rds.amazonaws.com:pg?user=app",
        "1-65535",
    ),
    ("rds://:5432?user=app&region=eu-west-1", "database host"),
    (
        "rds://db.abc.eu-west-1.rds.amazonaws.com?user=app&expires_in=3600",
        "accepted are",
    ),
    ("azure://server.postgres.database.azure.com", "no host"),
    ("azure://?credential=password", "auto, environment"),
    ("azure://?cloud=mars", "public, usgov or china"),
    ("azure://?client_id=not-a-guid", "GUID"),
    (
        "azure://?client_id=6f1a2b3c-0000-4000-8000-123456789abc&object_id=6f1a2b3c-0000-4000-8000-123456789abd",
        "only one",
    ),
    (
        "azure://?credential=cli&object_id=6f1a2b3c-0000-4000-8000-123456789abd",
        "credential=managed",
    ),
    ("azure://?resource_id=identity-name", "/subscriptions/"),
    ("azure://?scope=ossrdbms", "/.default"),
    // Review finding 6: a token for another resource is not a database password.
    (
        "azure://?scope=https://management.azure.com/.default",
        "allow_custom_scope=true",
    ),
    (
        "azure://?scope=https%3A%2F%2Fvault.azure.net%2F.default",
        "Azure Database for PostgreSQL scope",
    ),
    ("azure://?scope=api://x/.default", "allow_custom_scope"),
    (
        "azure://?scope=api://x/.default&allow_custom_scope=maybe",
        "yes/no",
    ),
];

const POSTGRES_URLS: &[(&str, &str)] = &[
    ("host=db user=app", "postgresql://"),
    (
        "mysql://app@db.abc.eu-west-1.rds.amazonaws.com/db",
        "postgresql://",
    ),
    ("postgresql:///db", "no host"),
    ("postgresql://app@db.example.com/db", "provider URL instead"),
    (
        "postgresql://db.abc.eu-west-1.rds.amazonaws.com/db",
        "no user",
    ),
    ("postgresql://app@[::1/db", "cannot parse"),
    // Review finding 6: these reached the signed host, or SigV4 signing as INTERNAL.
    (
        "postgresql://app@a%26b.dsql.us-east-1.on.aws/db",
        "not a valid host name",
    ),
    (
        "postgresql://app@x=y.abc.eu-west-1.rds.amazonaws.com/db",
        "not a valid host name",
    ),
    (
        "postgresql://app@a%2Fb.dsql.us-east-1.on.aws/db",
        "not a valid host name",
    ),
    (
        "postgresql://app@a%3Fb.abc.eu-west-1.rds.amazonaws.com/db",
        "not a valid host name",
    ),
    (
        "postgresql://app@a%25b.dsql.us-east-1.on.aws/db",
        "not a valid host name",
    ),
    (
        "postgresql://app@a_b.postgres.database.azure.com/db",
        "not a valid host name",
    ),
];

#[test]
fn malformed_provider_urls_are_config_errors_that_name_the_fix() {
    assert!(PROVIDER_URLS.len() >= 25);
    for (input, hint) in PROVIDER_URLS {
        let err = Provider::from_url(input).expect_err(input);
        assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{input}: {err}");
        assert!(
            err.message().contains(hint),
            "{input}: message `{}` should mention `{hint}`",
            err.message()
        );
        assert!(!err.message().contains('\n'), "{input}: one line");
    }
}

#[test]
fn malformed_postgres_urls_are_config_errors_that_name_the_fix() {
    for (input, hint) in POSTGRES_URLS {
        let err = Provider::for_postgres_url(input).expect_err(input);
        assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{input}: {err}");
        assert!(
            err.message().contains(hint),
            "{input}: `{}` lacks `{hint}`",
            err.message()
        );
    }
}

#[test]
fn postgres_url_password_is_never_echoed() {
    let err = Provider::for_postgres_url("postgres://app:hunter2@db.example.com/db").unwrap_err();
    assert!(!err.message().contains("hunter2"));
    let err = Provider::for_postgres_url("mysql://app:hunter2@db/x").unwrap_err();
    assert!(!err.message().contains("hunter2"));
}

#[test]
fn huge_and_binary_inputs_give_short_errors() {
    let huge = format!("dsql://{}", "a".repeat(1 << 20));
    let err = Provider::from_url(&huge).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert!(err.message().len() < 400);
    let err = Provider::from_url("dsql://\u{0}\u{7f}?region=us-east-1").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
}

#[test]
fn valid_urls_build_providers_with_the_right_role() {
    let cases: &[(&str, &str, &str)] = &[
        ("dsql://abc.dsql.us-east-1.on.aws", "dsql", "admin"),
        (
            "DSQL://ABC.dsql.us-east-1.on.aws?user=reader",
            "dsql",
            "reader",
        ),
        (
            "dsql://abc123?region=eu-central-1&expires_in=604800",
            "dsql",
            "admin",
        ),
        (
            "dsql://abc.dsql.us-east-1.on.aws?expires_in=1",
            "dsql",
            "admin",
        ),
        (
            "rds://db.abc.eu-west-1.rds.amazonaws.com:6543?user=app%40corp%2B1%20x",
            "rds",
            "app@corp+1 x",
        ),
        (
            "rds://db.internal:5432?user=app&region=ap-southeast-2&profile=prod",
            "rds",
            "app",
        ),
        (
            "rds://db.abc.cn-north-1.rds.amazonaws.com.cn?user=app",
            "rds",
            "app",
        ),
    ];
    for (url, kind, user) in cases {
        let p = Provider::from_url(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(p.kind(), *kind, "{url}");
        assert_eq!(p.username(), Some(*user), "{url}");
    }
    let p = Provider::for_postgres_url("postgresql://reader@abc.dsql.us-east-2.on.aws/postgres")
        .unwrap();
    assert_eq!((p.kind(), p.username()), ("dsql", Some("reader")));
    let p =
        Provider::for_postgres_url("postgres://abc.dsql.us-east-2.on.aws:5432/postgres").unwrap();
    assert_eq!(p.username(), Some("admin"));
    let p = Provider::for_postgres_url(
        "postgresql://app%40x@db.abc.eu-west-1.rds.amazonaws.com:5433/db?sslmode=verify-full",
    )
    .unwrap();
    assert_eq!((p.kind(), p.username()), ("rds", Some("app@x")));
    assert!(format!("{p:?}").contains("5433"));
}

#[test]
fn valid_azure_urls_build_providers_without_touching_the_network() {
    // Building reads no token: credentials are looked for on the first token() call.
    for (url, user) in [
        ("azure://", None),
        (
            "azure://?credential=managed&client_id=6F1A2B3C-0000-4000-8000-123456789ABC",
            None,
        ),
        (
            "azure://?credential=cli&tenant_id=contoso.onmicrosoft.com&cloud=usgov&user=me%40contoso.com",
            Some("me@contoso.com"),
        ),
    ] {
        let p = Provider::from_url(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!((p.kind(), p.username()), ("azure", user), "{url}");
    }
    let p =
        Provider::for_postgres_url("postgresql://me@srv.postgres.database.azure.com/db").unwrap();
    assert_eq!((p.kind(), p.username()), ("azure", Some("me")));
    assert!(format!("{p:?}").contains("ossrdbms-aad.database.windows.net"));
    let p = Provider::for_postgres_url("postgresql://me@srv.postgres.database.chinacloudapi.cn/db")
        .unwrap();
    assert!(format!("{p:?}").contains("ossrdbms-aad.database.chinacloudapi.cn"));
    // Each cloud's database scope, with or without /.default; anything else only when asked.
    for (url, scope) in [
        (
            "azure://?scope=https://ossrdbms-aad.database.usgovcloudapi.net",
            "scope https://ossrdbms-aad.database.usgovcloudapi.net/.default",
        ),
        (
            "azure://?scope=https%3A%2F%2Fossrdbms-aad.database.windows.net%2F.default",
            "scope https://ossrdbms-aad.database.windows.net/.default",
        ),
        (
            "azure://?scope=api://pgproxy/.default&allow_custom_scope=true",
            "scope api://pgproxy/.default",
        ),
    ] {
        let p = Provider::from_url(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        assert!(format!("{p:?}").contains(scope), "{url}: {p:?}");
    }
}
