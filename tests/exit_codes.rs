//! The exit-code table is the same in the code, in every `--help`, and in the README.
#![allow(clippy::unwrap_used)]

mod support;

use minikube_none_bootstrap::result::ExitCode;

#[test]
fn every_help_ends_with_the_exit_code_table() {
    for cmd in [vec!["--help"], vec!["preflight", "--help"], vec!["plan", "--help"]] {
        let out = support::run(&cmd, &[]);
        assert_eq!(out.status.code(), Some(0));
        let help = String::from_utf8_lossy(&out.stdout);
        for c in ExitCode::ALL {
            let line = format!("{:>2}  {}", c.code(), c.meaning());
            assert!(help.contains(&line), "{cmd:?} --help lacks `{line}`");
        }
    }
}

#[test]
fn the_readme_documents_every_exit_code() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for c in ExitCode::ALL {
        let row = format!("| {} | {} |", c.code(), c.meaning());
        assert!(readme.contains(&row), "README lacks `{row}`");
    }
}

#[test]
fn codes_are_stable() {
    let codes: Vec<i32> = ExitCode::ALL.iter().map(|c| c.code()).collect();
    assert_eq!(codes, [0, 1, 2, 3, 4, 5, 6]);
}
