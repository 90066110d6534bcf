//! Notification policies: an ordered tree of routes, matched as Alertmanager matches its
//! `route` tree. The root is the default policy (it matches every alert); a child that
//! matches takes the alert unless it says `continue`, and the deepest matching routes are
//! the ones used. Children inherit what they leave out (channels, grouping, timings).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::matcher::{all_match, matchers_from_json, Matcher};
use super::FieldError;
pub use crate::alerting::rule::RuleTimings;
use crate::promql::parse_duration;

pub const DEFAULT_GROUP_WAIT_MS: i64 = 30_000;
pub const DEFAULT_GROUP_INTERVAL_MS: i64 = 300_000;
pub const DEFAULT_REPEAT_INTERVAL_MS: i64 = 4 * 3_600_000;
/// Bounds what a tree may hold, so one tenant's document cannot make routing slow.
const MAX_ROUTES: usize = 1_000;
const MAX_DEPTH: usize = 16;

/// When a group is notified: first after `group_wait`, changes at most every
/// `group_interval`, unchanged firing alerts again every `repeat_interval` (0: never).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    pub group_wait_ms: i64,
    pub group_interval_ms: i64,
    pub repeat_interval_ms: i64,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            group_wait_ms: DEFAULT_GROUP_WAIT_MS,
            group_interval_ms: DEFAULT_GROUP_INTERVAL_MS,
            repeat_interval_ms: DEFAULT_REPEAT_INTERVAL_MS,
        }
    }
}

/// Which labels form a group: the listed ones, or every label (`["..."]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    Labels(Vec<String>),
    All,
}

impl Default for GroupBy {
    fn default() -> Self {
        Self::Labels(vec!["alertname".to_owned()])
    }
}

impl GroupBy {
    pub fn group_labels(&self, labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        match self {
            Self::All => labels.clone(),
            Self::Labels(names) => names
                .iter()
                .filter_map(|n| labels.get(n).map(|v| (n.clone(), v.clone())))
                .collect(),
        }
    }

    fn to_json(&self) -> Value {
        match self {
            Self::All => json!(["..."]),
            Self::Labels(names) => json!(names),
        }
    }
}

/// One route of the tree, with what it inherited filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Position in the tree (`""` for the root, `"0.2"` for the root's first child's
    /// third child): part of each group's key, so two routes never share a group.
    pub path: String,
    pub matchers: Vec<Matcher>,
    pub channels: Vec<String>,
    pub group_by: GroupBy,
    pub timings: Timings,
    pub continue_matching: bool,
    pub mute_timings: Vec<String>,
    pub active_timings: Vec<String>,
    pub routes: Vec<Policy>,
}

/// Where one alert goes: the channels and how its group is formed and timed.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// `policy:<path>` or `rule:<rule id>`.
    pub key: String,
    pub channels: Vec<String>,
    pub group_by: GroupBy,
    pub timings: Timings,
    pub mute_timings: Vec<String>,
    pub active_timings: Vec<String>,
}

impl Route {
    /// The group an alert with `labels` falls in on this route: its key and labels.
    pub fn group(&self, labels: &BTreeMap<String, String>) -> (String, BTreeMap<String, String>) {
        let group_labels = self.group_by.group_labels(labels);
        let rendered: Vec<String> = group_labels
            .iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect();
        (
            format!("{}:{{{}}}", self.key, rendered.join(",")),
            group_labels,
        )
    }
}

/// The tenant's policy tree.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyTree {
    pub root: Policy,
}

impl Default for PolicyTree {
    /// No configuration: nothing is routed except by rules' own channels; groups by
    /// `alertname` with Alertmanager's timings.
    fn default() -> Self {
        Self {
            root: Policy {
                path: String::new(),
                matchers: Vec::new(),
                channels: Vec::new(),
                group_by: GroupBy::default(),
                timings: Timings::default(),
                continue_matching: false,
                mute_timings: Vec::new(),
                active_timings: Vec::new(),
                routes: Vec::new(),
            },
        }
    }
}

fn duration_field(
    object: &Map<String, Value>,
    field: &str,
    inherited: i64,
) -> Result<i64, FieldError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(inherited),
        Some(Value::String(text)) => parse_duration(text, field)
            .ok()
            .filter(|ms| *ms >= 0)
            .ok_or_else(|| {
                FieldError::new(
                    field,
                    format!("{text:?} is not a duration like 0s, 30s, 5m or 4h"),
                )
            }),
        Some(_) => Err(FieldError::new(field, "must be a duration text like 30s")),
    }
}

