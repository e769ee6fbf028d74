// Placeholder until this target's issue lands; replace this file.
