//! The labs (docs/labs/) held to the code, so they cannot rot: every lab
//! has its parts, names the tests that prove its claim (and they exist, as
//! tests), links only to files and headings that exist, sets faults only
//! on routes and peers the services have, and has a Chinese counterpart
//! (docs/zh-CN/labs/) whose commands are the same, character for character.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use shop_api::faults::FaultRule;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_owned()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The lab files of a labs directory (`NN-name.md`), sorted.
fn labs(dir: &Path) -> Vec<PathBuf> {
    let mut labs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.ends_with(".md") && name.as_bytes()[0].is_ascii_digit()
        })
        .collect();
    labs.sort();
    labs
}

/// The lines of every fenced `sh` block, in order: a lab's commands.
fn commands(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if inside {
            if line.trim_start().starts_with("```") {
                inside = false;
            } else {
                out.push(line.to_owned());
            }
        } else if line.trim_start() == "```sh" {
            inside = true;
        }
    }
    out
}

/// Every Markdown link target `[...](target)` outside code.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            inside = !inside;
            continue;
        }
        if inside {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let Some(end) = after.find(')') else { break };
            out.push(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    out
}

/// GitHub's anchor for a heading: lower case, spaces to dashes, most
/// punctuation dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(markdown: &str) -> BTreeSet<String> {
    markdown
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| anchor(l.trim_start_matches('#')))
        .collect()
}

/// The tests a lab names in its "Proven by" paragraph, with their files:
/// the links of the paragraph, each `[`name`](path)`.
fn proven_by(text: &str) -> Vec<(String, String)> {
    let start = text.find("**Proven by**").expect("a Proven by paragraph");
    let paragraph = text[start..].split("\n\n").next().unwrap();
    let mut out = Vec::new();
    let mut rest = paragraph;
    while let Some(i) = rest.find("[`") {
        let after = &rest[i + 2..];
        let name_end = after.find("`](").expect("[`name`](path)");
        let path_start = name_end + 3;
        let path_end = path_start + after[path_start..].find(')').unwrap();
        out.push((
            after[..name_end].to_owned(),
            after[path_start..path_end].to_owned(),
        ));
        rest = &after[path_end..];
    }
    out
}

/// Whether `source` defines a test called `name`: `fn name(` with a test
/// attribute on one of the lines just above it, or, in a promtool test
/// file (`.yml`), a test case of the alert `name`.
fn defines_test(source: &str, name: &str) -> bool {
    if source.contains("alert_rule_test:") {
        return source
            .lines()
            .any(|l| l.trim() == format!("alertname: {name}"));
    }
    let lines: Vec<&str> = source.lines().collect();
    lines.iter().enumerate().any(|(i, line)| {
        let is_fn = line.contains(&format!("fn {name}("));
        is_fn
            && lines[i.saturating_sub(3)..i]
                .iter()
                .any(|l| l.trim_start().starts_with("#[") && l.contains("test"))
    })
}

#[test]
fn every_lab_has_its_parts_and_the_index_lists_it() {
    let dir = root().join("docs/labs");
    let index = read(&dir.join("README.md"));
    let labs = labs(&dir);
    assert!((6..=8).contains(&labs.len()), "six to eight labs: {labs:?}");
    for lab in &labs {
        let name = lab.file_name().unwrap().to_string_lossy().into_owned();
        let text = read(lab);
        assert!(
            index.contains(&format!("]({name})")),
            "the index lists {name}"
        );
        assert!(text.starts_with("# Lab "), "{name}: a title");
        for part in [
            "**Proven by**",
            "\n## Set up\n",
            "\n## Do\n",
            "\n## Watch\n",
            "\n## What happens, and why\n",
            "\n## Questions\n",
        ] {
            assert!(text.contains(part), "{name}: has {part:?}");
        }
        let questions = text
            .split("\n## Questions\n")
            .nth(1)
            .unwrap()
            .lines()
            .filter(|l| l.len() > 3 && l.as_bytes()[0].is_ascii_digit() && &l[1..3] == ". ")
            .count();
        assert!(
            (2..=3).contains(&questions),
            "{name}: two or three questions, not {questions}"
        );
        let set_up = text.split("\n## Set up\n").nth(1).unwrap();
        let set_up = set_up.split("\n## ").next().unwrap();
        let needs_cluster = text.contains("**Needs a cluster**");
        if !needs_cluster {
            // A Compose lab starts with the one command of the index.
            let command = commands(set_up);
            assert_eq!(command.len(), 1, "{name}: one set-up command");
            assert!(
                commands(&index).contains(&command[0]),
                "{name}: its set-up command is the index's: {}",
                command[0]
            );
        } else {
            assert!(
                text.contains("proven by the manifest checks")
                    || text.contains("manifests say what"),
                "{name}: a cluster lab says how it is proven without one"
            );
        }
    }
}

#[test]
fn every_test_a_lab_names_exists_where_it_says() {
    let dir = root().join("docs/labs");
    for lab in labs(&dir) {
        let name = lab.file_name().unwrap().to_string_lossy().into_owned();
        let proofs = proven_by(&read(&lab));
        assert!(!proofs.is_empty(), "{name}: names its tests");
        for (test, path) in proofs {
            let file = dir.join(&path);
            assert!(file.exists(), "{name}: {path} exists");
            assert!(
                defines_test(&read(&file), &test),
                "{name}: {path} defines the test {test}"
            );
        }
    }
}

