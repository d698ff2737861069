"""Turning results into something a person reads: plain text for the terminal, HTML for a file."""
