#!/usr/bin/env python3
"""A real S3-compatible server on loopback that checks request signatures, for wetmr's tests.

    s3server.py BUCKET FILE...

Starts moto's S3 server on a free port of 127.0.0.1 with authentication on (moto then
verifies every request's AWS Signature V4 against the access keys of its IAM), creates a
user with an access key allowed everything, a bucket, and one object per FILE (its key is
the file's name), then prints one JSON line {"port", "access_key", "secret_key"} and serves
until killed.
"""

import json
import os
import sys
import time

# The first requests (setting up IAM) are let through unsigned; all later ones are checked.
os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "3"

import boto3  # noqa: E402  (moto reads the variable above when imported)
from moto.server import ThreadedMotoServer  # noqa: E402

bucket, files = sys.argv[1], sys.argv[2:]
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
host, port = server.get_host_and_port()
endpoint = "http://127.0.0.1:%d" % port

iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id="setup", aws_secret_access_key="setup")
iam.create_user(UserName="wetmr")
key = iam.create_access_key(UserName="wetmr")["AccessKey"]
iam.put_user_policy(UserName="wetmr", PolicyName="everything", PolicyDocument=json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}))
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id=key["AccessKeyId"],
                  aws_secret_access_key=key["SecretAccessKey"])
s3.create_bucket(Bucket=bucket)
for path in files:
    with open(path, "rb") as f:
        s3.put_object(Bucket=bucket, Key=os.path.basename(path), Body=f.read())

print(json.dumps({"port": port, "access_key": key["AccessKeyId"],
                  "secret_key": key["SecretAccessKey"]}), flush=True)
while True:
    time.sleep(3600)
