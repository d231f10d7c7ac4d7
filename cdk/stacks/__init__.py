"""Stacks only compose components, grant, and output."""
