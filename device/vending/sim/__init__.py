"""Simulation: sensor physics on mock pins, simulated customers and suppliers, the discrete-event driver."""
