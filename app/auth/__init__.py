"""Users, passwords, access and refresh tokens, login rate limits."""
