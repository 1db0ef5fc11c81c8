#!/usr/bin/env python3
"""Size and cold start of each function binary (figures, no assertions).

Cold start here is what the process does before it is ready to work: from
its start to its first Runtime API `next` request, which a local socket
standing in for the Runtime API sees. The median of repeated starts is
printed as a Markdown table row per binary, and written as JSON when asked.
Usage: cold-start.py RELEASE_DIR [STARTS] [--json FILE]
"""
import json
import os
import socket
import statistics
import subprocess
import sys
import time

FUNCTIONS = ["oauth-callback", "sync-scheduler", "sync-worker", "export-stream", "verify-password", "graph-notifications"]

# Every variable any function requires, with placeholder values: the
# functions build their clients but never reach AWS before `next`.
ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "f", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
    "AWS_LAMBDA_FUNCTION_VERSION": "1", "AWS_LAMBDA_LOG_STREAM_NAME": "s",
    "AWS_LAMBDA_LOG_GROUP_NAME": "g", "INTEGRATIONS_TABLE": "t", "DIRECTORY_TABLE": "d",
    "ENTRA_CLIENT_ID": "c", "ENTRA_CLIENT_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:1:secret:x",
    "SYNC_QUEUE_URL": "http://127.0.0.1:1/q", "ENTRA_REDIRECT_URI": "https://x.example/entra/callback",
    "NOTIFICATION_URL": "https://x.example/entra/notifications?key=cold-start-measurement-key",
    "PORTAL_RETURN_URL": "https://x.example/portal", "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_EC2_METADATA_DISABLED": "true",
}


def start_once(binary):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    env = dict(os.environ, **ENV, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{listener.getsockname()[1]}")
    started = time.perf_counter()
    process = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    connection, _ = listener.accept()
    connection.recv(1024)
    elapsed = time.perf_counter() - started
    process.kill()
    process.wait()
    connection.close()
    listener.close()
    return elapsed * 1000


def main():
    args = sys.argv[1:]
    out = None
    if "--json" in args:
        at = args.index("--json")
        out = args[at + 1]
        del args[at:at + 2]
    release = args[0]
    starts = int(args[1]) if len(args) > 1 else 15
    rows = []
    print("| binary | size | cold start (median of %d) |" % starts)
    print("|---|---|---|")
    for name in FUNCTIONS:
        binary = os.path.join(release, name)
        if not os.path.exists(binary):
            print(f"| {name} | not built | |")
            continue
        size = os.path.getsize(binary) / 1_000_000
        times = [start_once(binary) for _ in range(starts)]
        median = statistics.median(times)
        print(f"| {name} | {size:.1f} MB | {median:.1f} ms |")
        rows.append({"binary": name, "size_mb": round(size, 2), "cold_start_ms": round(median, 2), "starts": starts})
    if out:
        with open(out, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
