//! minikube-none-bootstrap: converge a VM into a single-node Kubernetes host with minikube's
//! none driver. `main.rs` only parses, calls [`app::main`] and exits with its code.

pub mod app;
pub mod cli;
pub mod config;
pub mod converge;
pub mod events;
pub mod failure;
pub mod host;
pub mod manifest;
pub mod phases;
pub mod report;
pub mod reset;
pub mod result;
pub mod run;
pub mod state;
