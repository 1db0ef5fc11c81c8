"""Turns on IAM enforcement in a moto server and prints the admin identity.

Creates the IAM user the tests' own clients sign with (every action on
every resource: the harness plays the deployer and the platform), then asks
moto to check every later request's signature and actions. Prints
`ACCESS_KEY_ID SECRET_ACCESS_KEY`.

Usage: moto-enforce-iam.py ENDPOINT
"""
import json
import sys
import urllib.request

import boto3

ADMIN = "entra-sync-tests-admin"


def main(endpoint: str) -> int:
    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bootstrap",
        aws_secret_access_key="bootstrap",
    )
    iam.create_user(UserName=ADMIN)
    iam.put_user_policy(
        UserName=ADMIN,
        PolicyName="everything",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
        ),
    )
    key = iam.create_access_key(UserName=ADMIN)["AccessKey"]
    # From now on (0 unauthenticated requests left) every request is checked.
    urllib.request.urlopen(
        urllib.request.Request(
            f"{endpoint}/moto-api/reset-auth",
            data=b"0",
            method="POST",
            # Not a form: moto reads the raw body.
            headers={"Content-Type": "text/plain"},
        )
    ).read()
    print(key["AccessKeyId"], key["SecretAccessKey"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
