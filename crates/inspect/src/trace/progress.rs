//! What a slow report says on a terminal while it symbolizes: one line on stderr, updated in
//! place (`skull-trace: symbolizing 41,233 addresses in 12 objects... 63%`) and cleared at the
//! end. Only when asked (the CLI asks, the API never does), only when stderr is a terminal,
//! and only once a second has passed: a fast report prints nothing.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How long a report runs before it says anything.
const QUIET: Duration = Duration::from_secs(1);
/// How often the line is redrawn.
const REDRAW: Duration = Duration::from_millis(100);

/// The progress line of one stage of a report.
pub struct Progress {
    /// Whether anything may be printed: asked for and stderr is a terminal.
    shown: bool,
    start: Instant,
    last_drawn: Option<Instant>,
    what: String,
    total: usize,
}

impl Progress {
    /// A stage of `total` steps described by `what`; printed only if `asked` and stderr is a
    /// terminal.
    pub fn new(asked: bool, what: String, total: usize) -> Progress {
        Progress {
            shown: asked && std::io::stderr().is_terminal(),
            start: Instant::now(),
            last_drawn: None,
            what,
            total,
        }
    }

    /// `done` of the steps are done: redraws the line if it is time to.
    pub fn update(&mut self, done: usize) {
        if !self.shown {
            return;
        }
        let now = Instant::now();
        let due = match self.last_drawn {
            None => now.duration_since(self.start) >= QUIET,
            Some(last) => now.duration_since(last) >= REDRAW,
        };
        if !due {
            return;
        }
        self.last_drawn = Some(now);
        let percent = done * 100 / self.total.max(1);
        // A failed write to a terminal is not worth failing the report for.
        let _ = write!(std::io::stderr(), "\r\x1b[K{}... {percent}%", self.what);
    }
}

impl Drop for Progress {
    /// Clears the line, if one was drawn.
    fn drop(&mut self) {
        if self.last_drawn.is_some() {
            let _ = write!(std::io::stderr(), "\r\x1b[K");
        }
    }
}

/// `n` with thousands separated by commas, as the progress line prints counts.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(41_233), "41,233");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }
}
