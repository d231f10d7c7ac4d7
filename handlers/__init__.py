"""AWS Lambda entry points; each wraps code from ``app`` and adds nothing but plumbing."""