fn strings_field(
    object: &Map<String, Value>,
    field: &str,
) -> Result<Option<Vec<String>>, FieldError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) if !s.is_empty() => Ok(s.clone()),
                _ => Err(FieldError::new(
                    format!("{field}[{i}]"),
                    "must be a non-empty string",
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(FieldError::new(field, "must be a list of strings")),
    }
}

/// Validates the timings of a rule or route given as optional duration texts.
pub fn timings_from(
    group_wait: Option<&str>,
    group_interval: Option<&str>,
    repeat_interval: Option<&str>,
    inherited: Timings,
) -> Result<Timings, FieldError> {
    let mut object = Map::new();
    for (field, value) in [
        ("group_wait", group_wait),
        ("group_interval", group_interval),
        ("repeat_interval", repeat_interval),
    ] {
        if let Some(text) = value {
            object.insert(field.to_owned(), Value::String(text.to_owned()));
        }
    }
    timings_of(&object, inherited)
}

fn timings_of(object: &Map<String, Value>, inherited: Timings) -> Result<Timings, FieldError> {
    Ok(Timings {
        group_wait_ms: duration_field(object, "group_wait", inherited.group_wait_ms)?,
        group_interval_ms: duration_field(object, "group_interval", inherited.group_interval_ms)?,
        repeat_interval_ms: duration_field(
            object,
            "repeat_interval",
            inherited.repeat_interval_ms,
        )?,
    })
}

const POLICY_FIELDS: &[&str] = &[
    "matchers",
    "channels",
    "group_by",
    "group_wait",
    "group_interval",
    "repeat_interval",
    "continue",
    "mute_timings",
    "active_timings",
    "routes",
];

struct Budget {
    routes: usize,
}

fn policy_from(
    value: &Value,
    parent: Option<&Policy>,
    path: String,
    depth: usize,
    budget: &mut Budget,
) -> Result<Policy, FieldError> {
    let object = value
        .as_object()
        .ok_or_else(|| FieldError::new("", "a policy is a JSON object"))?;
    if let Some(unknown) = object.keys().find(|k| !POLICY_FIELDS.contains(&k.as_str())) {
        return Err(FieldError::new(
            unknown.as_str(),
            format!("unknown field; a policy has {}", POLICY_FIELDS.join(", ")),
        ));
    }
    budget.routes += 1;
    if budget.routes > MAX_ROUTES {
        return Err(FieldError::new(
            "routes",
            format!("at most {MAX_ROUTES} policies in all"),
        ));
    }
    if depth > MAX_DEPTH {
        return Err(FieldError::new(
            "routes",
            format!("at most {MAX_DEPTH} levels deep"),
        ));
    }
    let matchers = matchers_from_json(object.get("matchers")).map_err(|e| e.under("matchers"))?;
    if parent.is_none() && !matchers.is_empty() {
        return Err(FieldError::new(
            "matchers",
            "the default policy matches every alert: it has no matchers",
        ));
    }
    let inherited_timings = parent.map_or_else(Timings::default, |p| p.timings);
    let timings = timings_of(object, inherited_timings)?;
    let group_by = match strings_field(object, "group_by")? {
        None => parent.map_or_else(GroupBy::default, |p| p.group_by.clone()),
        Some(names) if names.iter().any(|n| n == "...") => {
            if names.len() > 1 {
                return Err(FieldError::new(
                    "group_by",
                    "\"...\" (every label) stands alone",
                ));
            }
            GroupBy::All
        }
        Some(names) => GroupBy::Labels(names),
    };
    let channels = match strings_field(object, "channels")? {
        Some(channels) => channels,
        None => parent.map(|p| p.channels.clone()).unwrap_or_default(),
    };
    let continue_matching = match object.get("continue") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => {
            if parent.is_none() && *b {
                return Err(FieldError::new(
                    "continue",
                    "the default policy cannot continue",
                ));
            }
            *b
        }
        Some(_) => return Err(FieldError::new("continue", "must be true or false")),
    };
    let mute_timings = strings_field(object, "mute_timings")?.unwrap_or_default();
    let active_timings = strings_field(object, "active_timings")?.unwrap_or_default();
    let mut policy = Policy {
        path: path.clone(),
        matchers,
        channels,
        group_by,
        timings,
        continue_matching,
        mute_timings,
        active_timings,
        routes: Vec::new(),
    };
    let children = match object.get("routes") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(_) => return Err(FieldError::new("routes", "must be a list of policies")),
    };
    for (i, child) in children.iter().enumerate() {
        let child_path = if path.is_empty() {
            i.to_string()
        } else {
            format!("{path}.{i}")
        };
        let routed =
            policy_from(child, Some(&policy), child_path, depth + 1, budget).map_err(|e| {
                let at = format!("routes[{i}]");
                if e.field.is_empty() {
                    FieldError::new(at, e.message)
                } else {
                    e.under(&at)
                }
            })?;
        policy.routes.push(routed);
    }
    Ok(policy)
}

