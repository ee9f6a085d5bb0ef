"""Placeholder: filled by the matching issue."""
