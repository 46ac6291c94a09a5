//! Archive extraction: hostile tarballs (written header by header, so the tar
//! crate's own path checks do not stop them) are refused with nothing written
//! in the target; a good one is extracted with its exec bits.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;
use tar::{EntryType, Header};

use crate::archive::{ArchiveError, ExtractLimits, ExtractOptions, Members, extract_tar_gz};

enum Ent<'a> {
    File(&'a str, u32, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    Char(&'a str),
}

fn raw(h: &mut Header, offset: usize, value: &str) {
    let field = &mut h.as_mut_bytes()[offset..offset + 100];
    field.fill(0);
    field[..value.len()].copy_from_slice(value.as_bytes());
}

fn tarball(path: &Path, ents: &[Ent<'_>]) {
    let gz = GzEncoder::new(fs::File::create(path).expect("create tarball"), Compression::fast());
    let mut b = tar::Builder::new(gz);
    for e in ents {
        let mut h = Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(0);
        let (name, data): (&str, &[u8]) = match *e {
            Ent::File(n, mode, data) => {
                h.set_entry_type(EntryType::Regular);
                h.set_mode(mode);
                h.set_size(data.len() as u64);
                (n, data)
            }
            Ent::Dir(n) => {
                h.set_entry_type(EntryType::Directory);
                h.set_mode(0o755);
                (n, &[])
            }
            Ent::Symlink(n, target) | Ent::Hardlink(n, target) => {
                let t = if matches!(e, Ent::Symlink(..)) { EntryType::Symlink } else { EntryType::Link };
                h.set_entry_type(t);
                raw(&mut h, 157, target);
                (n, &[])
            }
            Ent::Char(n) => {
                h.set_entry_type(EntryType::Char);
                h.set_device_major(1).expect("major");
                h.set_device_minor(3).expect("minor");
                (n, &[])
            }
        };
        raw(&mut h, 0, name);
        h.set_cksum();
        b.append(&h, data).expect("append");
    }
    b.into_inner().expect("finish tar").finish().expect("finish gz");
}

struct Case {
    _dir: tempfile::TempDir,
    archive: std::path::PathBuf,
    target: std::path::PathBuf,
}

fn case(ents: &[Ent<'_>]) -> Case {
    let dir = tempfile::tempdir().expect("dir");
    let archive = dir.path().join("t.tar.gz");
    tarball(&archive, ents);
    let target = dir.path().join("root").join("bin");
    fs::create_dir_all(&target).expect("target");
    Case { archive, target, _dir: dir }
}

/// Extraction must fail naming the archive and `member`, writing nothing.
fn refused(ents: &[Ent<'_>], opts: &ExtractOptions, member: &str) -> ArchiveError {
    let c = case(ents);
    let err = extract_tar_gz(&c.archive, &c.target, opts).expect_err("hostile archive accepted");
    let text = err.to_string();
    assert!(text.contains("t.tar.gz") && text.contains(member), "{text}");
    assert!(!err.remedy().is_empty());
    assert_eq!(fs::read_dir(&c.target).expect("read target").count(), 0, "target written: {text}");
    let parent = c.target.parent().expect("parent");
    assert_eq!(fs::read_dir(parent).expect("read parent").count(), 1, "staging left behind: {text}");
    err
}

fn all() -> ExtractOptions {
    ExtractOptions::default()
}

#[test]
fn absolute_path_is_refused() {
    let err = refused(&[Ent::File("ok", 0o755, b"x"), Ent::File("/tmp/evil", 0o644, b"x")], &all(), "/tmp/evil");
    assert!(matches!(err, ArchiveError::Unsafe { .. }));
}

#[test]
fn parent_component_is_refused() {
    let err = refused(&[Ent::File("a/../../x", 0o644, b"x")], &all(), "a/../../x");
    assert!(matches!(err, ArchiveError::Unsafe { .. }));
}

#[test]
fn symlink_leaving_the_tree_is_refused() {
    let ents = [Ent::Symlink("etc", "/etc"), Ent::File("etc/passwd", 0o644, b"root::0:0::/:/bin/sh\n")];
    refused(&ents, &all(), "etc");
    refused(&[Ent::Dir("d"), Ent::Symlink("d/up", "../../x")], &all(), "d/up");
}

#[test]
fn path_through_an_archive_symlink_is_refused() {
    let ents = [Ent::Dir("d"), Ent::Symlink("link", "d"), Ent::File("link/f", 0o644, b"x")];
    let err = refused(&ents, &all(), "link/f");
    assert!(err.to_string().contains("symbolic link"), "{err}");
}

#[test]
fn hardlink_out_of_the_tree_is_refused() {
    refused(&[Ent::Hardlink("h", "/etc/shadow")], &all(), "h");
    refused(&[Ent::Hardlink("h", "../outside")], &all(), "h");
}

#[test]
fn device_node_is_refused() {
    let err = refused(&[Ent::Char("null")], &all(), "null");
    assert!(err.to_string().contains("device"), "{err}");
}

#[test]
fn too_many_entries_is_refused() {
    let names: Vec<String> = (0..10).map(|i| format!("f{i}")).collect();
    let ents: Vec<Ent<'_>> = names.iter().map(|n| Ent::File(n, 0o644, b"x")).collect();
    let opts = ExtractOptions { limits: ExtractLimits { max_entries: 5, ..Default::default() }, ..all() };
    let err = refused(&ents, &opts, "f5");
    assert!(matches!(err, ArchiveError::Limit { .. }), "{err}");
}

#[test]
fn too_large_is_refused() {
    let big = vec![0u8; 4096];
    let ents = [Ent::File("small", 0o644, b"x"), Ent::File("big", 0o644, &big)];
    let opts = ExtractOptions { limits: ExtractLimits { max_total_bytes: 4000, ..Default::default() }, ..all() };
    let err = refused(&ents, &opts, "big");
    assert!(matches!(err, ArchiveError::Limit { .. }), "{err}");
}

#[test]
fn missing_member_is_refused() {
    let opts = ExtractOptions { members: Members::Only(vec!["crictl".into()]), ..all() };
    let err = refused(&[Ent::File("README.md", 0o644, b"x")], &opts, "crictl");
    assert!(matches!(err, ArchiveError::MissingMember { .. }));
}

#[test]
fn good_archive_is_extracted_with_exec_bits() {
    let ents = [
        Ent::Dir("./"),
        Ent::Dir("./sub"),
        Ent::File("./tool", 0o755, b"#!/bin/sh\necho tool\n"),
        Ent::File("./sub/data", 0o644, b"data"),
        Ent::Symlink("./sub/alias", "../tool"),
        Ent::Hardlink("./sub/tool2", "tool"),
    ];
    let c = case(&ents);
    let placed = extract_tar_gz(&c.archive, &c.target, &all()).expect("extract");
    assert_eq!(placed.len(), 4, "{placed:?}");
    let mode = |p: &str| fs::metadata(c.target.join(p)).expect("stat").permissions().mode() & 0o777;
    assert_eq!((mode("tool"), mode("sub/data"), mode("sub/tool2")), (0o755, 0o644, 0o755));
    assert_eq!(fs::read_link(c.target.join("sub/alias")).expect("link"), Path::new("../tool"));
    assert_eq!(fs::read(c.target.join("sub/alias")).expect("read"), b"#!/bin/sh\necho tool\n");
    let parent = c.target.parent().expect("parent");
    assert_eq!(fs::read_dir(parent).expect("parent").count(), 1, "staging removed");
}

#[test]
fn selected_members_replace_a_symlink_without_following_it() {
    let dir = tempfile::tempdir().expect("dir");
    let outside = dir.path().join("outside");
    fs::write(&outside, "keep me").expect("outside");
    let ents = [
        Ent::Dir("cri-dockerd"),
        Ent::File("cri-dockerd/cri-dockerd", 0o755, b"new"),
        Ent::File("LICENSE", 0o644, b"l"),
    ];
    let c = case(&ents);
    std::os::unix::fs::symlink(&outside, c.target.join("cri-dockerd")).expect("symlink");
    let opts = ExtractOptions { members: Members::Only(vec!["cri-dockerd/cri-dockerd".into()]), ..all() };
    let placed = extract_tar_gz(&c.archive, &c.target, &opts).expect("extract");
    assert_eq!(placed, [c.target.join("cri-dockerd")]);
    assert_eq!(fs::read_to_string(&outside).expect("outside"), "keep me");
    let meta = fs::symlink_metadata(c.target.join("cri-dockerd")).expect("stat");
    assert!(meta.is_file() && meta.permissions().mode() & 0o777 == 0o755);
    assert!(!c.target.join("LICENSE").exists());
}

#[test]
fn writing_below_a_preexisting_symlink_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let c = case(&[Ent::Dir("sub"), Ent::File("sub/f", 0o644, b"x")]);
    std::os::unix::fs::symlink(dir.path(), c.target.join("sub")).expect("symlink");
    let err = extract_tar_gz(&c.archive, &c.target, &all()).expect_err("must refuse");
    assert!(matches!(err, ArchiveError::Target { .. }), "{err}");
    assert!(!dir.path().join("f").exists());
}

#[test]
fn top_level_executables_are_the_cni_plugins() {
    let ents = [
        Ent::Dir("./"),
        Ent::File("./bridge", 0o755, b"b"),
        Ent::File("./loopback", 0o755, b"l"),
        Ent::File("./README.md", 0o644, b"r"),
    ];
    let c = case(&ents);
    let opts = ExtractOptions { members: Members::TopLevelExecutables, ..all() };
    let mut placed = extract_tar_gz(&c.archive, &c.target, &opts).expect("extract");
    placed.sort();
    assert_eq!(placed, [c.target.join("bridge"), c.target.join("loopback")]);
}
