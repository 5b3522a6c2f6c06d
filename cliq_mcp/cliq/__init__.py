"""Reaching Cliq: the HTTP client, OAuth, pacing, rate limits, the wire and Cliq's answers as documented."""
