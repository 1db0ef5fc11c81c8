"""Translates the SAM template to CloudFormation, as `sam deploy` would.

Usage: sam-translate.py TEMPLATE [OUT.json]. Prints the CloudFormation
template (JSON) to OUT or stdout. Offline: the region only formats ARNs, and
the AWS managed policies SAM attaches are named by ARN, not looked up.
"""
import json
import sys

import boto3
from cfnlint.decode import decode
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator


def translate(path: str) -> dict:
    template, matches = decode(path)
    if matches:
        raise SystemExit("\n".join(str(m) for m in matches))
    # What `sam package` does: local code locations become S3 URIs.
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource.setdefault("Properties", {})["CodeUri"] = "s3://packaged/code.zip"
    translator = Translator(
        managed_policy_map={},
        sam_parser=Parser(),
        boto_session=boto3.session.Session(region_name="us-east-1"),
    )
    return translator.translate(sam_template=template, parameter_values={})


def main(argv: list[str]) -> int:
    translated = json.dumps(translate(argv[1]), indent=1, sort_keys=True)
    if len(argv) > 2:
        with open(argv[2], "w") as out:
            out.write(translated)
    else:
        print(translated)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
