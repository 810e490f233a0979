//! Start-up refuses bad configuration, naming every variable at fault.

use std::process::Command;

use shop_common::config::Env;

use crate::helpers::env_with;

#[test]
fn the_binary_refuses_to_start_without_database_and_auth_configuration() {
    let out = Command::new(env!("CARGO_BIN_EXE_product"))
        .env_clear()
        .env("HTTP_ADDR", "127.0.0.1:0")
        .env("ADMIN_ADDR", "127.0.0.1:0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "configuration errors exit 2");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for var in [
        "DATABASE_URL",
        "AUTH_JWT_PUBLIC_KEY",
        "AUTH_ISSUER",
        "AUTH_AUDIENCE",
        "INTERNAL_TOKEN",
    ] {
        assert!(stderr.contains(var), "stderr should name {var}: {stderr}");
    }
}

#[test]
fn bad_values_are_named_with_what_is_wrong() {
    let vars = [
        ("DATABASE_URL", "mysql://nope"),
        ("AUTH_JWT_PUBLIC_KEY", "not a pem"),
        ("AUTH_ISSUER", "shop-dev"),
        ("AUTH_AUDIENCE", "shop"),
        ("INTERNAL_TOKEN", "short"),
        ("REQUEST_TIMEOUT_MS", "soon"),
        ("RESERVATION_TTL_SECS", "0"),
        ("LOG_FORMAT", "xml"),
    ];
    let mut env = Env::from_map(
        vars.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    let config = product::Config::from_env(&mut env);
    let err = env.finish(config).unwrap_err().to_string();
    for var in [
        "DATABASE_URL",
        "AUTH_JWT_PUBLIC_KEY",
        "INTERNAL_TOKEN",
        "REQUEST_TIMEOUT_MS",
        "RESERVATION_TTL_SECS",
        "LOG_FORMAT",
    ] {
        assert!(err.contains(var), "{var} missing from: {err}");
    }
    assert!(
        !err.contains("AUTH_ISSUER"),
        "valid values are not reported: {err}"
    );
}

#[test]
fn a_complete_configuration_is_accepted() {
    let mut env = env_with(&[]);
    let config = product::Config::from_env(&mut env);
    let config = env.finish(config).expect("valid");
    assert_eq!(config.http.addr.port(), 8080);
    assert_eq!(config.http.admin_addr.port(), 9090);
    assert_eq!(config.http.body_limit, 64 * 1024);
}

#[test]
fn the_public_development_key_and_credential_need_the_development_switch() {
    let vars = |development: Option<&str>| {
        let mut v: Vec<(String, String)> = [
            ("DATABASE_URL", "postgres://product:secret@db:5432/product"),
            ("AUTH_JWT_PUBLIC_KEY", shop_api::auth::DEV_PUBLIC_KEY_PEM),
            ("AUTH_ISSUER", "shop-dev"),
            ("AUTH_AUDIENCE", "shop"),
            ("INTERNAL_TOKEN", shop_api::auth::DEV_INTERNAL_TOKEN),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        if let Some(d) = development {
            v.push(("DEVELOPMENT_MODE".into(), d.into()));
        }
        Env::from_map(v.into_iter().collect())
    };
    for switch in [None, Some("false")] {
        let mut env = vars(switch);
        let config = product::Config::from_env(&mut env);
        let err = env.finish(config).unwrap_err().to_string();
        assert!(
            err.contains("AUTH_JWT_PUBLIC_KEY") && err.contains("development key"),
            "{err}"
        );
        assert!(
            err.contains("INTERNAL_TOKEN") && err.contains("DEVELOPMENT_MODE"),
            "{err}"
        );
    }
    let mut env = vars(Some("true"));
    let config = product::Config::from_env(&mut env);
    env.finish(config)
        .expect("a development stack may use them");
}
