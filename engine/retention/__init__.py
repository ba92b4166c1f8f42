"""Retention: finished executions, ended bookings and ended credential leases leave the store after a while."""
