"""JWT signing keys, generated at deploy time into Secrets Manager."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from cdk.components.nag import acknowledge

# The first key id; add another key to the JSON to rotate (JWT_ACTIVE_KID picks the signer).
FIRST_KID = "k1"


class JwtKeys(Construct):
    """Exposes ``secret``: the JSON object ``{kid: secret}`` the app reads as JWT_SIGNING_KEYS."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.secret = secretsmanager.Secret(
            self,
            "Secret",
            description="Trident JWT signing keys: JSON {kid: secret} (JWT_SIGNING_KEYS)",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template="{}",  # noqa: S106 - an empty JSON object
                generate_string_key=FIRST_KID,
                password_length=64,
                exclude_punctuation=True,
            ),
            removal_policy=RemovalPolicy.DESTROY,
        )
        acknowledge(
            self.secret,
            {
                "AwsSolutions-SMG4": (
                    "Signing keys rotate by adding a kid to the JSON and setting JWT_ACTIVE_KID "
                    "(tokens signed by the old kid stay valid until they expire); a rotation "
                    "Lambda replacing the value would log every user out."
                )
            },
        )
