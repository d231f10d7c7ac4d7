"""The CDK app that deploys Trident (run as a module from the repo root: ``python -m cdk.main``)."""
