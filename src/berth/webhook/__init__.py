"""Harbor's project webhooks: what a policy may say (`policy`), the bodies sent for an event
(`payloads`), the bus subscriber that turns events into delivery jobs (`dispatch`), and the delivery
job kinds WEBHOOK and SLACK (`delivery`). Policy storage is services/webhooks.py."""
