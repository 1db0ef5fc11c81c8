"""Translates the SAM template to CloudFormation and lints the result.

cfn-lint no longer looks inside a SAM function's `Events`, so a bad route,
auth setting or event-source property would pass unnoticed; the translated
template carries them as plain resources that it does check.
"""
import json
import os
import subprocess
import sys
import tempfile

import boto3

from cfnlint.decode import decode
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator


def main(path: str) -> int:
    template, matches = decode(path)
    if matches:
        for match in matches:
            print(match, file=sys.stderr)
        return 1
    # What `sam package` does: local code locations become S3 URIs.
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource.setdefault("Properties", {})["CodeUri"] = "s3://packaged/code.zip"
    # Offline: no managed policies are looked up (the template has none) and
    # the region is only used to format ARNs.
    translator = Translator(
        managed_policy_map={},
        sam_parser=Parser(),
        boto_session=boto3.session.Session(region_name="us-east-1"),
    )
    translated = translator.translate(sam_template=template, parameter_values={})
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as out:
        json.dump(translated, out)
        cfn_lint = os.path.join(os.path.dirname(sys.executable), "cfn-lint")
    return subprocess.call([cfn_lint, out.name])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
