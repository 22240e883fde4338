//! The colours of `longconn run`'s output: verdict words and snapshot diff lines wrapped in ANSI
//! SGR sequences (ECMA-48 §8.3.117) on a terminal. `--color auto|always|never`; `auto` colours
//! only when standard output is a terminal and `NO_COLOR` is unset or empty (no-color.org).

use std::io::IsTerminal;

/// `--color`: when `longconn run` colours its output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set to a non-empty value.
    #[default]
    Auto,
    /// Always, even into a pipe or a file, and whatever `NO_COLOR` says (no-color.org: a
    /// command-line option overrides it).
    Always,
    /// Never.
    Never,
}

impl ColorChoice {
    /// The palette for this run: `auto` asks whether stdout is a terminal and reads `NO_COLOR`.
    pub fn palette(self) -> Palette {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
        Palette::new(self, std::io::stdout().is_terminal(), no_color)
    }
}

/// Whether text gets colour, decided once per run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Palette {
    on: bool,
}

/// A colour of the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paint {
    /// Passed, accepted, an inserted diff line: green (SGR 32).
    Good,
    /// Failed, unreadable, a deleted diff line: red (SGR 31).
    Bad,
    /// New, skipped: yellow (SGR 33).
    Note,
    /// A diff hunk header: cyan (SGR 36).
    Hunk,
}

impl Palette {
    /// `choice` given whether stdout is a terminal and whether `NO_COLOR` is set (non-empty).
    pub fn new(choice: ColorChoice, terminal: bool, no_color: bool) -> Palette {
        let on = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => terminal && !no_color,
        };
        Palette { on }
    }

    /// `text` in `paint`, or as it is when colour is off.
    pub fn paint(self, paint: Paint, text: &str) -> String {
        if !self.on {
            return text.to_string();
        }
        let code = match paint {
            Paint::Good => "32",
            Paint::Bad => "31",
            Paint::Note => "33",
            Paint::Hunk => "36",
        };
        // ECMA-48 §8.3.117: CSI n m selects the rendition; CSI 0 m resets it.
        format!("\x1b[{code}m{text}\x1b[0m")
    }

    /// One line of a unified diff, coloured by its first character.
    pub fn diff_line(self, line: &str) -> String {
        match line.as_bytes().first() {
            Some(b'+') => self.paint(Paint::Good, line),
            Some(b'-') => self.paint(Paint::Bad, line),
            Some(b'@') => self.paint(Paint::Hunk, line),
            _ => line.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_colours_a_terminal_without_no_color_only() {
        assert!(Palette::new(ColorChoice::Auto, true, false).on);
        assert!(!Palette::new(ColorChoice::Auto, true, true).on);
        assert!(!Palette::new(ColorChoice::Auto, false, false).on);
        assert!(Palette::new(ColorChoice::Always, false, true).on);
        assert!(!Palette::new(ColorChoice::Never, true, false).on);
    }

    #[test]
    fn diff_lines_are_wrapped_in_sgr_sequences() {
        let on = Palette::new(ColorChoice::Always, false, false);
        assert_eq!(
            on.diff_line("+< {\"id\":2}"),
            "\x1b[32m+< {\"id\":2}\x1b[0m"
        );
        assert_eq!(on.diff_line("-< x"), "\x1b[31m-< x\x1b[0m");
        assert_eq!(
            on.diff_line("@@ -1,2 +1,2 @@"),
            "\x1b[36m@@ -1,2 +1,2 @@\x1b[0m"
        );
        assert_eq!(on.diff_line(" * same"), " * same");
        assert_eq!(on.paint(Paint::Note, "new"), "\x1b[33mnew\x1b[0m");
        let off = Palette::new(ColorChoice::Never, true, false);
        assert_eq!(off.diff_line("+< x"), "+< x");
        assert_eq!(off.paint(Paint::Bad, "FAILED"), "FAILED");
    }
}
