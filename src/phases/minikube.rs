//! minikube: the binary at the configured version, verified, where sudo's PATH finds it.

use super::{Action, Ctx, Phase};
use crate::host::artifact_urls::ArtifactSpec;
use crate::host::artifacts::{ArtifactInstall, Installed, Place};
use crate::host::facts::{bin_dir, go_arch};
use anyhow::Result;

pub struct MinikubePhase;

impl Phase for MinikubePhase {
    fn name(&self) -> &'static str {
        "minikube"
    }

    fn check(&self, ctx: &Ctx) -> Result<Vec<Action>> {
        let pin = &ctx.settings.minikube;
        let path = format!("{}/minikube", bin_dir(ctx.host));
        let version = pin.version.to_string();
        if Installed::load(&ctx.state.dir).intact(ctx.host, "minikube", &version, std::slice::from_ref(&path)) {
            return Ok(Vec::new());
        }
        let spec =
            ArtifactSpec::minikube(&version, go_arch())?.with_sha256(pin.sha256.as_ref().map(|d| d.0.as_str()))?;
        Ok(vec![Action::InstallArtifacts(vec![ArtifactInstall { spec, place: Place::Binary { path } }])])
    }
}