#[test]
fn links_in_the_labs_lead_to_files_and_headings_that_exist() {
    let mut docs = vec![root().join("docs/labs"), root().join("docs/zh-CN/labs")];
    docs.retain(|d| d.exists());
    for dir in docs {
        let mut files = labs(&dir);
        files.push(dir.join("README.md"));
        for file in files {
            let text = read(&file);
            for link in links(&text) {
                if link.starts_with("http://") || link.starts_with("https://") {
                    continue;
                }
                let (path, fragment) = link.split_once('#').unwrap_or((&link, ""));
                let target = if path.is_empty() {
                    file.clone()
                } else {
                    file.parent().unwrap().join(path)
                };
                assert!(
                    target.exists(),
                    "{}: the link {link} leads nowhere",
                    file.display()
                );
                if !fragment.is_empty() {
                    assert!(
                        anchors(&read(&target)).contains(fragment),
                        "{}: {link}: no such heading",
                        file.display()
                    );
                }
            }
        }
    }
}

/// The routes of each service's API document.
fn routes(service: &str) -> BTreeSet<String> {
    let doc = match service {
        "product" => shop_common::service::openapi::<product::Product>(),
        "cart" => shop_common::service::openapi::<cart::Cart>(),
        "order" => shop_common::service::openapi::<order::Order>(),
        other => panic!("a fault on {other}: add its document here"),
    };
    doc.paths.paths.keys().cloned().collect()
}

#[test]
fn every_fault_a_lab_sets_names_a_route_or_peer_the_service_has() {
    let dir = root().join("docs/labs");
    let mut files = labs(&dir);
    files.push(dir.join("README.md"));
    let mut seen = 0;
    for file in files {
        for line in commands(&read(&file)) {
            let Some(at) = line.find("docker compose run --rm fault ") else {
                continue;
            };
            let words: Vec<&str> = line[at..].split_whitespace().skip(5).collect();
            let (service, args) = words.split_first().expect("a service");
            let args: Vec<&str> = args
                .iter()
                .take_while(|w| !["&&", ";", "|", "&"].contains(w))
                .copied()
                .collect();
            if args == ["list"] || args == ["clear"] {
                continue;
            }
            for arg in args {
                let rule: FaultRule = arg
                    .parse()
                    .unwrap_or_else(|e| panic!("{}: {arg}: {e}", file.display()));
                if let Some(route) = &rule.route {
                    assert!(
                        routes(service).contains(route),
                        "{}: {service} has no route {route}",
                        file.display()
                    );
                }
                if let Some(peer) = &rule.peer {
                    assert!(
                        ["product", "cart", "order"].contains(&peer.as_str()) && peer != service,
                        "{}: {service} does not call {peer}",
                        file.display()
                    );
                }
                seen += 1;
            }
        }
    }
    assert!(seen >= 5, "the labs set faults: {seen}");
}

#[test]
fn every_lab_has_a_chinese_counterpart_with_the_same_commands() {
    let english = root().join("docs/labs");
    let chinese = root().join("docs/zh-CN/labs");
    let mut pairs: Vec<(PathBuf, PathBuf)> = labs(&english)
        .into_iter()
        .map(|en| {
            let zh = chinese.join(en.file_name().unwrap());
            (en, zh)
        })
        .collect();
    pairs.push((english.join("README.md"), chinese.join("README.md")));
    for (en, zh) in pairs {
        let name = en.file_name().unwrap().to_string_lossy().into_owned();
        assert!(zh.exists(), "{name}: docs/zh-CN/labs/{name}");
        let (en_text, zh_text) = (read(&en), read(&zh));
        assert_eq!(
            commands(&en_text),
            commands(&zh_text),
            "{name}: the Chinese lab runs the same commands"
        );
        assert_eq!(
            resolved(&en, proven_by_or_none(&en_text)),
            resolved(&zh, proven_by_or_none(&zh_text)),
            "{name}: the Chinese lab names the same tests"
        );
        let to_chinese = format!("../zh-CN/labs/{name}");
        assert!(
            links(&en_text).iter().any(|l| l == &to_chinese),
            "{name}: links to {to_chinese}"
        );
        let to_english = format!("../../labs/{name}");
        assert!(
            links(&zh_text).iter().any(|l| l == &to_english),
            "docs/zh-CN/labs/{name}: links back to the English lab"
        );
    }
}

fn proven_by_or_none(text: &str) -> Vec<(String, String)> {
    if text.contains("**Proven by**") || text.contains("**验证测试**") {
        let text = text.replace("**验证测试**", "**Proven by**");
        proven_by(&text)
    } else {
        Vec::new()
    }
}

/// The tests of a "Proven by" paragraph with their files resolved from the
/// lab's own directory, so that the English lab and the Chinese one (a
/// directory deeper) compare equal although their relative paths differ.
/// Lexical, so a missing file is left to the tests above to report.
fn resolved(lab: &Path, tests: Vec<(String, String)>) -> Vec<(String, PathBuf)> {
    tests
        .into_iter()
        .map(|(test, path)| {
            let mut file = PathBuf::new();
            for part in lab.parent().unwrap().join(&path).components() {
                match part {
                    std::path::Component::ParentDir => {
                        file.pop();
                    }
                    std::path::Component::CurDir => {}
                    part => file.push(part),
                }
            }
            (test, file)
        })
        .collect()
}
