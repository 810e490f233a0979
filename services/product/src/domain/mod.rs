//! The product service's rules, free of HTTP and SQL: checked types for
//! every input (a wire type is parsed once, here, and `db/` takes only the
//! checked type), ETags, cursors, reservation requests. Everything here is
//! a pure function, tested beside its code.

use shop_api::FieldError;

pub mod product;
pub mod reservation;

/// `value` when no rule was broken, else every broken rule: each parser
/// checks all fields before answering, so a client learns of every
/// mistake at once.
fn checked<T>(value: T, errors: Vec<FieldError>) -> Result<T, Vec<FieldError>> {
    if errors.is_empty() {
        Ok(value)
    } else {
        Err(errors)
    }
}
