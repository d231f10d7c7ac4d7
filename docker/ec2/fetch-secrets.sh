#!/bin/bash
# Writes /run/trident/secrets.env (root only) from Secrets Manager: run by
# trident-secrets.service at every boot, so restarted instances get current values.
set -euo pipefail
# shellcheck disable=SC1091
source /etc/trident/secrets.ref
secret() {
  aws secretsmanager get-secret-value --region "$AWS_REGION" --secret-id "$1" \
    --query SecretString --output text
}
umask 077
install -d -m 0700 /run/trident
db_password=$(secret "$DB_SECRET_ARN" | jq -r .password)
jwt_keys=$(secret "$JWT_SECRET_ARN" | jq -c .)
# Single quotes: systemd takes the value literally (neither secret can contain one).
printf "DB_PASSWORD='%s'\nJWT_SIGNING_KEYS='%s'\n" "$db_password" "$jwt_keys" \
  > /run/trident/secrets.env.tmp
mv /run/trident/secrets.env.tmp /run/trident/secrets.env
