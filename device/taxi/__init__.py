"""The robotaxi kind: vehicle I/O (CAN + GPS), fair fares and the city simulation."""
