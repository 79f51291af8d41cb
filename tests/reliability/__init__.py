"""Reliability and security: faults, crashes, bad input and secrets, with nothing lost (issue 7)."""
