"""Trident-Shared: network, database, bucket, queues, secrets, migrations."""

from __future__ import annotations

from aws_cdk.assertions import Match

from tests.cdk.conftest import Assembly


def test_vpc_spans_two_azs_with_three_tiers_and_one_nat(assembly: Assembly) -> None:
    shared = assembly.template("Shared")
    shared.resource_count_is("AWS::EC2::Subnet", 6)
    shared.resource_count_is("AWS::EC2::NatGateway", 1)
    shared.has_resource_properties(
        "AWS::EC2::VPCEndpoint",
        {
            "VpcEndpointType": "Gateway",
            "ServiceName": Match.object_like(
                {"Fn::Join": ["", Match.array_with([".s3"])]},
            ),
        },
    )
    shared.has_resource_properties("AWS::EC2::FlowLog", {"TrafficType": "REJECT"})


def test_postgres_is_encrypted_backed_up_and_protected(assembly: Assembly) -> None:
    shared = assembly.template("Shared")
    shared.has_resource_properties(
        "AWS::RDS::DBInstance",
        {
            "Engine": "postgres",
            "EngineVersion": "16",
            "StorageEncrypted": True,
            "BackupRetentionPeriod": 7,
            "DeletionProtection": True,
            "PubliclyAccessible": False,
            "MasterUsername": "trident",
            "MasterUserPassword": Match.object_like(
                {"Fn::Join": ["", Match.array_with(["{{resolve:secretsmanager:"])]}
            ),
        },
    )
    shared.has_resource_properties(
        "AWS::RDS::DBParameterGroup",
        {"Parameters": Match.object_like({"max_connections": "180", "rds.force_ssl": "1"})},
    )
    shared.has_resource(
        "AWS::RDS::DBInstance", {"DeletionPolicy": "Snapshot", "UpdateReplacePolicy": "Snapshot"}
    )


def test_bucket_blocks_public_access_requires_tls_and_expires_scratch(
    assembly: Assembly,
) -> None:
    shared = assembly.template("Shared")
    shared.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "BucketEncryption": Match.object_like({}),
            "CorsConfiguration": {
                "CorsRules": [
                    Match.object_like(
                        {
                            "AllowedMethods": Match.array_with(["POST", "GET"]),
                            "AllowedOrigins": ["*"],
                        }
                    )
                ]
            },
            "LifecycleConfiguration": {
                "Rules": Match.array_with(
                    [
                        Match.object_like(
                            {"AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}
                        ),
                        Match.object_like({"Prefix": "incoming/", "ExpirationInDays": 1}),
                        Match.object_like({"Prefix": "exports/", "ExpirationInDays": 7}),
                    ]
                )
            },
            "LoggingConfiguration": Match.object_like({"LogFilePrefix": "uploads-bucket/"}),
        },
    )
    shared.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                ),
                "Version": Match.any_value(),
            }
        },
    )


def test_jobs_queue_redrives_to_the_dlq_at_the_apps_receive_count(assembly: Assembly) -> None:
    queues = assembly.resources("Shared", "AWS::SQS::Queue")
    (main_id,) = [qid for qid, q in queues.items() if "RedrivePolicy" in q["Properties"]]
    (dlq_id,) = set(queues) - {main_id}
    props = queues[main_id]["Properties"]
    assert props["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
        "maxReceiveCount": 5,
    }
    assert props["VisibilityTimeout"] == 720  # six times the jobs function's 120 s
    for queue in queues.values():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True


def test_uploads_under_incoming_notify_the_jobs_queue(assembly: Assembly) -> None:
    assembly.template("Shared").has_resource_properties(
        "Custom::S3BucketNotifications",
        {
            "NotificationConfiguration": {
                "QueueConfigurations": [
                    Match.object_like(
                        {
                            "Events": ["s3:ObjectCreated:*"],
                            "Filter": {
                                "Key": {"FilterRules": [{"Name": "prefix", "Value": "incoming/"}]}
                            },
                        }
                    )
                ]
            }
        },
    )


