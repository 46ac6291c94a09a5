use super::*;

fn args() -> ConfigArgs {
    ConfigArgs::default()
}

#[test]
fn unknown_key_names_key_file_and_line() {
    let text = "kubernetes-version: v1.34.0\ncontainer-runtme: containerd\n";
    let e = parse_str(text, "/etc/x.yaml").expect_err("typo must fail");
    assert_eq!(e.code, "config-unknown-key");
    assert!(e.message.contains("container-runtme"), "{}", e.message);
    assert!(e.message.starts_with("/etc/x.yaml:2:"), "{}", e.message);
}

#[test]
fn bad_values_are_refused_with_their_line() {
    for (text, line, needle) in [
        ("kubernetes-version: latest\n", 1, "latest"),
        ("container-runtime: rkt\n", 1, "rkt"),
        ("firewall:\n  allow:\n    - 10.0.0.0/33\n", 3, "10.0.0.0/33"),
        ("preflight:\n  ignore: [all]\n", 2, "all"),
        ("minikube:\n  version: v1.37.0\n  sha256: abc\n", 3, "abc"),
        ("wait-timeout: soon\n", 1, "soon"),
    ] {
        let e = parse_str(text, "c.yaml").expect_err(text);
        assert_eq!(e.code, "config-invalid-value", "{text}: {}", e.message);
        assert!(e.message.starts_with(&format!("c.yaml:{line}:")), "{text}: {}", e.message);
        if needle != "10.0.0.0/33" {
            assert!(e.message.contains(needle), "{text}: {}", e.message);
        }
    }
}

#[test]
fn yaml_bomb_is_refused() {
    // Alias expansion under a valid key: the budget stops it, not the type check.
    let aliases = vec!["*a"; 200].join(", ");
    let text = format!("extra-config: [&a kubelet.max-pods=1, {aliases}]\n");
    let e = parse_str(&text, "bomb.yaml").expect_err("bomb");
    assert_eq!(e.code, "config-too-complex", "{}", e.message);
}

#[test]
fn precedence_defaults_file_flags() {
    let file = parse_str("kubernetes-version: v1.33.1\ncontainer-runtime: docker\n", "f").expect("parse");
    let s = Settings::merge(file.clone(), None, &args());
    assert_eq!(s.kubernetes_version.to_string(), "v1.33.1");
    assert_eq!(s.container_runtime, Runtime::Docker);
    assert_eq!(s.minikube.version.to_string(), defaults::MINIKUBE);
    let mut a = args();
    a.kubernetes_version = Some("v1.32.0".parse().expect("v"));
    let s = Settings::merge(file, None, &a);
    assert_eq!(s.kubernetes_version.to_string(), "v1.32.0");
    assert_eq!(s.container_runtime, Runtime::Docker);
}

#[test]
fn example_config_parses_and_sets_every_key() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/config.yaml");
    let f = parse_file(Path::new(path)).expect("the shipped example must parse");
    let json = format!("{f:?}");
    assert!(!json.contains(": None"), "example leaves a key unset: {json}");
}
