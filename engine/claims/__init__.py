"""Claims on resources: a booking's execution windows (cron, spans) and the per-resource calendars that
hold them, claimed and given back by compare-and-set so two replicas never confirm overlapping bookings."""
