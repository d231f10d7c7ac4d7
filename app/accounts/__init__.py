"""Accounts as a whole: deleting one removes what every domain holds for it."""
