//! docs/checkout.md's failure table stays true: every row names the tests
//! that prove it, every name is a real test, and every test of the failure
//! and crash suites has its row.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The names in backticks in the last column of each row of the table
/// under "What can go wrong".
fn rows() -> Vec<(String, Vec<String>)> {
    let doc = std::fs::read_to_string(repo().join("docs/checkout.md")).unwrap();
    let table = doc
        .split("| failure | where |")
        .nth(1)
        .expect("the failure table");
    table
        .lines()
        .skip(2) // the rest of the header row, and the separator
        .take_while(|l| l.starts_with('|'))
        .map(|row| {
            let cells: Vec<&str> = row.trim_matches('|').split(" | ").collect();
            let names = cells
                .last()
                .unwrap()
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect();
            (cells[0].trim().to_owned(), names)
        })
        .collect()
}

/// Every `fn name(` in the test sources of the workspace.
fn test_functions() -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    let mut dirs = vec![
        repo().join("services"),
        repo().join("tests"),
        repo().join("crates"),
    ];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                if !path.ends_with("target") {
                    dirs.push(path);
                }
                continue;
            }
            let in_tests = path.components().any(|c| c.as_os_str() == "tests");
            if !in_tests || path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for line in text.lines() {
                let line = line.trim_start();
                let rest = line
                    .strip_prefix("async fn ")
                    .or_else(|| line.strip_prefix("fn "));
                if let Some(name) = rest.and_then(|r| r.split('(').next()) {
                    found.push((path.clone(), name.to_owned()));
                }
            }
        }
    }
    found
}

#[test]
fn the_failure_table_names_a_test_for_every_row() {
    let rows = rows();
    assert!(rows.len() >= 15, "the table has {} rows", rows.len());
    let functions = test_functions();
    for (failure, names) in &rows {
        assert!(!names.is_empty(), "the row `{failure}` names no test");
        for name in names {
            assert!(
                functions.iter().any(|(_, f)| f == name),
                "the row `{failure}` names `{name}`, which is no test function"
            );
        }
    }
    // The other way round: each test of the failure and crash suites
    // proves a row, and says which by being named in it.
    let named: Vec<&String> = rows.iter().flat_map(|(_, n)| n).collect();
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api");
    for suite in ["failures.rs", "crash.rs"] {
        let text = std::fs::read_to_string(here.join(suite)).unwrap();
        let tests = ["#[sqlx::test]", "#[tokio::test]"]
            .into_iter()
            .flat_map(|marker| text.split(marker).skip(1))
            .filter_map(|after| after.split("async fn ").nth(1)?.split('(').next());
        for test in tests.collect::<Vec<_>>() {
            assert!(
                named.iter().any(|n| n.as_str() == test),
                "{suite}: `{test}` is in no row of docs/checkout.md's failure table"
            );
        }
    }
}
