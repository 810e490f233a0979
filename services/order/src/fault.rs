//! TEST ONLY fault injection: with `ORDER_FAULT_POINT` set, the process
//! exits abruptly (no graceful shutdown, no cleanup) when a checkout reaches
//! that step, exactly like a crash or a `kill -9`. The crash-safety tests
//! use it to prove that a restart plus the recovery worker finish or undo
//! every interrupted checkout. Never set it in a deployment.

/// Where in the saga to crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPoint {
    /// The cart's lines saved with the pending order, the reserve call not
    /// yet sent: nothing is held for the order.
    BeforeReserve,
    /// Stock sold (reserved and committed in one call), the cart not yet
    /// cleaned, the order still pending.
    AfterReserve,
    /// The checked-out lines removed from the cart, the order not yet
    /// confirmed.
    AfterCleanup,
    /// Order confirmed, response not yet sent.
    AfterConfirm,
}

impl FaultPoint {
    /// What a bad `ORDER_FAULT_POINT` is told.
    pub const EXPECTED: &'static str =
        "must be before_reserve, after_reserve, after_cleanup or after_confirm";
}

impl std::str::FromStr for FaultPoint {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "before_reserve" => Ok(Self::BeforeReserve),
            "after_reserve" => Ok(Self::AfterReserve),
            "after_cleanup" => Ok(Self::AfterCleanup),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every point parses from its name, and the message for a bad value
    /// names them all.
    #[test]
    fn every_point_has_a_name_the_error_lists() {
        for (name, point) in [
            ("before_reserve", FaultPoint::BeforeReserve),
            ("after_reserve", FaultPoint::AfterReserve),
            ("after_cleanup", FaultPoint::AfterCleanup),
            ("after_confirm", FaultPoint::AfterConfirm),
        ] {
            assert_eq!(name.parse::<FaultPoint>(), Ok(point));
            assert!(FaultPoint::EXPECTED.contains(name), "{name}");
        }
        assert_eq!("during_lunch".parse::<FaultPoint>(), Err(()));
    }
}
