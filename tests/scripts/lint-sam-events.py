"""Translates the SAM template to CloudFormation and lints the result.

cfn-lint no longer looks inside a SAM function's `Events`, so a bad route,
auth setting or event-source property would pass unnoticed; the translated
template carries them as plain resources that it does check.
"""
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("sam_translate", os.path.join(HERE, "sam-translate.py"))
sam_translate = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sam_translate)


def main(path: str) -> int:
    translated = sam_translate.translate(path)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as out:
        json.dump(translated, out)
    cfn_lint = os.path.join(os.path.dirname(sys.executable), "cfn-lint")
    return subprocess.call([cfn_lint, out.name])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
