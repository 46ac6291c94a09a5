//! JSON-lines progress events (`--events FILE|-`), schema minikube-none-bootstrap/event/v1.

use serde::Serialize;
use serde_json::{Value, json};
use std::io::Write;
use std::sync::Mutex;

pub const EVENT_SCHEMA: &str = "minikube-none-bootstrap/event/v1";

/// Where events go; a no-op sink when `--events` was not given.
pub struct Events {
    out: Option<Mutex<Box<dyn Write + Send>>>,
    to_stdout: bool,
}

impl Events {
    pub fn none() -> Self {
        Events { out: None, to_stdout: false }
    }

    /// `-` is stdout; anything else a file, appended to (several runs can share one log).
    pub fn open(target: Option<&str>) -> anyhow::Result<Self> {
        use anyhow::Context;
        let out: Option<Box<dyn Write + Send>> = match target {
            None => None,
            Some("-") => Some(Box::new(std::io::stdout())),
            Some(path) => Some(Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("opening events file {path}"))?,
            )),
        };
        Ok(Events { out: out.map(Mutex::new), to_stdout: target == Some("-") })
    }

    /// Whether events share stdout with the result (`--events -`).
    pub fn on_stdout(&self) -> bool {
        self.to_stdout
    }

    /// Emits one event: `{"schema", "time", "type", ...fields}` on one line.
    pub fn emit(&self, kind: &str, fields: impl Serialize) {
        let Some(out) = &self.out else { return };
        let mut ev = json!({ "schema": EVENT_SCHEMA, "time": now(), "type": kind });
        if let (Some(obj), Ok(Value::Object(extra))) = (ev.as_object_mut(), serde_json::to_value(fields)) {
            obj.extend(extra);
        }
        if let Ok(mut w) = out.lock() {
            // An unwritable events sink must not fail the run: the result file is the record.
            let _ = writeln!(w, "{ev}").and_then(|_| w.flush());
        }
    }
}

pub fn now() -> String {
    jiff::Timestamp::now().to_string()
}
