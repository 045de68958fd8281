"""Selling prices: the owners' list price, and fair markdowns of near-expiry stock."""
