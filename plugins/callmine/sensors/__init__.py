"""Sensors: wait, deferrable, for the work a provider does."""
