"""Data access: functions with keyword-only arguments, taking and returning schemas or rows.

They raise :mod:`service.errors` (never HTTP exceptions) and commit only where they say so.
"""
