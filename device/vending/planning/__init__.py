"""Forecasting and restock planning: pure functions of data and ``now``, no I/O."""
