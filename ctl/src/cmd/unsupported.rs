//! The one list of commands chatctl accepts but cannot perform yet. When
//! one is wired, delete its entry here.

use crate::error::CtlError;

/// Commands and options waiting for server support, by the name users type.
pub const NOT_YET: &[&str] = &[];

/// The error for a feature in [`NOT_YET`] (exit code 1).
pub fn not_yet(feature: &'static str) -> CtlError {
    debug_assert!(NOT_YET.contains(&feature), "{feature} is not listed");
    CtlError::Unsupported(feature)
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_unique() {
        let mut v = super::NOT_YET.to_vec();
        v.sort_unstable();
        v.dedup();
        assert_eq!(v.len(), super::NOT_YET.len());
    }
}
