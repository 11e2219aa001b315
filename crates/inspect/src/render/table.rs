//! The one text-table formatter behind the memory, diff and ps tables: columns with a title,
//! a minimum width, an alignment and the gap before them.
//!
//! Widths count UTF-16 code units, as JavaScript's `padStart` does, so a table renders the
//! same bytes as the TypeScript it replaced, whatever a scope name holds.

/// How a column aligns its cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    /// Padded on the right.
    Left,
    /// Padded on the left (numbers).
    Right,
}

/// One column.
#[derive(Clone, Debug)]
pub struct Column {
    /// Header text.
    pub title: &'static str,
    /// Minimum width; wider cells are not cut.
    pub width: usize,
    /// Alignment of the title and the cells.
    pub align: Align,
    /// What separates it from the column before (ignored on the first column).
    pub gap: &'static str,
}

impl Column {
    /// A right-aligned column after one space.
    pub const fn right(title: &'static str, width: usize) -> Column {
        Column {
            title,
            width,
            align: Align::Right,
            gap: " ",
        }
    }

    /// A left-aligned column after one space.
    pub const fn left(title: &'static str, width: usize) -> Column {
        Column {
            title,
            width,
            align: Align::Left,
            gap: " ",
        }
    }

    /// The same column after `gap`.
    pub const fn after(mut self, gap: &'static str) -> Column {
        self.gap = gap;
        self
    }
}

/// The length JavaScript gives `text` (UTF-16 code units).
pub fn js_len(text: &str) -> usize {
    text.encode_utf16().count()
}

/// `text` padded to `width` on the side `align` says.
pub fn pad(text: &str, width: usize, align: Align) -> String {
    let fill = " ".repeat(width.saturating_sub(js_len(text)));
    match align {
        Align::Left => format!("{text}{fill}"),
        Align::Right => format!("{fill}{text}"),
    }
}

/// A table: columns, then rows of cells in column order.
#[derive(Clone, Debug)]
pub struct Table {
    columns: Vec<Column>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table of `columns`.
    pub fn new(columns: Vec<Column>) -> Table {
        Table {
            columns,
            rows: Vec::new(),
        }
    }

    /// Adds a row (one cell per column).
    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.columns.len());
        self.rows.push(cells);
    }

    /// Whether no row was added.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Widens every column to its widest title or cell (a table sized to its content).
    pub fn fit(&mut self) {
        for (index, column) in self.columns.iter_mut().enumerate() {
            let widest = self.rows.iter().map(|row| js_len(&row[index])).max();
            column.width = column
                .width
                .max(js_len(column.title))
                .max(widest.unwrap_or(0));
        }
    }

    fn line(&self, cells: &[&str], trim_end: bool) -> String {
        let mut line = String::new();
        for (index, (column, cell)) in self.columns.iter().zip(cells).enumerate() {
            if index > 0 {
                line.push_str(column.gap);
            }
            line.push_str(&pad(cell, column.width, column.align));
        }
        if trim_end {
            line.truncate(line.trim_end().len());
        }
        line
    }

    /// The header line and one line per row, without newlines; `trim_end` drops trailing
    /// spaces of each line.
    pub fn lines(&self, trim_end: bool) -> Vec<String> {
        let titles: Vec<&str> = self.columns.iter().map(|column| column.title).collect();
        let mut lines = vec![self.line(&titles, trim_end)];
        for row in &self.rows {
            let cells: Vec<&str> = row.iter().map(String::as_str).collect();
            lines.push(self.line(&cells, trim_end));
        }
        lines
    }
}

/// `1536` → `1.5 KiB`, as the TypeScript `humanBytes` wrote it: exact bytes below 1 KiB,
/// otherwise one decimal, rounded half up on the exact value (JavaScript's `toFixed`).
pub fn human_bytes(bytes: i64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let magnitude = u128::from(bytes.unsigned_abs());
    let mut unit = 0;
    while unit < UNITS.len() - 1 && magnitude >= 1u128 << (10 * (unit + 1)) {
        unit += 1;
    }
    let sign = if bytes < 0 { "-" } else { "" };
    if unit == 0 {
        return format!("{sign}{magnitude} B");
    }
    let divisor = 1u128 << (10 * unit);
    let tenths = (magnitude * 20 + divisor) / (2 * divisor);
    format!("{sign}{}.{} {}", tenths / 10, tenths % 10, UNITS[unit])
}

/// `value` with `digits` decimals, as JavaScript's `toFixed` writes it: a value exactly
/// halfway rounds away from zero (Rust's formatter would round it to even).
pub fn fixed(value: f64, digits: usize) -> String {
    // A tie is a value whose exact decimal expansion ends in the 5 right after `digits`;
    // 60 digits show any f64 of a sane magnitude exactly that far.
    let exact = format!("{value:.60}");
    let decimals = exact.split_once('.').map_or("", |(_, decimals)| decimals);
    let tie = decimals.as_bytes().get(digits) == Some(&b'5')
        && decimals.bytes().skip(digits + 1).all(|b| b == b'0');
    if tie {
        let step = 0.5 * 10f64.powi(-(digits as i32));
        return format!("{:.*}", digits, value + step.copysign(value));
    }
    format!("{value:.digits$}")
}

/// `+1234`, `-56` or `0`: a growth with its sign.
pub fn signed(value: i64) -> String {
    if value > 0 {
        format!("+{value}")
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_rounds_like_to_fixed() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        // 1.25 KiB: a tie, rounded up as toFixed does (Rust's formatter would give 1.2).
        assert_eq!(human_bytes(1280), "1.3 KiB");
        assert_eq!(human_bytes(1024 * 1024 - 1), "1024.0 KiB");
        assert_eq!(human_bytes(-3 * 1024 * 1024), "-3.0 MiB");
        assert_eq!(human_bytes(5 << 50), "5120.0 TiB");
    }

    #[test]
    fn fixed_rounds_halves_up_like_to_fixed() {
        assert_eq!(fixed(0.25, 1), "0.3");
        assert_eq!(fixed(1.04, 1), "1.0");
        assert_eq!(fixed(2.0, 3), "2.000");
        assert_eq!(fixed(-0.25, 1), "-0.3");
        // 0.35 is a little below 0.35: no tie, although 0.35 * 10 rounds to 3.5.
        assert_eq!(fixed(0.35, 1), "0.3");
    }

    #[test]
    fn widths_count_utf16_units() {
        assert_eq!(pad("é", 3, Align::Right), "  é");
        assert_eq!(pad("😀", 3, Align::Left), "😀 ");
    }

    #[test]
    fn fitted_tables_size_columns_to_content() {
        let mut table = Table::new(vec![
            Column::left("a", 0),
            Column::right("bb", 0).after("  "),
        ]);
        table.row(vec!["long".into(), "1".into()]);
        table.fit();
        assert_eq!(table.lines(true), ["a     bb", "long   1"]);
    }
}
