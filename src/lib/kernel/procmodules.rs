//! `/proc/modules`, in the format of the kernel's `m_show()` (kernel/module/procfs.c):
//!
//! ```text
//! NAME SIZE REFCNT DEPS STATE ADDR [TAINT]
//! DEPS := "-" | (ITEM ",")+       ITEM := user module | "[permanent]" | "[unsafe]"
//! ```
//! REFCNT is `-` on kernels without CONFIG_MODULE_UNLOAD and may read -1 while a module is
//! unloading; the most recently loaded module comes first.

/// A module's state as `/proc/modules` words it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// `Live`.
    Live,
    /// `Loading`: its init function is running.
    Loading,
    /// `Unloading`: being removed, or its init failed.
    Unloading,
}

impl State {
    /// Parses `/proc/modules`' state word or sysfs `initstate` (`live`, `coming`, `going`).
    pub fn parse(s: &str) -> Option<State> {
        match s.trim_end() {
            "Live" | "live" => Some(State::Live),
            "Loading" | "coming" => Some(State::Loading),
            "Unloading" | "going" => Some(State::Unloading),
            _ => None,
        }
    }
}

/// One line of `/proc/modules`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcModule {
    /// Module name.
    pub name: String,
    /// Total memory, all sections (differs from sysfs `coresize`).
    pub size: u64,
    /// Reference count; `None` when the kernel cannot unload modules (`-`).
    pub refcnt: Option<i64>,
    /// Modules using this one, newest first.
    pub users: Vec<String>,
    /// Init without exit: cannot be removed without force.
    pub is_permanent: bool,
    /// The historical `[unsafe]` mark (2.5/early 2.6 kernels).
    pub is_unsafe: bool,
    /// Live, loading or unloading.
    pub state: Option<State>,
    /// Per-module taint letters, without parentheses (`OE`), if any.
    pub taint: Option<String>,
}

/// Parses one line. `None` when even the name is missing.
pub fn parse_line(line: &str) -> Option<ProcModule> {
    let mut f = line.split([' ', '\t']).filter(|s| !s.is_empty());
    let name = f.next()?.to_string();
    let size = f.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let refcnt = f.next().and_then(|s| s.parse().ok());
    let mut m = ProcModule {
        name,
        size,
        refcnt,
        users: Vec::new(),
        is_permanent: false,
        is_unsafe: false,
        state: None,
        taint: None,
    };
    if let Some(deps) = f.next()
        && deps != "-"
    {
        for item in deps.split(',').filter(|s| !s.is_empty()) {
            match item {
                "[permanent]" => m.is_permanent = true,
                "[unsafe]" => m.is_unsafe = true,
                user => m.users.push(user.to_string()),
            }
        }
    }
    m.state = f.next().and_then(State::parse);
    let _address = f.next();
    m.taint = f
        .next()
        .map(|t| t.trim_start_matches('(').trim_end_matches(')'))
        .map(|t| t.trim_end_matches(['+', '-']).to_string());
    Some(m)
}

/// Parses the whole file; lines without a name are skipped.
pub fn parse(text: &str) -> Vec<ProcModule> {
    text.lines().filter_map(parse_line).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_kernel_format() {
        let text = "snd_timer 28690 2 snd_seq,snd_pcm, Live 0x0000000000000000\n\
vrf 36864 0 [permanent], Live 0xffffffffc0a30000\n\
nvidia 56713216 123 nvidia_modeset, Live 0x0000000000000000 (POE)\n\
going 100 -1 - Unloading 0x0000000000000000 (OE-)\n\
nounload 100 - - Live 0x0\n\
both 10 1 user,[unsafe],[permanent], Loading 0x0 (E+)\n";
        let m = parse(text);
        assert_eq!(m.len(), 6);
        assert_eq!(m[0].users, ["snd_seq", "snd_pcm"]);
        assert_eq!(m[0].refcnt, Some(2));
        assert!(!m[0].is_permanent);
        assert!(m[1].is_permanent && m[1].users.is_empty());
        assert_eq!(m[2].taint.as_deref(), Some("POE"));
        assert_eq!(
            (m[3].refcnt, m[3].state),
            (Some(-1), Some(State::Unloading))
        );
        assert_eq!(m[3].taint.as_deref(), Some("OE"));
        assert_eq!(m[4].refcnt, None);
        assert!(m[5].is_permanent && m[5].is_unsafe);
        assert_eq!(m[5].users, ["user"]);
        assert_eq!(m[5].state, Some(State::Loading));
    }

    #[test]
    fn tolerates_short_and_odd_lines() {
        assert_eq!(parse_line(""), None);
        let m = parse_line("lonely").unwrap();
        assert_eq!((m.name.as_str(), m.size, m.refcnt), ("lonely", 0, None));
        assert_eq!(parse("a 1 0 - Live 0x0\n\n \nb 2 0 - Live 0x0").len(), 2);
    }
}
