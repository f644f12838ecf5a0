"""Durable background work: job rows and their executions (`store`), the kinds of job (`kinds`),
the workers that claim and run them (`worker`) and the cron scheduler that enqueues them (`scheduler`)."""
