"""Starts the real executables on loopback for benchmarks, and small HTTP helpers (stdlib only)."""
import http.client
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request

BIN = os.environ.get("RYMI_BIN_DIR", os.path.join(os.path.dirname(__file__), "..", ".build", "release"))
KEY = "key_bench_0123456789abcdef"
AUTH_ID = "MABENCHACCOUNT000001"
AUTH_TOKEN = "bench_token_0123456789"
SECRETS = {"RYMI_GATEWAY_SECRET": "bench-gateway-secret-0123456789abcdef", "RYMI_DIALER_SECRET": "bench-dialer-secret-0123456789abcdef"}


class Process:
    def __init__(self, name, env, log_dir):
        self.name = name
        self.log_path = os.path.join(log_dir, name + ".log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([os.path.join(BIN, name)], env={**os.environ, **env}, stdout=self.log, stderr=subprocess.STDOUT)

    def port(self, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with open(self.log_path) as f:
                for line in f:
                    try:
                        event = json.loads(line)
                    except ValueError:
                        continue
                    # The gateway's admin listener logs a second, marked event.
                    if event.get("event") == "listening" and "listener" not in event:
                        return int(event["addr"].rsplit(":", 1)[1])
            time.sleep(0.02)
        raise RuntimeError(f"{self.name} did not start; see {self.log_path}")

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Stack:
    """sim (optional) + manager + gateway + dialers, on ephemeral ports."""

    def __init__(self, dialers=1, manager_env=None, sim_env=None, gateway_env=None, simulator=True):
        self.dir = tempfile.mkdtemp(prefix="rymi-bench-")
        self.processes = []
        self.sim_port = None
        if simulator:
            sim = self.start("rymi-plivo-sim", {"RYMI_SIM_ADDR": "127.0.0.1:0", "PLIVO_AUTH_ID": AUTH_ID, "PLIVO_AUTH_TOKEN": AUTH_TOKEN,
                                                "RYMI_LOG_LEVEL": "warning", **(sim_env or {})}, wait_listening=True)
            self.sim_port = sim
        self.manager = self.start("rymi-manager", {"RYMI_MANAGER_LISTEN": "127.0.0.1:0", "RYMI_DATA_DIR": self.dir,
                                                   "RYMI_ACCOUNT_NUMBERS": "bench:+14155550100", **(manager_env or {})}, wait_listening=True)
        # Every load generator and idle connection comes from 127.0.0.1, so the per-address cap
        # (256 by default) is lifted; the admin listener takes any free port.
        self.gateway_port = self.start("rymi-gateway", {"RYMI_HTTP_ADDR": "127.0.0.1:0", "RYMI_ADMIN_ADDR": "127.0.0.1:0",
                                                         "RYMI_HTTP_MAX_CONNECTIONS_PER_ADDR": "20000",
                                                         "RYMI_MANAGER_ADDR": f"127.0.0.1:{self.manager}",
                                                         "RYMI_API_KEYS": f"bench:{KEY}", "PLIVO_AUTH_TOKEN": AUTH_TOKEN,
                                                         "RYMI_LOG_LEVEL": "warning", **(gateway_env or {})}, wait_listening=True)
        for index in range(dialers):
            self.add_dialer(index)
        time.sleep(0.5)

    def start(self, name, env, wait_listening=False):
        process = Process(name, {"RYMI_LOG_LEVEL": "info", **SECRETS, **env}, self.dir)
        self.processes.append(process)
        if wait_listening:
            # Services log "listening" at info; others may be quieter.
            return process.port()
        return process

    def add_dialer(self, index):
        return self.start("rymi-dialer", {"RYMI_MANAGER_ADDR": f"127.0.0.1:{self.manager}", "PLIVO_AUTH_ID": AUTH_ID, "PLIVO_AUTH_TOKEN": AUTH_TOKEN,
                                          "PLIVO_API_URL": f"http://127.0.0.1:{self.sim_port}", "RYMI_PUBLIC_URL": f"http://127.0.0.1:{self.gateway_port}",
                                          "RYMI_DIALER_NAME": f"bench-{index}"})

    def process(self, name):
        return next(p for p in self.processes if p.name == name)

    def api(self, method, path, body=None, raw=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(f"http://127.0.0.1:{self.gateway_port}/v1{path}", data=data, method=method,
                                         headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=300) as response:
            return json.loads(response.read())

    def page_through(self, path):
        """Follows next_cursor to the end over one keep-alive connection, the way a client
        exporting a campaign would; reads only the cursor and counts items, so Python's own JSON
        decoding does not become the thing measured. Returns (items, seconds per page)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.gateway_port, timeout=60)
        items, times, cursor = 0, [], None
        try:
            while True:
                started = time.perf_counter()
                connection.request("GET", "/v1" + path + (f"&cursor={cursor}" if cursor else ""), headers={"Authorization": f"Bearer {KEY}"})
                response = connection.getresponse()
                body = response.read()
                times.append(time.perf_counter() - started)
                if response.status != 200:
                    raise RuntimeError(f"page {len(times)}: {response.status} {body[:200]!r}")
                items += body.count(b'"campaign_id":')
                tail = body[body.rindex(b'"next_cursor":') + 14:]
                if tail.startswith(b"null"):
                    return items, times
                cursor = tail[1:tail.index(b'"', 1)].decode()
        finally:
            connection.close()

    def sim_calls(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.sim_port}/sim/calls", timeout=60) as response:
            return json.loads(response.read())

    def wait_completed(self, campaign, timeout=600):
        deadline = time.time() + timeout
        while time.time() < deadline:
            state = self.api("GET", f"/campaigns/{campaign}")
            if state["status"] == "completed":
                return state
            time.sleep(0.02)
        raise RuntimeError(f"campaign {campaign} did not complete: {state}")

    def stop(self):
        for process in reversed(self.processes):
            process.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


# Valid NANP numbers (1 NPA NXX XXXX): area codes 2-9, no 9 in the middle, not N11; exchanges
# 200-999, not N11. Block 0 is area code 555; each other block has an area code of its own.
AREA_CODES = [n for n in range(200, 990) if (n // 10) % 10 != 9 and n % 100 != 11 and n != 555]
EXCHANGES = [n for n in range(200, 1000) if n % 100 != 11]


# A fixed-offset zone where it is about noon now: callees there (the campaigns' zone, for the
# 555 numbers of block 0, whose area code has none) are inside their calling window whatever
# hour the bench runs at.
_offset = 12 - time.gmtime().tm_hour
MIDDAY_ZONE = "Etc/GMT" if _offset == 0 else (f"Etc/GMT-{_offset}" if _offset > 0 else f"Etc/GMT+{-_offset}")


def campaign_body(name):
    return {"name": name, "agent_id": "a", "call_from_number": "14155550100", "timezone": MIDDAY_ZONE}


def numbers(count, block=0):
    npa = 555 if block == 0 else AREA_CODES[block - 1]
    return [f"1{npa}{EXCHANGES[i // 10_000]}{i % 10_000:04d}" for i in range(count)]


def upload_body(phones):
    return json.dumps({"contacts": [{"phone_number": p, "variables": {"name": f"Customer {i}", "plan": "Gold"}} for i, p in enumerate(phones)]}).encode()
