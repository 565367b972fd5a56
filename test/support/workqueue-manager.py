#!/usr/bin/python3
"""A cctools WorkQueue manager for the end-to-end tests, driven through JSON lines.

    workqueue-manager.py [--port N] [--password-file FILE]

stdout, one JSON object per line:
    {"event": "listening", "port": N}
    {"event": "done", "tag": ..., "output": ..., "result": R, "exit": E, "host": ..., "at": T}
    {"event": "stats", "waiting": W, "running": R, "workers": N, "complete": C}
stdin, one JSON object per line:
    {"cmd": "submit", "tasks": [{"tag": "t1", "command": "echo 1", "cores": 1}, ...]}
    {"cmd": "stats"}
    {"cmd": "quit"}            (end of input quits too)

The Python API has no bind address: the manager listens on every interface, on a port
chosen from TCP_LOW_PORT..TCP_HIGH_PORT when --port is 0. With --password-file only workers
that know the password are accepted.
"""
import argparse
import json
import os
import select
import sys
import time

import work_queue as wq


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--password-file")
    args = parser.parse_args()

    q = wq.WorkQueue(port=args.port)
    if args.password_file:
        q.specify_password_file(args.password_file)
    emit({"event": "listening", "port": q.port})

    stdin = sys.stdin.fileno()
    os.set_blocking(stdin, False)
    pending = b""
    open_input = True
    while True:
        # Commands first, so a submission is queued before the next wait.
        if open_input and select.select([stdin], [], [], 0)[0]:
            chunk = os.read(stdin, 65536)
            if not chunk:
                open_input = False
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                if not line.strip():
                    continue
                msg = json.loads(line)
                if msg["cmd"] == "submit":
                    for spec in msg["tasks"]:
                        t = wq.Task(spec["command"])
                        t.specify_tag(spec["tag"])
                        if "cores" in spec:
                            t.specify_cores(spec["cores"])
                        if "running_time_min" in spec:
                            t.specify_running_time_min(spec["running_time_min"])
                        q.submit(t)
                elif msg["cmd"] == "stats":
                    s = q.stats
                    emit({"event": "stats", "waiting": s.tasks_waiting, "running": s.tasks_running,
                          "workers": s.workers_connected, "complete": s.tasks_complete})
                elif msg["cmd"] == "quit":
                    return
        if not open_input:
            return
        # wait() also serves the workers (connections, keepalives, results); with nothing
        # queued it returns at once, hence the nap. (Its timeout is whole seconds.)
        t = q.wait(1)
        if t is None and q.empty():
            time.sleep(0.1)
        if t is not None:
            emit({"event": "done", "tag": t.tag, "output": t.output or "", "result": t.result,
                  "exit": t.return_status, "host": t.hostname, "at": time.time()})


if __name__ == "__main__":
    main()
