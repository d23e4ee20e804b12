"""API handlers, one module per API family (Kafka's KafkaApis, split by family).

`registry.py` holds the registry and the request context; `handlers.py` imports
every handler module so that each registers itself beside its handler.
"""
