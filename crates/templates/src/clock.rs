//! The clock behind the `strftime_now(format)` template global.
//!
//! transformers defines `strftime_now(format) = datetime.now().strftime(format)` (local time). A
//! [`Clock::Fixed`] time makes renders reproducible (tests, cached prompts). Formatting uses
//! chrono's strftime, which accepts the glibc specifiers Python forwards to (`%Y %m %d %b %B %H %M
//! %S %A %a %p %j %-d ...`); an unknown specifier is an error, never garbled text.

use chrono::format::{Item, StrftimeItems};
use chrono::NaiveDateTime;

/// Where `strftime_now` reads the current time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Clock {
    /// The machine's local time at render (what transformers does).
    #[default]
    System,
    /// Always this local date and time.
    Fixed(NaiveDateTime),
}

impl Clock {
    /// The time this clock reads now.
    pub fn now(&self) -> NaiveDateTime {
        match self {
            Clock::System => chrono::Local::now().naive_local(),
            Clock::Fixed(t) => *t,
        }
    }
}

/// Python `datetime.strftime(format)` for a naive local time.
pub(crate) fn strftime(t: NaiveDateTime, format: &str) -> Result<String, String> {
    let items: Vec<Item<'_>> = StrftimeItems::new(format).collect();
    if items.iter().any(|i| matches!(i, Item::Error)) {
        return Err(format!(
            "strftime format {format:?} has a specifier this crate does not support"
        ));
    }
    let mut out = String::new();
    use std::fmt::Write;
    write!(out, "{}", t.format_with_items(items.into_iter())).map_err(|_| {
        format!("strftime format {format:?} cannot be applied to a naive local time")
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_python() {
        let t = chrono::NaiveDate::from_ymd_opt(2026, 1, 5)
            .and_then(|d| d.and_hms_opt(9, 3, 7))
            .unwrap();
        assert_eq!(strftime(t, "%Y-%m-%d").unwrap(), "2026-01-05");
        assert_eq!(strftime(t, "%d %b %Y").unwrap(), "05 Jan 2026");
        assert_eq!(
            strftime(t, "%-d %B %Y, %A %H:%M:%S %p").unwrap(),
            "5 January 2026, Monday 09:03:07 AM"
        );
        assert!(strftime(t, "%Q").is_err());
    }
}
