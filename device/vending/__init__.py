"""The vending machine kind: sensors and motors, the vend flow, slot planning,
markdowns, the vending world and its demo, on the shared profit-centre core."""
