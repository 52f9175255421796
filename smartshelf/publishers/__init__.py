"""Where events go: stdout / JSONL files, MQTT with a durable outbox."""
