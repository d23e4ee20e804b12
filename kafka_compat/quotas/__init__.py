"""Client quotas (Kafka's ClientQuotaManager): byte rates, request time and controller
mutations (partitions created and deleted) per user, client-id and (user, client-id),
stored like Kafka's /config/clients and /config/users, and the IP entity's connection
creation rate (stored and described; the connection limits apply it)."""
