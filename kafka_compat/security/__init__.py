"""Security: who a connection is (its listener, principal and SASL state), and later
what that principal may do (ACLs) and how fast (quotas). Issue 13."""
