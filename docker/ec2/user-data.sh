#!/bin/bash
# Trident EC2 boot (Amazon Linux 2023). cdk/components/ec2_api.py fills the placeholders.
# Installs Python 3.12 and exactly the locked dependencies, writes the app's settings, starts
# Gunicorn (web) and the jobs worker under systemd, then signals CloudFormation once the target
# group reports the instance healthy, so a rolling update only moves on with instances that
# really serve through the load balancer.
set -euo pipefail
exec > >(tee -a /var/log/trident-boot.log) 2>&1

REGION='@@REGION@@'
signal() {
  /opt/aws/bin/cfn-signal --exit-code "$1" --region "$REGION" \
    --stack '@@STACK@@' --resource '@@ASG_LOGICAL_ID@@' || true
}
trap 'signal 1' ERR

dnf install -y -q python3.12 python3.12-pip unzip jq aws-cfn-bootstrap amazon-cloudwatch-agent

id trident >/dev/null 2>&1 || useradd --system --home-dir /opt/trident --shell /sbin/nologin trident
install -d -m 0755 /opt/trident /etc/trident
install -d -m 0755 -o trident -g trident /var/log/trident

# The app: the source asset CDK uploaded, and a venv with the locked dependencies.
aws s3 cp '@@SOURCE_URL@@' /tmp/trident-src.zip --region "$REGION" --only-show-errors
rm -rf /opt/trident/src && install -d /opt/trident/src
unzip -q /tmp/trident-src.zip -d /opt/trident/src && rm /tmp/trident-src.zip
python3.12 -m venv /opt/trident/venv
/opt/trident/venv/bin/pip install --quiet --no-cache-dir --disable-pip-version-check \
  --only-binary=:all: -r /opt/trident/src/requirements.lock
/opt/trident/venv/bin/pip install --quiet --no-cache-dir --disable-pip-version-check \
  --no-deps /opt/trident/src
chown -R root:root /opt/trident/src /opt/trident/venv

# Settings (not secret) and where the secrets are; trident-secrets.service reads them at boot.
cat > /etc/trident/app.env <<'ENV'
@@APP_ENV@@
ENV
cat > /etc/trident/web.env <<'ENV'
@@WEB_ENV@@
ENV
cat > /etc/trident/worker.env <<'ENV'
@@WORKER_ENV@@
ENV
cat > /etc/trident/secrets.ref <<'ENV'
AWS_REGION=@@REGION@@
DB_SECRET_ARN=@@DB_SECRET_ARN@@
JWT_SECRET_ARN=@@JWT_SECRET_ARN@@
ENV
chmod 0644 /etc/trident/*.env /etc/trident/secrets.ref

# Logs of both services to CloudWatch Logs.
sed -e 's|__LOG_GROUP__|@@LOG_GROUP@@|' /opt/trident/src/docker/ec2/cloudwatch-agent.json \
  > /etc/trident/cloudwatch-agent.json
install -m 0644 /opt/trident/src/docker/ec2/trident.logrotate /etc/logrotate.d/trident
/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s \
  -c file:/etc/trident/cloudwatch-agent.json

install -m 0644 /opt/trident/src/docker/ec2/trident-*.service /etc/systemd/system/
# systemd's stop timeout follows the stack's graceful_timeout_s (Gunicorn's GRACEFUL_TIMEOUT).
mkdir -p /etc/systemd/system/trident-web.service.d
cat > /etc/systemd/system/trident-web.service.d/stop.conf <<'UNIT'
[Service]
TimeoutStopSec=@@WEB_STOP_TIMEOUT_S@@
UNIT
systemctl daemon-reload
systemctl enable --now trident-secrets.service trident-web.service trident-worker.service

# Healthy on its own first, then healthy as the load balancer sees it (2 checks 15 s apart):
# only then does the rolling update go on. A failure or no signal rolls the update back.
answered=no
for _ in $(seq 1 60); do
  if curl -fsS -o /dev/null http://127.0.0.1:8000/health; then answered=yes; break; fi
  sleep 5
done
if [ "$answered" != yes ]; then
  echo "trident-web never answered /health" >&2
  signal 1
  exit 1
fi
imds_token=$(curl -fsS -X PUT http://169.254.169.254/latest/api/token \
  -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')
instance_id=$(curl -fsS -H "X-aws-ec2-metadata-token: $imds_token" \
  http://169.254.169.254/latest/meta-data/instance-id)
for _ in $(seq 1 120); do
  state=$(aws elbv2 describe-target-health --region "$REGION" \
    --target-group-arn '@@TARGET_GROUP_ARN@@' --targets "Id=$instance_id" \
    --query 'TargetHealthDescriptions[0].TargetHealth.State' --output text || true)
  if [ "$state" = healthy ]; then
    signal 0
    exit 0
  fi
  sleep 5
done
echo "the target group never reported $instance_id healthy (last state: ${state:-none})" >&2
signal 1
exit 1
