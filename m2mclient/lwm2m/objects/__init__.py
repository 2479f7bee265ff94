"""LwM2M object instances: the base classes applications use, and the standard objects."""