def test_jwt_keys_are_generated_as_a_key_ring(assembly: Assembly) -> None:
    assembly.template("Shared").has_resource_properties(
        "AWS::SecretsManager::Secret",
        {
            "GenerateSecretString": Match.object_like(
                {"SecretStringTemplate": "{}", "GenerateStringKey": "k1", "PasswordLength": 64}
            )
        },
    )


def test_migrations_run_after_the_database_on_every_code_change(assembly: Assembly) -> None:
    (db_id,) = assembly.resources("Shared", "AWS::RDS::DBInstance")
    functions = assembly.resources("Shared", "AWS::Lambda::Function")
    (migrate_id,) = [
        fid
        for fid, fn in functions.items()
        if fn["Properties"].get("Handler") == "handlers.migrate.handler"
    ]
    (trigger,) = assembly.resources("Shared", "Custom::Trigger").values()
    assert db_id in trigger["DependsOn"]
    # ... and after the rule that lets the migration reach PostgreSQL.
    migrate_groups = functions[migrate_id]["Properties"]["VpcConfig"]["SecurityGroupIds"]
    (ingress_id,) = [
        rid
        for rid, rule in assembly.resources("Shared", "AWS::EC2::SecurityGroupIngress").items()
        if rule["Properties"].get("SourceSecurityGroupId") in migrate_groups
        and rule["Properties"]["ToPort"] == 5432
    ]
    assert ingress_id in trigger["DependsOn"]
    # The handler's version: a new bundle (a new migration) means a new run.
    (version_id,) = [
        vid
        for vid, version in assembly.resources("Shared", "AWS::Lambda::Version").items()
        if version["Properties"]["FunctionName"] == {"Ref": migrate_id}
    ]
    assert trigger["Properties"]["HandlerArn"] == {"Ref": version_id}
    env = functions[migrate_id]["Properties"]["Environment"]["Variables"]
    assert env["DB_SSLMODE"] == "require"
    assert env["DB_HOST"] == {"Fn::GetAtt": [db_id, "Endpoint.Address"]}
    assert "{{resolve:secretsmanager:" in str(env["DB_PASSWORD"])


def test_dead_letters_raise_an_alarm(assembly: Assembly) -> None:
    queues = assembly.resources("Shared", "AWS::SQS::Queue")
    (dlq_id,) = [qid for qid, q in queues.items() if "RedrivePolicy" not in q["Properties"]]
    assembly.template("Shared").has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq_id, "QueueName"]}}],
            "Threshold": 0,
            "ComparisonOperator": "GreaterThanThreshold",
            "AlarmActions": Match.any_value(),
        },
    )


ALLOWED = [
    "https://app.example.com",
    "https://lambda.example.com",
    "https://mi.example.com",
    "https://api.example.com",
    "https://ec2.example.com",
]


def test_bucket_cors_narrows_to_the_configured_origins(variant: Assembly) -> None:
    variant.template("Shared").has_resource_properties(
        "AWS::S3::Bucket",
        {
            "CorsConfiguration": {
                # The configured origin, then each target's own domain (its upload page).
                "CorsRules": [Match.object_like({"AllowedOrigins": ALLOWED})]
            }
        },
    )
    (fn,) = [
        fn
        for fn in variant.resources("Lambda", "AWS::Lambda::Function").values()
        if fn["Properties"].get("Handler") == "handlers.api.handler"
    ]
    env = fn["Properties"]["Environment"]["Variables"]
    assert env["FILES_CORS_ORIGINS"] == ",".join(ALLOWED)
    assert env["CORS_ORIGINS"] == "https://app.example.com"


def test_alarm_topic_key_lets_cloudwatch_publish(assembly: Assembly) -> None:
    (topic,) = assembly.resources("Shared", "AWS::SNS::Topic").values()
    key_id = topic["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]
    key = assembly.resources("Shared", "AWS::KMS::Key")[key_id]
    assert key["Properties"]["EnableKeyRotation"] is True
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    cloudwatch = [
        s for s in statements if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert len(cloudwatch) == 1
    assert sorted(cloudwatch[0]["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
