//! access: the configured user (default: SUDO_USER, else the single uid >= 1000 user) gets a
//! self-contained ~/.kube/config with the `minikube` context, owned by them, mode 0600.

use super::{Action, Ctx, Phase};
use crate::failure::Failure;
use crate::host::kubeconfig::{self, ROOT_KUBECONFIG};
use anyhow::Result;

pub struct AccessPhase;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

fn passwd(ctx: &Ctx) -> Vec<User> {
    let text = ctx.host.read("/etc/passwd").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 7).then(|| User {
                name: f[0].into(),
                uid: f[2].parse().unwrap_or(0),
                gid: f[3].parse().unwrap_or(0),
                home: f[5].into(),
            })
        })
        .collect()
}

/// Who gets a kubeconfig: `user`, else SUDO_USER, else the only login user; `None` is fine.
pub fn target_user(ctx: &Ctx) -> Result<Option<User>> {
    let users = passwd(ctx);
    if let Some(name) = &ctx.settings.user {
        return users.into_iter().find(|u| u.name == name.0).map(Some).ok_or_else(|| {
            Failure::new(
                "access-unknown-user",
                format!("user '{name}' (config key `user`) does not exist"),
                "create the user first (cloud-init `users:`), or fix the `user` key",
            )
            .into()
        });
    }
    if let Some(sudo_user) = std::env::var("SUDO_USER").ok().filter(|u| u != "root") {
        if let Some(u) = users.iter().find(|u| u.name == sudo_user) {
            return Ok(Some(u.clone()));
        }
    }
    let humans: Vec<User> = users.into_iter().filter(|u| (1000..60000).contains(&u.uid)).collect();
    Ok(if humans.len() == 1 { humans.into_iter().next() } else { None })
}

impl Phase for AccessPhase {
    fn name(&self) -> &'static str {
        "access"
    }

    fn check(&self, ctx: &Ctx) -> Result<Vec<Action>> {
        let Some(user) = target_user(ctx)? else {
            tracing::info!("no user to give a kubeconfig to (set `user`); root's is {ROOT_KUBECONFIG}");
            return Ok(Vec::new());
        };
        let dir = format!("{}/.kube", user.home.trim_end_matches('/'));
        let path = format!("{dir}/config");
        let owner = Some((user.uid, user.gid));
        // Before the cluster exists (plan on a fresh host) the content is not known yet.
        let content = if ctx.host.path(ROOT_KUBECONFIG).exists() {
            kubeconfig::to_yaml(&kubeconfig::flatten(ctx.host, kubeconfig::read(ctx.host, ROOT_KUBECONFIG)?)?)?
                .into_bytes()
        } else {
            Vec::new()
        };
        let mut actions = Vec::new();
        if !owned(ctx, &dir, 0o700, user.uid) {
            actions.push(Action::EnsureDir { path: dir.clone(), mode: 0o700, owner });
        }
        let same = std::fs::read(ctx.host.path(&path)).is_ok_and(|c| c == content);
        if !same || !owned(ctx, &path, 0o600, user.uid) {
            actions.push(Action::WriteFile { path, content, mode: 0o600, owner });
        }
        Ok(actions)
    }
}

fn owned(ctx: &Ctx, path: &str, mode: u32, uid: u32) -> bool {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    std::fs::metadata(ctx.host.path(path)).is_ok_and(|m| m.permissions().mode() & 0o777 == mode && m.uid() == uid)
}
