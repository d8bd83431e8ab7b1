"""The schema service: apps, their schemas (tables) and typed fields, per workspace."""
