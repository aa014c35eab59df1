"""The audit trail: who logged in, watched, talked, exported, changed what."""
