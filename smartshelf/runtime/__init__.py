"""Pipeline wiring, threads, lifecycle, signals, sd_notify, metrics."""
