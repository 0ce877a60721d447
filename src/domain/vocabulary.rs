//! The closed vocabularies of SPEC.md: actions, roles, reasons, statuses, offer attributes.
//! Each is an enum with the exact spelling the spec uses in files and configuration.

use std::fmt;
use std::str::FromStr;

/// Declares a closed vocabulary: an enum whose variants read and print as the given strings.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The spelling used in files and configuration.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The accepted spellings, for error messages.
            pub fn expected() -> String {
                [$($text),+].join(", ")
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, UnknownValue> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownValue { value: s.to_string(), expected: Self::expected() }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// A value outside a closed vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{value}' is not one of: {expected}")]
pub struct UnknownValue {
    pub value: String,
    pub expected: String,
}

vocabulary!(
    /// What an order row asks for (SPEC section 3).
    Action {
        Purchase => "purchase",
        ChangeQuantity => "change_quantity",
        Suspend => "suspend",
        Reactivate => "reactivate",
        Cancel => "cancel",
        SetAutoRenew => "set_auto_renew",
        Usage => "usage",
    }
);

vocabulary!(
    /// The partner-center role that requested an action.
    Role {
        AdminAgent => "admin_agent",
        BillingAdmin => "billing_admin",
        GlobalAdmin => "global_admin",
        HelpdeskAgent => "helpdesk_agent",
        SalesAgent => "sales_agent",
    }
);

vocabulary!(
    /// Why a subscription is suspended or cancelled.
    Reason {
        CustomerRequest => "customer_request",
        Nonpayment => "nonpayment",
        Fraud => "fraud",
    }
);

vocabulary!(
    /// How the partner sells: only direct-bill partners and indirect providers may buy add-ons.
    PartnerType {
        DirectBill => "direct_bill",
        IndirectProvider => "indirect_provider",
        IndirectReseller => "indirect_reseller",
    }
);

vocabulary!(
    /// Who publishes an offer.
    Publisher {
        Microsoft => "microsoft",
        Isv => "isv",
    }
);

vocabulary!(
    /// Per-seat in advance, or metered in arrears.
    BillingType {
        License => "license",
        Usage => "usage",
    }
);

vocabulary!(
    /// How often a subscription is billed.
    BillingFrequency {
        Monthly => "monthly",
        Annual => "annual",
    }
);

impl BillingFrequency {
    /// Length of one billing period in months.
    pub fn months(self) -> u32 {
        match self {
            BillingFrequency::Monthly => 1,
            BillingFrequency::Annual => 12,
        }
    }

    /// The frequency whose period is `months` long, if any.
    pub fn from_months(months: u32) -> Option<Self> {
        match months {
            1 => Some(BillingFrequency::Monthly),
            12 => Some(BillingFrequency::Annual),
            _ => None,
        }
    }
}

vocabulary!(
    /// Catalog category.
    Category {
        Enterprise => "enterprise",
        SmallBusiness => "small_business",
        Trial => "trial",
    }
);

vocabulary!(
    /// Customer segment.
    Segment {
        Commercial => "commercial",
        Education => "education",
        Government => "government",
        Nonprofit => "nonprofit",
    }
);

vocabulary!(
    /// Subscription status (SPEC section 5). A trial is `active` with `in_trial`.
    Status {
        Active => "active",
        Suspended => "suspended",
        Cancelled => "cancelled",
        Expired => "expired",
        Deleted => "deleted",
    }
);

impl Status {
    /// Whether the subscription has ended for good.
    pub fn is_ended(self) -> bool {
        matches!(self, Status::Cancelled | Status::Expired | Status::Deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabularies_round_trip_through_their_spelling() {
        for action in Action::ALL {
            assert_eq!(action.as_str().parse::<Action>(), Ok(*action));
        }
        for status in Status::ALL {
            assert_eq!(status.to_string().parse::<Status>(), Ok(*status));
        }
    }

    #[test]
    fn an_unknown_value_lists_what_is_expected() {
        let err = "refund".parse::<Action>().unwrap_err();
        assert_eq!(err.value, "refund");
        assert!(err.to_string().contains("purchase, change_quantity"));
    }
}
