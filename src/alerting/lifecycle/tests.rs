//! Table-driven: each case is a policy and a script of (time, what happened, the
//! transitions expected, the state after). Times are given, not slept.

use super::*;
use Severity::{Critical as C, Warning as W};
use Transition::*;

const S: i64 = 1000;
const MIN: i64 = 60 * S;

#[derive(Debug, Clone, Copy)]
enum Step {
    /// An evaluation with data: (raising, keeping).
    See(Option<Severity>, Option<Severity>),
    /// Time passes with no new data.
    Tick,
}
use Step::{See, Tick};

fn raise(severity: Severity) -> Step {
    See(Some(severity), Some(severity))
}

fn clear() -> Step {
    See(None, None)
}

type Script<'a> = &'a [(i64, Step, &'a [Transition], AlertState)];

fn run(name: &str, policy: LifecyclePolicy, script: Script<'_>) {
    let mut instance = Instance::default();
    for (i, &(at, step, expected, state)) in script.iter().enumerate() {
        let got = match step {
            See(raising, keeping) => instance.observe(
                &policy,
                Verdict {
                    raising,
                    keeping,
                    value: 1.0,
                },
                at,
            ),
            Tick => instance.tick(&policy, at),
        };
        assert_eq!(got, expected, "{name}, step {i} ({step:?} at {at} ms)");
        assert_eq!(instance.state, state, "{name}, step {i}: state");
    }
}

fn policy() -> LifecyclePolicy {
    LifecyclePolicy {
        highest_severity: Some(C),
        ..LifecyclePolicy::default()
    }
}

#[test]
fn lifecycles() {
    use AlertState::{Firing as F, Inactive as I, Pending as P};
    run(
        "for 0s fires at once and resolves at once",
        policy(),
        &[
            (0, raise(W), &[Firing { severity: W }], F),
            (S, raise(W), &[], F),
            (2 * S, clear(), &[Resolved], I),
            (3 * S, clear(), &[], I),
        ],
    );
    run(
        "for 30s: pending, then firing once time alone has passed",
        LifecyclePolicy {
            for_ms: 30 * S,
            ..policy()
        },
        &[
            (0, raise(W), &[Pending { severity: W }], P),
            (10 * S, Tick, &[], P),
            (29 * S, raise(W), &[], P),
            (30 * S, Tick, &[Firing { severity: W }], F),
        ],
    );
    run(
        "a pending alert whose condition clears is cancelled, never fired",
        LifecyclePolicy {
            for_ms: 30 * S,
            ..policy()
        },
        &[
            (0, raise(W), &[Pending { severity: W }], P),
            (5 * S, clear(), &[Cancelled], I),
            (40 * S, Tick, &[], I),
        ],
    );
    run(
        "keep_firing_for holds a cleared alert, and a relapse restarts the count",
        LifecyclePolicy {
            keep_firing_for_ms: MIN,
            ..policy()
        },
        &[
            (0, raise(W), &[Firing { severity: W }], F),
            (10 * S, clear(), &[], F),
            (40 * S, raise(W), &[], F),
            (50 * S, clear(), &[], F),
            (109 * S, Tick, &[], F),
            (110 * S, Tick, &[Resolved], I),
        ],
    );
    run(
            "hysteresis: between threshold and resolve bound a firing alert stays, an inactive one does not start",
            policy(),
            &[
                (0, See(None, Some(W)), &[], I),
                (S, raise(W), &[Firing { severity: W }], F),
                (2 * S, See(None, Some(W)), &[], F),
                (3 * S, clear(), &[Resolved], I),
            ],
        );
    run(
        "severities escalate and de-escalate within one alert",
        policy(),
        &[
            (0, raise(W), &[Firing { severity: W }], F),
            (S, raise(C), &[Escalated { from: W, to: C }], F),
            (2 * S, See(Some(W), Some(C)), &[], F),
            (3 * S, raise(W), &[DeEscalated { from: C, to: W }], F),
            (4 * S, clear(), &[Resolved], I),
        ],
    );
    run(
        "no data, ok: a firing alert resolves",
        LifecyclePolicy {
            no_data_after_ms: Some(5 * MIN),
            no_data: NoDataPolicy::Ok,
            ..policy()
        },
        &[
            (0, raise(W), &[Firing { severity: W }], F),
            (5 * MIN - 1, Tick, &[], F),
            (5 * MIN, Tick, &[NoData, Resolved], I),
            (6 * MIN, Tick, &[], I),
        ],
    );
    run(
        "no data, alerting: fires at the rule's highest severity",
        LifecyclePolicy {
            no_data_after_ms: Some(5 * MIN),
            no_data: NoDataPolicy::Alerting,
            ..policy()
        },
        &[
            (0, clear(), &[], I),
            (5 * MIN, Tick, &[NoData, Firing { severity: C }], F),
            (6 * MIN, clear(), &[Resolved], I),
        ],
    );
    run(
        "no data, keep: the state stays until data returns",
        LifecyclePolicy {
            no_data_after_ms: Some(5 * MIN),
            no_data: NoDataPolicy::Keep,
            ..policy()
        },
        &[
            (0, raise(W), &[Firing { severity: W }], F),
            (5 * MIN, Tick, &[NoData], F),
            (9 * MIN, Tick, &[], F),
            (10 * MIN, clear(), &[Resolved], I),
        ],
    );
    run(
        "more changes than allowed in the window is flapping, until the window is quiet",
        LifecyclePolicy {
            flap: FlapPolicy {
                max_changes: 2,
                window_ms: 10 * MIN,
            },
            ..policy()
        },
        &[
            (0, raise(W), &[Firing { severity: W }], F),
            (S, clear(), &[Resolved], I),
            (2 * S, raise(W), &[Firing { severity: W }, Flapping], F),
            (3 * S, raise(W), &[], F),
            // The first change leaves the window: two left, no longer too many.
            (10 * MIN - 1, Tick, &[], F),
            (10 * MIN + 1, Tick, &[FlappingStopped], F),
        ],
    );
}

#[test]
fn an_instance_remembers_when_it_started_and_what_it_saw() {
    let policy = LifecyclePolicy {
        for_ms: 10 * S,
        ..policy()
    };
    let mut instance = Instance::default();
    instance.observe(
        &policy,
        Verdict {
            raising: Some(W),
            keeping: Some(W),
            value: 0.7,
        },
        5 * S,
    );
    assert_eq!(instance.active_since_ms, Some(5 * S));
    assert_eq!(instance.last_value, Some(0.7));
    assert_eq!(instance.severity, Some(W));
    assert_eq!(instance.tick(&policy, 15 * S), vec![Firing { severity: W }]);
    assert_eq!(
        instance.active_since_ms,
        Some(5 * S),
        "firing keeps the time it became active"
    );
}
