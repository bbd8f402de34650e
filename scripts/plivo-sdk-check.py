"""Plivo's official Python SDK (PyPI `plivo`) against rymi-plivo-sim, for every endpoint the
dialers use and the ones the compliance work needs: create (fired and queued), the queued ids and
one queued call, cancel a queued request, live ids, the call list and one call, and a 401 for
wrong credentials. So the simulator speaks Plivo's contract, not only ours. Prints `sdk: all endpoints ok` or what failed."""
import json
import os
import subprocess
import sys
import time

try:
    import plivo
except ImportError:  # make test on a fresh machine: fetch it from PyPI
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "plivo"], check=True)
    import plivo
import plivo.rest.client as client

BIN = os.environ.get("RYMI_BIN_DIR", ".build/debug")
AUTH_ID, TOKEN = "MASDKCHECK0000000001", "sdk_check_token_0123456789"
sim = subprocess.Popen([os.path.join(BIN, "rymi-plivo-sim")], env={**os.environ, "RYMI_SIM_ADDR": "127.0.0.1:0", "PLIVO_AUTH_ID": AUTH_ID,
                       "PLIVO_AUTH_TOKEN": TOKEN, "RYMI_LOG_LEVEL": "info", "RYMI_SIM_RING_MS": "200", "RYMI_SIM_TALK_MS": "300", "RYMI_SIM_CPS": "1"},
                       stdout=subprocess.PIPE, text=True)
port = None
for line in sim.stdout:
    event = json.loads(line)
    if event.get("event") == "listening":
        port = event["addr"].rsplit(":", 1)[1]
        break
base = f"http://127.0.0.1:{port}"
for name in ["PLIVO_API", "API_VOICE", "API_VOICE_FALLBACK_1", "API_VOICE_FALLBACK_2"]:
    setattr(client, name, base)
for name in ["PLIVO_API_BASE_URI", "API_VOICE_BASE_URI", "API_VOICE_BASE_URI_FALLBACK_1", "API_VOICE_BASE_URI_FALLBACK_2"]:
    setattr(client, name, base + "/v1/Account")
failures = []
def check(name, fn):
    try:
        result = fn()
        print(f"ok   {name}: {str(result)[:160]}")
        return result
    except Exception as error:
        failures.append(name)
        print(f"FAIL {name}: {type(error).__name__}: {str(error)[:300]}")
try:
    api = plivo.RestClient(AUTH_ID, TOKEN)
    first = check("calls.create", lambda: api.calls.create(from_="14155550100", to_="15552000001", answer_url=base + "/healthz"))
    # Plivo queues calls above the account's rate (here 1 a second): the second waits, and is cancelled.
    second = check("calls.create (queued)", lambda: api.calls.create(from_="14155550100", to_="15552000002", answer_url=base + "/healthz"))
    if second is not None and second.message != "call queued":
        failures.append("queued"); print(f"FAIL queued: {second.message}")
    queued = check("queued_calls.list_ids", lambda: api.queued_calls.list_ids())
    if queued is not None and list(queued.calls) != [second.request_uuid]:
        failures.append("queued ids"); print(f"FAIL queued ids: {queued.calls}")
    check("queued_calls.get", lambda: api.queued_calls.get(second.request_uuid))
    check("calls.cancel", lambda: api.calls.cancel(second.request_uuid))
    check("live_calls.list_ids", lambda: api.live_calls.list_ids())
    for _ in range(100):
        if len(api.calls.list()) > 0:
            break
        time.sleep(0.1)
    listed = check("calls.list", lambda: api.calls.list())
    if listed is not None and len(listed) != 1:
        failures.append("list"); print(f"FAIL list: {len(listed)} calls, expected the first only (the second was cancelled)")
    check("calls.get", lambda: api.calls.get(listed[0].call_uuid))
    bad = plivo.RestClient(AUTH_ID, "wrong_token_0123456789")
    try:
        bad.calls.create(from_="14155550100", to_="15552000001", answer_url=base + "/healthz")
        failures.append("401"); print("FAIL 401: accepted")
    except plivo.exceptions.AuthenticationError:
        print("ok   401 for bad credentials")
finally:
    sim.terminate()
print("sdk:", "all endpoints ok" if not failures else "failed: " + ", ".join(failures))
sys.exit(1 if failures else 0)
