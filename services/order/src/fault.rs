//! TEST ONLY fault injection: with `ORDER_FAULT_POINT` set, the process
//! exits abruptly (no graceful shutdown, no cleanup) when a checkout reaches
//! that step, exactly like a crash or a `kill -9`. The crash-safety tests
//! use it to prove that a restart plus the recovery worker finish or undo
//! every interrupted checkout. Never set it in a deployment.

/// Where in the saga to crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPoint {
    /// Stock reserved, not yet committed.
    AfterReserve,
    /// Reservation committed, order not yet confirmed.
    AfterCommit,
    /// Order confirmed, response not yet sent.
    AfterConfirm,
}

impl FaultPoint {
    /// What a bad `ORDER_FAULT_POINT` is told.
    pub const EXPECTED: &'static str = "must be after_reserve, after_commit or after_confirm";
}

impl std::str::FromStr for FaultPoint {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "after_reserve" => Ok(Self::AfterReserve),
            "after_commit" => Ok(Self::AfterCommit),
            "after_confirm" => Ok(Self::AfterConfirm),
            _ => Err(()),
        }
    }
}

/// Exits the process now if `configured` is `here`.
pub fn maybe_crash(configured: Option<FaultPoint>, here: FaultPoint) {
    if configured == Some(here) {
        eprintln!("ORDER_FAULT_POINT {here:?} reached: exiting abruptly (test only)");
        std::process::exit(86);
    }
}
