"""Scheduled work (reminders, escalations, digest) and the business calendar."""
