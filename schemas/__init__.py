"""Marshmallow schemas of the public API; this package imports nothing from `federation`."""
