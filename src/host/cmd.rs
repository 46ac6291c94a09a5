//! The one command helper: logs at debug, stdin null, captures output, puts the stderr tail
//! into the error.

use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::{Command, Output, Stdio};

const STDERR_TAIL: usize = 1024;

/// Output of a finished command, whatever its exit status.
#[derive(Debug)]
pub struct Finished {
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }
}

/// Runs `program args…` and returns its output; an error only if it could not be started.
pub fn run_status(program: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<Finished> {
    tracing::debug!(program = %program.display(), ?args, "running");
    let out: Output = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("starting {}", program.display()))?;
    Ok(Finished {
        status: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Runs a command that must succeed; the error carries its exit status and stderr tail.
pub fn run(program: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<String> {
    let f = run_status(program, args, env)?;
    if !f.success() {
        bail!(
            "{} {} exited with {}: {}",
            program.display(),
            args.join(" "),
            f.status.map_or("a signal".to_string(), |c| c.to_string()),
            tail(&f.stderr)
        );
    }
    Ok(f.stdout)
}

/// The last KiB of a command's stderr, on a char boundary.
pub fn tail(s: &str) -> &str {
    let s = s.trim_end();
    if s.len() <= STDERR_TAIL {
        return s;
    }
    let mut start = s.len() - STDERR_TAIL;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_command_reports_status_and_stderr() {
        let err = run(Path::new("/bin/sh"), &["-c", "echo boom >&2; exit 3"], &[]).expect_err("must fail");
        let msg = format!("{err:#}");
        assert!(msg.contains("exited with 3"), "{msg}");
        assert!(msg.contains("boom"), "{msg}");
    }

    #[test]
    fn tail_keeps_the_end() {
        let long = "x".repeat(3000) + "END";
        assert!(tail(&long).ends_with("END"));
        assert_eq!(tail(&long).len(), STDERR_TAIL);
    }
}
