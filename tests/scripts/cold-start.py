#!/usr/bin/env python3
"""Size and cold start of each function binary (figures, no assertions).

Cold start here is what the process does before it is ready to work: from
its start to its first Runtime API `next` request, which a local socket
standing in for the Runtime API sees. The median of repeated starts is
printed as a Markdown table row per binary.
Usage: cold-start.py RELEASE_DIR [STARTS]
"""
import os
import socket
import statistics
import subprocess
import sys
import time

FUNCTIONS = ["oauth-callback", "sync-scheduler", "sync-worker", "export-stream", "verify-password"]

# Every variable any function requires, with placeholder values: the
# functions build their clients but never reach AWS before `next`.
ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "f", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
    "AWS_LAMBDA_FUNCTION_VERSION": "1", "AWS_LAMBDA_LOG_STREAM_NAME": "s",
    "AWS_LAMBDA_LOG_GROUP_NAME": "g", "INTEGRATIONS_TABLE": "t", "DIRECTORY_TABLE": "d",
    "ENTRA_CLIENT_ID": "c", "ENTRA_CLIENT_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:1:secret:x",
    "SYNC_QUEUE_URL": "http://127.0.0.1:1/q", "ENTRA_REDIRECT_URI": "https://x.example/entra/callback",
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
    release = sys.argv[1]
    starts = int(sys.argv[2]) if len(sys.argv) > 2 else 15
    print("| binary | size | cold start (median of %d) |" % starts)
    print("|---|---|---|")
    for name in FUNCTIONS:
        binary = os.path.join(release, name)
        if not os.path.exists(binary):
            print(f"| {name} | not built | |")
            continue
        size = os.path.getsize(binary) / 1_000_000
        times = [start_once(binary) for _ in range(starts)]
        print(f"| {name} | {size:.1f} MB | {statistics.median(times):.1f} ms |")


if __name__ == "__main__":
    main()