impl Policy {
    fn route(&self) -> Route {
        Route {
            key: format!("policy:{}", self.path),
            channels: self.channels.clone(),
            group_by: self.group_by.clone(),
            timings: self.timings,
            mute_timings: self.mute_timings.clone(),
            active_timings: self.active_timings.clone(),
        }
    }

    /// Alertmanager's matching: children in order; a matching child takes the alert (its
    /// own deepest matches) and stops the search unless it continues; no matching child
    /// means this route itself.
    fn matching<'a>(&'a self, labels: &BTreeMap<String, String>, out: &mut Vec<&'a Policy>) {
        let before = out.len();
        for child in &self.routes {
            if all_match(&child.matchers, labels) {
                child.matching(labels, out);
                if !child.continue_matching {
                    break;
                }
            }
        }
        if out.len() == before {
            out.push(self);
        }
    }

    fn to_json(&self, is_root: bool) -> Value {
        let mut object = Map::new();
        if !is_root {
            object.insert(
                "matchers".into(),
                Value::Array(self.matchers.iter().map(Matcher::to_json).collect()),
            );
            object.insert("continue".into(), Value::Bool(self.continue_matching));
        }
        object.insert("channels".into(), json!(self.channels));
        object.insert("group_by".into(), self.group_by.to_json());
        object.insert(
            "group_wait".into(),
            json!(duration_text(self.timings.group_wait_ms)),
        );
        object.insert(
            "group_interval".into(),
            json!(duration_text(self.timings.group_interval_ms)),
        );
        object.insert(
            "repeat_interval".into(),
            json!(duration_text(self.timings.repeat_interval_ms)),
        );
        object.insert("mute_timings".into(), json!(self.mute_timings));
        object.insert("active_timings".into(), json!(self.active_timings));
        object.insert(
            "routes".into(),
            Value::Array(self.routes.iter().map(|r| r.to_json(false)).collect()),
        );
        Value::Object(object)
    }

    fn visit<'a>(&'a self, f: &mut impl FnMut(&'a Policy)) {
        f(self);
        for child in &self.routes {
            child.visit(f);
        }
    }
}

