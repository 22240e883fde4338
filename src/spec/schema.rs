//! `longconn schema`: the JSON Schema (draft-07) of the spec format, for yaml-language-server.

/// The schema as JSON text.
pub fn schema_json() -> String {
    todo!("spec::schema::schema_json")
}
