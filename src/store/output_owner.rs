//! `output_owner`: the output folder this database writes its files into, claimed on first use,
//! and the identity the folder's owner mark carries.

use diesel::prelude::*;

use super::schema::output_owner;

/// The claim of a database on its output folder.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = output_owner)]
pub struct OutputOwner {
    pub database_id: String,
    pub output_dir: String,
}

/// The claim, locked for the rest of the transaction (two processes claiming at once take
/// turns). `None` before the first job run of this database.
pub fn get_for_update(conn: &mut PgConnection) -> QueryResult<Option<OutputOwner>> {
    output_owner::table
        .select(OutputOwner::as_select())
        .for_update()
        .first(conn)
        .optional()
}

/// Records `output_dir` as this database's folder under a new random identity (or returns
/// the claim another process made first).
pub fn claim(conn: &mut PgConnection, output_dir: &str) -> QueryResult<OutputOwner> {
    diesel::insert_into(output_owner::table)
        .values((
            output_owner::singleton.eq(true),
            output_owner::database_id.eq(diesel::dsl::sql::<diesel::sql_types::Text>(
                "gen_random_uuid()::text",
            )),
            output_owner::output_dir.eq(output_dir),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    output_owner::table
        .select(OutputOwner::as_select())
        .first(conn)
}

/// Moves the claim to `output_dir` (the folder was moved with its mark, or its old path is
/// gone).
pub fn move_to(conn: &mut PgConnection, output_dir: &str) -> QueryResult<()> {
    diesel::update(output_owner::table)
        .set(output_owner::output_dir.eq(output_dir))
        .execute(conn)?;
    Ok(())
}
