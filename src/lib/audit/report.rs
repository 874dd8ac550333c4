//! What modaudit's report is made of beyond the audit itself: the `--deny` rules, the summary
//! line, and the list of verdicts and findings with their meanings.

use crate::audit::{Audit, FindingId, Verdict};

/// Something `--deny` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// A verdict.
    Verdict(Verdict),
    /// A finding.
    Finding(FindingId),
}

impl Rule {
    /// Whether `audit` matches this rule.
    pub fn matches(self, audit: &Audit) -> bool {
        match self {
            Rule::Verdict(Verdict::Permanent) => {
                matches!(audit.verdict, Verdict::Permanent | Verdict::ForceOnly)
            }
            Rule::Verdict(v) => audit.verdict == v,
            Rule::Finding(f) => audit.has(f),
        }
    }

    /// The name `--deny` knows it by.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Verdict(v) => v.as_str(),
            Rule::Finding(f) => f.as_str(),
        }
    }

    /// Parses a `--deny` word: a verdict or a finding id.
    pub fn parse(s: &str) -> Result<Rule, String> {
        if let Ok(v) = s.parse() {
            return Ok(Rule::Verdict(v));
        }
        if let Ok(f) = s.parse() {
            return Ok(Rule::Finding(f));
        }
        let known: Vec<&str> = Verdict::ALL
            .iter()
            .map(|v| v.as_str())
            .chain(FindingId::ALL.iter().map(|f| f.as_str()))
            .collect();
        Err(format!(
            "unknown verdict or finding '{s}' (known: {})",
            known.join(", ")
        ))
    }
}

/// The summary line's counts: one per verdict, in [`Verdict::ALL`]'s order, and the errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Modules per verdict.
    pub counts: [usize; Verdict::ALL.len()],
    /// Arguments that could not be audited.
    pub errors: usize,
}

impl std::fmt::Display for Tally {
    /// "4022 modules: 4017 removable, 5 permanent, 0 force-only, 0 kernel-cannot-unload", then
    /// "; N errors" when there were any, and a newline.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let audited: usize = self.counts.iter().sum();
        let parts: Vec<String> = Verdict::ALL
            .iter()
            .zip(self.counts)
            .map(|(v, n)| format!("{n} {v}"))
            .collect();
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        write!(
            f,
            "{audited} module{}: {}",
            plural(audited),
            parts.join(", ")
        )?;
        if self.errors > 0 {
            write!(f, "; {} error{}", self.errors, plural(self.errors))?;
        }
        writeln!(f)
    }
}

/// Every verdict and finding with its meaning, as `modaudit --help` lists them.
pub fn describe_all() -> String {
    // Meanings go on their own indented line: clap wraps long lines and keeps their indent.
    let mut s = String::from("Verdicts:\n");
    for v in Verdict::ALL {
        s.push_str(&format!("  {}\n          {}\n", v.as_str(), v.meaning()));
    }
    s.push_str("\nFindings (JSON gives the evidence for each):\n");
    for f in FindingId::ALL {
        s.push_str(&format!("  {}\n          {}\n", f.as_str(), f.meaning()));
    }
    s
}

/// One JSON Lines object.
#[derive(serde::Serialize)]
pub struct JsonLine<'a> {
    /// The file.
    pub filename: String,
    /// Its audit.
    #[serde(flatten)]
    pub audit: &'a Audit,
}

/// The JSON Lines object of an argument that failed.
#[derive(serde::Serialize)]
pub struct JsonError<'a> {
    /// The file or argument.
    pub filename: &'a str,
    /// Why it failed.
    pub error: &'a str,
}

/// A table row: module, verdict, init, exit, findings.
pub fn table_row(label: String, audit: &Audit) -> [String; 5] {
    let hook = |h: &Option<crate::audit::Hook>| match h {
        Some(h) => h.section.clone().unwrap_or_else(|| "yes".to_string()),
        None => "-".to_string(),
    };
    let findings = if audit.findings.is_empty() {
        "-".to_string()
    } else {
        audit
            .findings
            .iter()
            .map(|f| f.id.as_str())
            .collect::<Vec<_>>()
            .join(",")
    };
    [
        label,
        audit.verdict.to_string(),
        hook(&audit.init),
        hook(&audit.exit),
        findings,
    ]
}

/// The table's header.
const HEADER: [&str; 5] = ["MODULE", "VERDICT", "INIT", "EXIT", "FINDINGS"];

/// Appends the table of `rows` under the header to `out`: columns two blanks apart, no trailing
/// blanks. Printable ASCII, the usual case, is laid out here in one pass; anything else (wide
/// characters, line breaks in a file name) goes through `tabled`.
pub fn write_table(rows: &[[String; 5]], out: &mut Vec<u8>) {
    let plain = |c: &String| c.bytes().all(|b| (b' '..=b'~').contains(&b));
    if !rows.iter().all(|r| r.iter().all(plain)) {
        let mut b = tabled::builder::Builder::new();
        b.push_record(HEADER);
        for r in rows {
            b.push_record(r.clone());
        }
        let mut table = b.build();
        table
            .with(tabled::settings::Style::empty())
            .with(tabled::settings::Padding::new(0, 2, 0, 0));
        // tabled pads every line to the table's width; trailing blanks only get in the way of
        // grep and diff.
        for line in table.to_string().lines() {
            out.extend_from_slice(line.trim_end().as_bytes());
            out.push(b'\n');
        }
        return;
    }
    let mut widths = HEADER.map(str::len);
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let mut line = |cells: [&str; 5]| {
        let start = out.len();
        for (c, w) in cells.iter().zip(widths) {
            out.extend_from_slice(c.as_bytes());
            out.resize(out.len() + w + 2 - c.len(), b' ');
        }
        let end = out[start..]
            .iter()
            .rposition(|&b| b != b' ')
            .map_or(start, |k| start + k + 1);
        out.truncate(end);
        out.push(b'\n');
    };
    line(HEADER);
    for r in rows {
        line([&r[0], &r[1], &r[2], &r[3], &r[4]]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_accepts_verdicts_and_findings_only() {
        assert_eq!(
            Rule::parse("permanent"),
            Ok(Rule::Verdict(Verdict::Permanent))
        );
        assert_eq!(
            Rule::parse("owner-this-module"),
            Ok(Rule::Finding(FindingId::OwnerThisModule))
        );
        let err = Rule::parse("nope").unwrap_err();
        assert!(err.contains("force-only") && err.contains("symbol-get-without-put"));
    }

    #[test]
    fn the_summary_counts_verdicts_and_errors() {
        let t = Tally {
            counts: [1, 2, 0, 0],
            errors: 1,
        };
        assert_eq!(
            t.to_string(),
            "3 modules: 1 removable, 2 permanent, 0 force-only, 0 kernel-cannot-unload; 1 error\n"
        );
    }
}
