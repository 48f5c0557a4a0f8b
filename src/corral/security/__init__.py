"""Security services: accounts, passwords, sessions, tokens, permissions, confirmations, audit, rate limits."""
