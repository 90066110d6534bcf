//! Roles inside a tenant and the scopes of API keys.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A user's role inside one tenant. Ordered: each role can do what the roles below it can.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read only.
    Viewer,
    /// Rules, dashboards, silences, and what viewers can do.
    Editor,
    /// Users, API keys, channels: everything in the tenant.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }

    /// Whether this role grants at least what `required` grants.
    pub fn includes(self, required: Role) -> bool {
        self >= required
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "editor" => Ok(Role::Editor),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role \"{other}\"; expected one of admin, editor, viewer"
            )),
        }
    }
}

/// What an API key may be used for.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ApiKeyScope {
    /// Write metrics and logs.
    Ingest,
    /// Read what a viewer can read.
    Read,
    /// Post alerts and manage silences through the Alertmanager API (Prometheus and
    /// vmalert sending to Tidewatch, amtool).
    Alerts,
}

impl ApiKeyScope {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiKeyScope::Ingest => "ingest",
            ApiKeyScope::Read => "read",
            ApiKeyScope::Alerts => "alerts",
        }
    }

    /// Scopes are stored as one comma-separated column; this is its inverse.
    pub fn parse_list(stored: &str) -> Result<Vec<ApiKeyScope>, String> {
        stored
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::parse)
            .collect()
    }

    pub fn join(scopes: &[ApiKeyScope]) -> String {
        scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl FromStr for ApiKeyScope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ingest" => Ok(ApiKeyScope::Ingest),
            "read" => Ok(ApiKeyScope::Read),
            "alerts" => Ok(ApiKeyScope::Alerts),
            other => Err(format!(
                "unknown scope \"{other}\"; expected ingest, read or alerts"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_by_power() {
        let cases = [
            (Role::Admin, Role::Admin, true),
            (Role::Admin, Role::Viewer, true),
            (Role::Editor, Role::Admin, false),
            (Role::Editor, Role::Editor, true),
            (Role::Viewer, Role::Editor, false),
            (Role::Viewer, Role::Viewer, true),
        ];
        for (have, need, expected) in cases {
            assert_eq!(have.includes(need), expected, "{have} includes {need}");
        }
    }

    #[test]
    fn roles_round_trip_through_text() {
        for role in [Role::Admin, Role::Editor, Role::Viewer] {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("root".parse::<Role>().unwrap_err().contains("root"));
    }

    #[test]
    fn scope_lists_round_trip() {
        let scopes = vec![ApiKeyScope::Ingest, ApiKeyScope::Read];
        assert_eq!(ApiKeyScope::join(&scopes), "ingest,read");
        assert_eq!(ApiKeyScope::parse_list("ingest,read"), Ok(scopes));
        assert_eq!(ApiKeyScope::parse_list(""), Ok(vec![]));
        assert!(ApiKeyScope::parse_list("ingest,write").is_err());
    }
}
