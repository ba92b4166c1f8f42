"""Bookings: a reservation of resources for a window, and the executions it schedules inside it.

The pure rules (cron expansion, execution windows and ids, the capacity check) live in `cron`,
`windows` and `conflicts`: values in, values out, so they are table- and property-tested without a
server. `calendar`, `records` and `service` apply them to the store.
"""
