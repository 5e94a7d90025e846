//! Internal endpoints for the platform's own services (API key only, not part of the Appwrite API).
pub mod schedule_slots;
pub mod schedules;
