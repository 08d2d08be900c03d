//! Notifications: stored per user inside the writer's transaction and
//! pushed to every session of the user after the commit
//! ([`crate::store::ops::notifications`]).

pub(crate) use crate::store::ops::audit::record as audit;
pub(crate) use crate::store::ops::notifications::{notify, to_wire};
