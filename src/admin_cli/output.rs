//! What the admin commands print: aligned tables and `field: value` lists for people, or the
//! API's JSON unchanged (`--output json`), money always as the API's decimal strings.

use serde_json::Value;
use unicode_width::UnicodeWidthStr;

/// `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Output {
    /// Aligned columns and `field: value` lists, for people.
    #[default]
    Table,
    /// The API's JSON answer, unchanged (money stays decimal strings).
    Json,
}

/// Writes to standard output; when its reader has gone (`| head`), the process ends quietly.
pub fn out(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("tollgate: writing to standard output: {e}");
        std::process::exit(1);
    }
}

/// `println!` through [`out`].
macro_rules! outln {
    () => {
        $crate::admin_cli::output::out("\n")
    };
    ($($arg:tt)*) => {
        $crate::admin_cli::output::out(&format!("{}\n", format_args!($($arg)*)))
    };
}
pub(crate) use outln;

/// Prints an answer's JSON text as the server sent it.
pub fn print_json_text(text: &str) {
    outln!("{}", text.trim_end());
}

/// Prints a JSON value the command put together from the API's values (compact, as the API
/// writes its own answers).
pub fn print_json(value: &Value) {
    outln!("{value}");
}

/// A value as a table cell: strings as they are (money and times exactly as the API wrote
/// them), `-` for null or absent, lists joined with `,`, objects as compact JSON.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) if s.is_empty() => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(items) if items.is_empty() => "-".into(),
        Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
            items.iter().map(cell).collect::<Vec<_>>().join(",")
        }
        Value::Object(o) if o.is_empty() => "-".into(),
        other => other.to_string(),
    }
}

/// A table with a header row; columns are aligned by display width, two spaces apart.
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Self {
        Table {
            headers: headers.iter().map(|h| h.to_uppercase()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn render(&self) -> String {
        let columns = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.width()).collect();
        for row in &self.rows {
            for (i, c) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(one_line(c).width());
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            let mut line = String::new();
            for (i, width) in widths.iter().enumerate() {
                let text = one_line(row.get(i).map_or("", String::as_str));
                line.push_str(&text);
                if i + 1 < columns {
                    line.push_str(&" ".repeat(width - text.width() + 2));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// Prints the table, or `empty` when it has no row.
    pub fn print(&self, empty: &str) {
        if self.is_empty() {
            outln!("{empty}");
        } else {
            out(&self.render());
        }
    }
}

/// A cell on one line: line breaks and tabs become spaces.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// `field: value` lines, the values aligned.
#[derive(Default)]
pub struct Fields {
    rows: Vec<(String, String)>,
}

impl Fields {
    pub fn new() -> Self {
        Self::default()
    }

    /// A field with the cell of a JSON value.
    pub fn add(&mut self, name: &str, value: &Value) -> &mut Self {
        self.text(name, cell(value))
    }

    pub fn text(&mut self, name: &str, value: impl Into<String>) -> &mut Self {
        self.rows.push((name.to_string(), value.into()));
        self
    }

    pub fn render(&self) -> String {
        let width = self.rows.iter().map(|(n, _)| n.width()).max().unwrap_or(0);
        self.rows
            .iter()
            .map(|(n, v)| format!("{n}:{}{}\n", " ".repeat(width - n.width() + 1), one_line(v)))
            .collect()
    }

    pub fn print(&self) {
        out(&self.render());
    }
}

/// A budget specification (`limit_usd`, `period`, `mode`) in a few words: `10.00 USD monthly
/// hard`; `-` when there is none.
pub fn budget_spec(b: &Value) -> String {
    if b.is_null() {
        return "-".into();
    }
    format!(
        "{} USD {} {}",
        cell(&b["limit_usd"]),
        cell(&b["period"]),
        cell(&b["mode"])
    )
}

/// Rate limits in a few words: `60 rpm, 100000 tpm, 4 parallel`; `-` when there are none.
pub fn rate_limits(r: &Value) -> String {
    let parts: Vec<String> = [
        ("requests_per_minute", "rpm"),
        ("tokens_per_minute", "tpm"),
        ("max_parallel", "parallel"),
    ]
    .iter()
    .filter(|(field, _)| !r[*field].is_null())
    .map(|(field, unit)| format!("{} {unit}", r[*field]))
    .collect();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn tables_align_by_display_width() {
        let mut t = Table::new(&["id", "name", "cost_usd"]);
        t.row(vec!["k1".into(), "日本".into(), "0.000620".into()]);
        t.row(vec!["key-2".into(), "a\nb".into(), "12.5".into()]);
        assert_eq!(
            t.render(),
            "ID     NAME  COST_USD\nk1     日本  0.000620\nkey-2  a b   12.5\n"
        );
    }

    #[test]
    fn cells_keep_the_apis_text() {
        assert_eq!(cell(&json!("0.000000000001")), "0.000000000001");
        assert_eq!(cell(&json!(null)), "-");
        assert_eq!(cell(&json!(["a", "b"])), "a,b");
        assert_eq!(cell(&json!({"a": 1})), r#"{"a":1}"#);
        assert_eq!(cell(&json!(false)), "false");
        assert_eq!(
            budget_spec(&json!({"limit_usd": "10.00", "period": "monthly", "mode": "hard"})),
            "10.00 USD monthly hard"
        );
        assert_eq!(
            rate_limits(&json!({"requests_per_minute": 60, "tokens_per_minute": null})),
            "60 rpm"
        );
        let mut f = Fields::new();
        f.text("id", "k").add("balance_usd", &json!("1.50"));
        assert_eq!(f.render(), "id:          k\nbalance_usd: 1.50\n");
    }
}
