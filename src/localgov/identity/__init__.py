"""Identity: LAO staff, citizens, integrators' API clients and the operator's staff."""
