"""Harbor's project webhooks: what a policy may say (`policy`), the bodies sent for an event
(`payloads`), and the delivery job kinds WEBHOOK and SLACK (`delivery`). Policy storage is
services/webhooks.py; the bus subscriber that turns events into delivery jobs needs the services, so
it is services/webhook_dispatch.py."""
