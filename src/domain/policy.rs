//! The partner's own settings the rules consult: who may do what, and the cancellation windows.

use std::collections::BTreeMap;

use chrono::Duration;

use super::catalog::Partner;
use super::vocabulary::{Action, BillingFrequency, Role};

/// `[permissions]`: the roles allowed per action; an action not listed allows all five roles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions {
    pub allowed: BTreeMap<Action, Vec<Role>>,
}

impl Permissions {
    /// Whether `role` may request `action`.
    pub fn permits(&self, action: Action, role: Role) -> bool {
        self.allowed
            .get(&action)
            .is_none_or(|roles| roles.contains(&role))
    }
}

/// Everything the rules need to know about the partner running subsweep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub partner: Partner,
    pub permissions: Permissions,
    /// A monthly license cancelled less than this after its purchase is refunded in full.
    pub cancel_window_monthly: Duration,
    /// An annual license cancelled less than this after its purchase is refunded in full.
    pub cancel_window_annual: Duration,
}

impl Policy {
    /// The full-refund window for a subscription billed at `frequency`.
    pub fn cancel_window(&self, frequency: BillingFrequency) -> Duration {
        match frequency {
            BillingFrequency::Monthly => self.cancel_window_monthly,
            BillingFrequency::Annual => self.cancel_window_annual,
        }
    }

    /// Whether the role written on a row may request `action`; an unknown role never may.
    pub fn permits(&self, action: Action, requested_by: &str) -> bool {
        requested_by
            .parse::<Role>()
            .is_ok_and(|role| self.permissions.permits(action, role))
    }
}
