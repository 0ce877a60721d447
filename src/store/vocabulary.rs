//! The closed vocabularies as the database holds them: text columns (`staged_events.action`,
//! `staged_events.reason`) read and written as the domain's enums, so a value is parsed once,
//! where it is read, and an unknown spelling is a read error naming the column's type, never a
//! panic further on.

use std::io::Write;

use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::Text;

use crate::domain::vocabulary::{Action, Reason};

/// Implements diesel's text mapping for a vocabulary of `domain::vocabulary` (the domain
/// stays free of diesel: the derives are made here, on a stand-in naming the type).
macro_rules! text_column {
    ($stand_in:ident, $name:ident) => {
        #[derive(AsExpression, FromSqlRow)]
        #[diesel(foreign_derive, sql_type = Text)]
        #[allow(dead_code)]
        struct $stand_in($name);

        impl ToSql<Text, Pg> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                out.write_all(self.as_str().as_bytes())?;
                Ok(IsNull::No)
            }
        }

        impl FromSql<Text, Pg> for $name {
            fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
                let text = std::str::from_utf8(value.as_bytes())?;
                text.parse().map_err(|e| {
                    format!(
                        "a stored {} is not in the vocabulary: {e}",
                        stringify!($name)
                    )
                    .into()
                })
            }
        }
    };
}

text_column!(ActionColumn, Action);
text_column!(ReasonColumn, Reason);
