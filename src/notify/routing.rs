//! A tenant's routing as the evaluator applies it when it writes a transition: the policy
//! tree plus which channels exist and whether they hear of resolutions. Deciding here, in
//! the transition's own transaction, is what makes a decision to notify durable.

use std::collections::{BTreeMap, HashMap};

use super::message::AlertStatus;
use super::policy::{PolicyTree, RuleTimings, Timings};

/// One channel as routing sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutedChannel {
    pub send_resolved: bool,
}

/// The tree and the tenant's channels, by id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Routing {
    pub tree: PolicyTree,
    pub channels: HashMap<String, RoutedChannel>,
}

/// One channel to notify of one transition, and the group it joins there.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub channel_id: String,
    pub group_key: String,
    pub group_labels: BTreeMap<String, String>,
    pub timings: Timings,
    /// The route's mute and active timings, by name (applied when the group is sent).
    pub mute_timings: Vec<String>,
    pub active_timings: Vec<String>,
}

/// An alert to route.
pub struct Routed<'a> {
    pub rule_id: &'a str,
    pub rule_channels: &'a [String],
    pub rule_timings: RuleTimings,
    pub labels: &'a BTreeMap<String, String>,
    pub status: AlertStatus,
}

impl Routing {
    /// The channels to notify: each route's existing channels, each channel once per
    /// group; resolutions only to channels with `send_resolved`.
    pub fn plan(&self, alert: &Routed<'_>) -> Vec<Planned> {
        let routes = self.tree.routes_for_rule(
            alert.rule_id,
            alert.rule_channels,
            alert.rule_timings,
            alert.labels,
        );
        let mut planned: Vec<Planned> = Vec::new();
        for route in routes {
            let (group_key, group_labels) = route.group(alert.labels);
            for channel_id in &route.channels {
                let Some(channel) = self.channels.get(channel_id) else {
                    // A deleted channel still named by a rule or policy: nobody to tell.
                    continue;
                };
                if alert.status == AlertStatus::Resolved && !channel.send_resolved {
                    continue;
                }
                if planned
                    .iter()
                    .any(|p| &p.channel_id == channel_id && p.group_key == group_key)
                {
                    continue;
                }
                planned.push(Planned {
                    channel_id: channel_id.clone(),
                    group_key: group_key.clone(),
                    group_labels: group_labels.clone(),
                    timings: route.timings,
                    mute_timings: route.mute_timings.clone(),
                    active_timings: route.active_timings.clone(),
                });
            }
        }
        planned
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn routing() -> Routing {
        Routing {
            tree: PolicyTree::from_json(&json!({
                "channels": ["all"],
                "routes": [{"matchers": ["team=db"], "channels": ["db", "all"], "continue": true},
                           {"matchers": ["team=db"], "channels": ["all"]}]
            }))
            .expect("valid"),
            channels: [
                (
                    "all".to_owned(),
                    RoutedChannel {
                        send_resolved: true,
                    },
                ),
                (
                    "db".to_owned(),
                    RoutedChannel {
                        send_resolved: false,
                    },
                ),
                (
                    "mine".to_owned(),
                    RoutedChannel {
                        send_resolved: true,
                    },
                ),
            ]
            .into(),
        }
    }

    fn labels(team: &str) -> BTreeMap<String, String> {
        [("alertname", "A"), ("team", team)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    fn plan(r: &Routing, channels: &[String], team: &str, status: AlertStatus) -> Vec<String> {
        let labels = labels(team);
        r.plan(&Routed {
            rule_id: "r",
            rule_channels: channels,
            rule_timings: RuleTimings::default(),
            labels: &labels,
            status,
        })
        .into_iter()
        .map(|p| format!("{} {}", p.channel_id, p.group_key))
        .collect()
    }

    #[test]
    fn plans_name_each_channel_and_group_once_and_skip_what_should_not_hear() {
        let r = routing();
        assert_eq!(
            plan(&r, &[], "web", AlertStatus::Firing),
            ["all policy::{alertname=\"A\"}"]
        );
        // Two routes, two groups; `db` once.
        assert_eq!(
            plan(&r, &[], "db", AlertStatus::Firing),
            [
                "db policy:0:{alertname=\"A\"}",
                "all policy:0:{alertname=\"A\"}",
                "all policy:1:{alertname=\"A\"}"
            ]
        );
        // `db` does not want resolutions.
        assert_eq!(plan(&r, &[], "db", AlertStatus::Resolved).len(), 2);
        // A rule's own channels; an unknown one is skipped.
        assert_eq!(
            plan(
                &r,
                &["mine".into(), "gone".into()],
                "db",
                AlertStatus::Firing
            ),
            ["mine rule:r:{alertname=\"A\"}"]
        );
    }
}
