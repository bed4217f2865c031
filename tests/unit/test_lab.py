"""`make lab` — the analysts' and trainers' entry — starts JupyterLab (pinned in requirements.lock), as root
too, with the project kernel `ebpm`, which runs the cells of a notebook."""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import nbformat
import pytest
import websocket  # websocket-client, installed with jupyter_server

ROOT = Path(__file__).parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api(port: int, token: str, path: str, method: str = "GET", body: dict | None = None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read().decode())


def _execute(ws, code: str, timeout: float = 60) -> tuple[str, list[str]]:
    """Send one execute_request; return the reply status and the stream output."""
    msg_id = uuid.uuid4().hex
    ws.send(json.dumps({"header": {"msg_id": msg_id, "username": "test", "session": uuid.uuid4().hex,
                                   "msg_type": "execute_request", "version": "5.3"},
                        "parent_header": {}, "metadata": {}, "channel": "shell",
                        "content": {"code": code, "silent": False, "store_history": False,
                                    "user_expressions": {}, "allow_stdin": False}}))
    out, status, end = [], None, time.monotonic() + timeout
    while status is None and time.monotonic() < end:
        m = json.loads(ws.recv())
        if m.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        if m["msg_type"] == "stream":
            out.append(m["content"]["text"])
        elif m["msg_type"] == "error":
            out.append(f"{m['content']['ename']}: {m['content']['evalue']}")
        elif m["msg_type"] == "execute_reply":
            status = m["content"]["status"]
    return status, out


@pytest.fixture
def lab():
    port, token = _free_port(), uuid.uuid4().hex
    # -o: never remake the venv from a test (the suite runs inside it)
    cmd = ["make", "-s", "-o", ".venv/.installed", "lab",
           f"LAB_ARGS=--no-browser --ip=127.0.0.1 --port={port} --IdentityProvider.token={token}"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True, text=True)
    try:
        end = time.monotonic() + 90
        while True:
            try:
                _api(port, token, "/api/status")
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > end:
                    out = proc.stdout.read() if proc.poll() is not None else "(still starting)"
                    pytest.fail(f"JupyterLab did not start (exit {proc.poll()}):\n{out[-3000:]}")
                time.sleep(0.5)
        yield port, token
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_make_lab_serves_the_ebpm_kernel_which_runs_notebook_cells(lab):
    port, token = lab
    specs = _api(port, token, "/api/kernelspecs")["kernelspecs"]
    assert "ebpm" in specs and specs["ebpm"]["spec"]["display_name"] == "Python (ebpm)"
    kernel = _api(port, token, "/api/kernels", "POST", {"name": "ebpm"})
    ws = websocket.create_connection(f"ws://127.0.0.1:{port}/api/kernels/{kernel['id']}/channels?token={token}",
                                     timeout=60)
    try:
        cells = [c.source for c in nbformat.read(ROOT / "notebooks" / "_template.ipynb", as_version=4).cells
                 if c.cell_type == "code"][:2]   # the parameters cell and the set-up cell (loads the city)
        for src in cells:
            status, out = _execute(ws, src)
            assert status == "ok", "".join(out)
        status, out = _execute(ws, "print(name, len(areas))")
        assert status == "ok" and "".join(out).strip() == "熊本市 5"   # the template's default city, 5 wards
    finally:
        ws.close()
