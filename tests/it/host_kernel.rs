//! The host test suite never asks the host's kernel to load or remove a module: every tool run
//! that reaches a module system call runs under `--root`, where the fake kernel records the call
//! instead. Proved by running this whole test binary again under strace, tracing
//! init_module, finit_module and delete_module in every process it starts, and failing on any.
//!
//! strace also fails each traced call itself (error injection: the call never reaches the
//! kernel), so even a regression cannot load or remove anything while this test finds it. The
//! trace cannot pass vacuously: a probe in the traced run makes one delete_module call through
//! kmod's `rmmod -f` in a grandchild process, and the test requires exactly that call in the log,
//! failed with the injected errno.

use std::time::Duration;

use crate::harness::*;

/// The module the probe asks to remove: no kernel has it.
const PROBE: &str = "rkmod_strace_probe";
/// The errno strace gives every traced call: one the kernel's module calls never return, so
/// the probe's message shows that strace, not the kernel, answered.
const INJECTED: &str = "EDOM";
/// This file's guard test, left out of the traced run.
const GUARD: &str = "host_kernel::the_host_suite_makes_no_module_system_call";

#[test]
fn strace_probe_makes_one_traced_call() {
    if std::env::var_os(UNDER_STRACE).is_none() {
        return;
    }
    // kmod's rmmod -f skips every userspace check and calls delete_module at once.
    let Some(rmmod) = kmod("rmmod") else { return };
    let o = rmmod.args(["-f", PROBE]).output();
    // kmod says it twice (libkmod's line, then rmmod's).
    assert_status(&o, 1, "kmod rmmod -f under strace");
    let want = format!("could not remove module {PROBE}: Numerical argument out of domain");
    assert!(text(&o.stderr).contains(&want), "{}", text(&o.stderr));
}

/// Set to run the guard outside CI; `make test` sets it. It runs the whole suite a second time
/// under strace (about a minute), so the quick edit-test loop (`cargo test --test it`) leaves it
/// out, visibly.
const GUARD_VAR: &str = "RKMOD_HOST_GUARD";

#[test]
fn the_host_suite_makes_no_module_system_call() {
    if std::env::var_os(UNDER_STRACE).is_some() {
        return;
    }
    if !is_ci() && std::env::var_os(GUARD_VAR).is_none() {
        skip(&format!(
            "reruns the whole suite under strace (about a minute): set {GUARD_VAR}=1 to run it here; make test and CI always do"
        ));
        return;
    }
    if !require("strace", "strace", "the absence of module system calls") || kmod("rmmod").is_none()
    {
        return;
    }
    let t = TempDir::new("strace");
    let log = t.0.join("trace");
    let calls = MODULE_CALLS;
    let mut run = program("strace")
        // -ff: one log per process (trace.PID), so a call is never split into "<unfinished
        // ...>" and "resumed" lines by another process's output.
        .args(["-ff", "-qq", "--seccomp-bpf", "-o"])
        .arg(&log)
        .arg(format!("--trace={calls}"))
        .arg(format!("--inject={calls}:error={INJECTED}"))
        .arg("--")
        .arg(std::env::current_exe().unwrap())
        .args(["--skip", GUARD, "--test-threads=2"])
        .env(UNDER_STRACE, "1")
        .timeout(Duration::from_secs(900));
    if is_ci() {
        run = run.env("CI", "true");
    }
    let o = run.output();
    let summary = text(&o.stdout);
    assert_status(&o, 0, "the test suite under strace");
    // The traced run ran the suite: every test but this one passed or was ignored.
    let passed: usize = summary
        .lines()
        .find_map(|l| l.strip_prefix("test result: ok. "))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no test summary in:\n{summary}"));
    assert!(
        passed >= 60,
        "only {passed} tests ran under strace:\n{summary}"
    );
    assert!(
        summary.contains("strace_probe_makes_one_traced_call ... ok"),
        "{summary}"
    );

    let mut trace = String::new();
    for entry in std::fs::read_dir(&t.0).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("trace."))
        {
            trace.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
    let made: Vec<&str> = trace
        .lines()
        .filter(|l| {
            ["init_module(", "finit_module(", "delete_module("]
                .iter()
                .any(|c| l.contains(c))
        })
        .collect();
    let (probe, others): (Vec<&str>, Vec<&str>) = made
        .iter()
        .partition(|l| l.contains(&format!("\"{PROBE}\"")));
    assert_eq!(
        probe.len(),
        1,
        "strace saw the probe's call {} times; it traces nothing?\n{trace}",
        probe.len()
    );
    assert!(
        probe[0].contains(&format!(
            "delete_module(\"{PROBE}\", O_NONBLOCK|O_TRUNC) = -1 {INJECTED}"
        )) && probe[0].contains("(INJECTED)"),
        "{}",
        probe[0]
    );
    assert!(
        others.is_empty(),
        "the host test suite made module system calls (failed by strace, never reaching the kernel):\n{}",
        others.join("\n")
    );
}
