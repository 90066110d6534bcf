//! Typed identifiers, so a user id can never be passed where a tenant id is expected.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new, time-ordered id (UUIDv7), so inserts stay index-friendly.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// An organisation: the unit of isolation.
    TenantId
);
uuid_id!(
    /// A person who can log in; belongs to tenants through memberships.
    UserId
);
uuid_id!(
    /// An API key (the id, not the secret).
    ApiKeyId
);
uuid_id!(
    /// An alert rule.
    AlertRuleId
);
uuid_id!(
    /// One alert: an instance of a rule for one group of labels, from when it became
    /// active until it resolved (the same group firing again later is a new alert).
    AlertId
);
uuid_id!(
    /// A notification channel (where notifications go).
    ChannelId
);
uuid_id!(
    /// One notification: one alert event for one channel, in the outbox until delivered.
    NotificationId
);
uuid_id!(
    /// A silence: matchers and a time range during which matching alerts notify no one.
    SilenceId
);
uuid_id!(
    /// A mute timing: a named recurring window notification policies mute by.
    MuteTimingId
);
uuid_id!(
    /// An inhibit rule: while a source alert fires, matching targets notify no one.
    InhibitRuleId
);
uuid_id!(
    /// One login session: the family of refresh tokens that rotate from one login.
    SessionId
);