/// Milliseconds as a duration text Prometheus and Alertmanager read (`1h30m`, `0s`).
pub fn duration_text(ms: i64) -> String {
    if ms <= 0 {
        return "0s".to_owned();
    }
    let mut rest = ms;
    let mut text = String::new();
    for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
        if rest >= size {
            text.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    text
}

impl PolicyTree {
    /// Reads a tree (the root object is the default policy); errors name the field.
    pub fn from_json(value: &Value) -> Result<Self, FieldError> {
        let root = policy_from(value, None, String::new(), 0, &mut Budget { routes: 0 })?;
        Ok(Self { root })
    }

    /// The tree in the shape it is read in, with inherited values filled in.
    pub fn to_json(&self) -> Value {
        self.root.to_json(true)
    }

    /// The routes an alert with `labels` takes through the tree.
    pub fn routes(&self, labels: &BTreeMap<String, String>) -> Vec<Route> {
        let mut matched = Vec::new();
        self.root.matching(labels, &mut matched);
        matched.into_iter().map(Policy::route).collect()
    }

    /// Every channel id the tree names (to check they exist).
    pub fn channel_ids(&self) -> Vec<String> {
        let mut ids = Vec::new();
        self.root
            .visit(&mut |p| ids.extend(p.channels.iter().cloned()));
        ids.sort();
        ids.dedup();
        ids
    }

    /// Every mute or active timing the tree names (to check they exist).
    pub fn timing_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        self.root.visit(&mut |p| {
            names.extend(p.mute_timings.iter().cloned());
            names.extend(p.active_timings.iter().cloned());
        });
        names.sort();
        names.dedup();
        names
    }

    /// The routes of an alert of a rule: the rule's own channels when it names any (with
    /// its timings where it gives them, else the default policy's), else the tree's.
    pub fn routes_for_rule(
        &self,
        rule_id: &str,
        rule_channels: &[String],
        rule_timings: RuleTimings,
        labels: &BTreeMap<String, String>,
    ) -> Vec<Route> {
        if rule_channels.is_empty() {
            return self.routes(labels);
        }
        let inherited = self.root.timings;
        vec![Route {
            key: format!("rule:{rule_id}"),
            channels: rule_channels.to_vec(),
            group_by: self.root.group_by.clone(),
            timings: Timings {
                group_wait_ms: rule_timings
                    .group_wait_ms
                    .unwrap_or(inherited.group_wait_ms),
                group_interval_ms: rule_timings
                    .group_interval_ms
                    .unwrap_or(inherited.group_interval_ms),
                repeat_interval_ms: rule_timings
                    .repeat_interval_ms
                    .unwrap_or(inherited.repeat_interval_ms),
            },
            mute_timings: Vec::new(),
            active_timings: Vec::new(),
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn tree() -> PolicyTree {
        PolicyTree::from_json(&json!({
            "channels": ["default"],
            "group_by": ["alertname"],
            "group_wait": "10s",
            "routes": [
                {"matchers": [{"name": "team", "value": "db"}], "channels": ["db"],
                 "continue": true, "group_by": ["..."]},
                {"matchers": ["severity=critical"], "channels": ["pager"], "group_wait": "0s",
                 "routes": [{"matchers": ["env=~\"prod|live\""], "channels": ["pager-prod"]}]},
                {"matchers": ["severity=~warning|critical"], "channels": ["chat"]}
            ]
        }))
        .expect("valid tree")
    }

    fn channels(routes: &[Route]) -> Vec<&str> {
        routes
            .iter()
            .flat_map(|r| r.channels.iter().map(String::as_str))
            .collect()
    }

    #[test]
    fn routing_follows_alertmanager_first_match_continue_and_depth() {
        let t = tree();
        assert_eq!(
            channels(&t.routes(&labels(&[("alertname", "A")]))),
            ["default"]
        );
        // The first matching child stops the search …
        assert_eq!(
            channels(&t.routes(&labels(&[("severity", "critical")]))),
            ["pager"]
        );
        // … the deepest match is used …
        assert_eq!(
            channels(&t.routes(&labels(&[("severity", "critical"), ("env", "prod")]))),
            ["pager-prod"]
        );
        // … and `continue` goes on to the next sibling.
        assert_eq!(
            channels(&t.routes(&labels(&[("team", "db"), ("severity", "warning")]))),
            ["db", "chat"]
        );
    }

    #[test]
    fn children_inherit_timings_and_grouping() {
        let t = tree();
        let routes = t.routes(&labels(&[("severity", "critical"), ("env", "prod")]));
        assert_eq!(routes[0].timings.group_wait_ms, 0);
        assert_eq!(
            routes[0].timings.group_interval_ms,
            DEFAULT_GROUP_INTERVAL_MS
        );
        assert_eq!(routes[0].key, "policy:1.0");
        let (key, group) = routes[0].group(&labels(&[("alertname", "X"), ("env", "prod")]));
        assert_eq!(key, "policy:1.0:{alertname=\"X\"}");
        assert_eq!(group, labels(&[("alertname", "X")]));
        let db = &t.routes(&labels(&[("team", "db"), ("alertname", "Y")]))[0];
        assert_eq!(db.group_by, GroupBy::All);
        assert_eq!(db.timings.group_wait_ms, 10_000);
    }

    #[test]
    fn a_rule_with_channels_routes_directly_with_its_timings() {
        let t = tree();
        let routes = t.routes_for_rule(
            "r1",
            &["mine".to_owned()],
            RuleTimings {
                group_wait_ms: Some(0),
                ..RuleTimings::default()
            },
            &labels(&[("severity", "critical")]),
        );
        assert_eq!(channels(&routes), ["mine"]);
        assert_eq!(routes[0].timings.group_wait_ms, 0);
        assert_eq!(
            routes[0].timings.repeat_interval_ms,
            DEFAULT_REPEAT_INTERVAL_MS
        );
        assert_eq!(routes[0].key, "rule:r1");
    }

    #[test]
    fn bad_trees_name_the_field() {
        let cases = [
            (
                json!({"routes": [{"matchers": [{"name": "a", "op": "~"}]}]}),
                "routes[0].matchers[0].op",
            ),
            (json!({"group_wait": "soon"}), "group_wait"),
            (
                json!({"routes": [{}, {"routes": [{"repeat_interval": 5}]}]}),
                "routes[1].routes[0].repeat_interval",
            ),
            (json!({"matchers": ["a=b"]}), "matchers"),
            (json!({"receiver": "x"}), "receiver"),
            (json!({"group_by": ["...", "a"]}), "group_by"),
            (json!({"channels": [""]}), "channels[0]"),
        ];
        for (body, field) in cases {
            let e = PolicyTree::from_json(&body).expect_err("invalid");
            assert_eq!(e.field, field, "{body}");
        }
    }

    #[test]
    fn a_tree_reads_back_what_it_answers() {
        let t = tree();
        assert_eq!(PolicyTree::from_json(&t.to_json()).expect("valid"), t);
        assert_eq!(duration_text(5_400_000), "1h30m");
        assert_eq!(duration_text(0), "0s");
    }
}
