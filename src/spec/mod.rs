//! The spec format: one YAML file per scenario, parsed into [`Spec`] with positioned errors
//! (`path:line:col: message`, the source line and a caret). Knows YAML, nothing of sockets.

mod error;
mod escape;
mod locate;
mod model;
mod parse;
mod raw;
pub mod schema;
#[cfg(test)]
mod tests;

pub use error::{Diagnostic, SpecError};
pub use model::*;

use std::path::Path;
use std::time::Duration;

/// Reads and parses the spec at `path`; errors name the path as given.
pub fn load(path: &Path) -> Result<Spec, SpecError> {
    let label = path.display().to_string();
    let source = std::fs::read_to_string(path).map_err(|source| SpecError::Io {
        path: label.clone(),
        source,
    })?;
    parse(&label, &source)
}

/// Parses spec text; `path_label` is the path errors and [`Spec::path`] show.
pub fn parse(path_label: &str, source: &str) -> Result<Spec, SpecError> {
    parse::parse(path_label, source)
}

/// Parses a duration as written in specs and on the command line: `250ms`, `1s`, `2m`, `1.5s`, `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map(|at| text.split_at(at))
        .ok_or_else(|| format!("duration '{text}' needs a unit (ms, s, m, h)"))?;
    let value: f64 = number
        .parse()
        .map_err(|_| format!("duration '{text}' does not start with a number"))?;
    let millis = match unit {
        "ms" => value,
        "s" => value * 1000.0,
        "m" => value * 60_000.0,
        "h" => value * 3_600_000.0,
        _ => {
            return Err(format!(
                "duration '{text}': unknown unit '{unit}' (ms, s, m, h)"
            ))
        }
    };
    if !millis.is_finite() || !(0.0..=1e12).contains(&millis) {
        return Err(format!("duration '{text}' is out of range"));
    }
    Ok(Duration::from_micros((millis * 1000.0).round() as u64))
}

#[cfg(test)]
mod duration_tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations_read_with_their_units() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("5").is_err());
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("5d").is_err());
        assert!(parse_duration("s").is_err());
    }
}
