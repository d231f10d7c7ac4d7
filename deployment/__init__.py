"""What a deployment is made of, shared by the CDK app (``cdk``) and the bench (``bench``):
its settings and sizes (``deployment.settings``) and its Lambda packages
(``deployment.lambda_bundle``). Imports neither ``cdk``, ``aws_cdk`` nor ``app``."""
