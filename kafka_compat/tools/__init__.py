"""Operator tools behind `kafka-compat groups|transactions`: blocking clients of the
Kafka protocol that work against any broker, ours or Kafka's."""
