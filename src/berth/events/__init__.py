"""What happened, told to whoever listens: typed events (`types`), who caused them (`actor`), and the
in-process bus that hands them to subscribers (`bus`): the audit log, webhooks, and later scanning."""
