//! The one command helper: logs at debug, stdin null (or given bytes), captures output, bounds
//! the run time, puts the stderr tail into the error.

use anyhow::{Context, Result, bail};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The bound on any command the tool runs (a package install on a slow mirror included).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(1800);

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

    /// Its stdout when it succeeded; else an error with its exit status and stderr tail.
    pub fn stdout_if_ok(self, program: &Path, args: &[&str]) -> Result<String> {
        if !self.success() {
            bail!(
                "{} {} exited with {}: {}",
                program.display(),
                args.join(" "),
                self.status.map_or("a signal".to_string(), |c| c.to_string()),
                tail(&self.stderr)
            );
        }
        Ok(self.stdout)
    }
}

/// Runs `program args…` and returns its output; an error only if it could not be started
/// or ran past [`COMMAND_TIMEOUT`].
pub fn run_status(program: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<Finished> {
    let mut c = Command::new(program);
    c.args(args).envs(env.iter().copied());
    run_bounded(c, None, COMMAND_TIMEOUT)
}

/// Runs a command that must succeed; the error carries its exit status and stderr tail.
pub fn run(program: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<String> {
    run_status(program, args, env)?.stdout_if_ok(program, args)
}

/// Runs a prepared command with stdin `input` (or null), killing it after `timeout`.
pub fn run_bounded(mut c: Command, input: Option<&[u8]>, timeout: Duration) -> Result<Finished> {
    let what = format!("{:?}", c.get_program());
    tracing::debug!(program = %what, args = ?c.get_args().collect::<Vec<_>>(), "running (bounded)");
    c.stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() }).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().with_context(|| format!("starting {what}"))?;
    if let (Some(bytes), Some(mut stdin)) = (input, child.stdin.take()) {
        let bytes = bytes.to_vec();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&bytes); // a child that exits early closes the pipe: its status tells
        });
    }
    let pipe = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut r) = r {
                let mut buf = Vec::new();
                let _ = r.read_to_end(&mut buf);
                s = String::from_utf8_lossy(&buf).into_owned();
            }
            s
        })
    };
    let out = pipe(child.stdout.take().map(|o| Box::new(o) as Box<dyn Read + Send>));
    let err = pipe(child.stderr.take().map(|e| Box::new(e) as Box<dyn Read + Send>));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{what} did not finish within {}s: killed", timeout.as_secs());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(Finished {
        status: status.code(),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

/// [`run_bounded`] of `program args…` that must succeed; the error carries the stderr tail.
pub fn run_ok(program: &Path, args: &[&str], input: Option<&[u8]>, timeout: Duration) -> Result<String> {
    let mut c = Command::new(program);
    c.args(args);
    run_bounded(c, input, timeout)?.stdout_if_ok(program, args)
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

    #[test]
    fn bounded_commands_are_killed_on_time() {
        let mut c = Command::new("/bin/sh");
        c.args(["-c", "sleep 5"]);
        let t = Instant::now();
        let e = run_bounded(c, None, Duration::from_millis(200)).expect_err("must time out");
        assert!(format!("{e:#}").contains("killed"), "{e:#}");
        assert!(t.elapsed() < Duration::from_secs(3));
        let out = run_ok(Path::new("/bin/cat"), &[], Some(b"in\n"), Duration::from_secs(30)).expect("cat");
        assert_eq!(out, "in\n");
    }
}
