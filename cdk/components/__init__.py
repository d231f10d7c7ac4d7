"""Reusable constructs with typed keyword-only props; stacks compose them."""
