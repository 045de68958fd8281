"""Buying for the machine: plan → negotiate → pay on-chain → verify delivery → books."""
