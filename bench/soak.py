"""make soak: mixed API traffic as fast as the machine allows plus a running campaign, for
SOAK_SECONDS (default 600). Every 10 s: request rate, errors, p99 latency, and each process's RSS.
Ends with a verdict: errors must be 0 and RSS flat (the last third no more than 10% above the
second third, allowing for warm-up)."""
import http.client
import json
import os
import random
import sys
import threading
import time

from stack import KEY, Stack, numbers, upload_body, campaign_body

DURATION = int(os.environ.get("SOAK_SECONDS", "600"))
WORKERS = int(os.environ.get("SOAK_WORKERS", "8"))


class Worker(threading.Thread):
    def __init__(self, port, campaigns, stats, stop):
        super().__init__(daemon=True)
        self.port, self.campaigns, self.stats, self.stop = port, campaigns, stats, stop
        self.connection = None
        self.uploads = 0

    def request(self, method, path, body=None):
        if self.connection is None:
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        started = time.perf_counter()
        try:
            self.connection.request(method, "/v1" + path, body=body,
                                    headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
            response = self.connection.getresponse()
            payload = response.read()
            ok = response.status < 500 and response.status != 429 or response.status == 409
            if not ok:
                self.stats.error(f"{method} {path.split('?')[0]} -> {response.status} {payload[:120]!r}")
            self.stats.record(time.perf_counter() - started, ok)
            return json.loads(payload) if payload else None
        except Exception as error:  # a dropped connection is an error too
            self.connection = None
            self.stats.error(f"{method} {path}: {error}")
            self.stats.record(time.perf_counter() - started, False)
            return None

    def run(self):
        prefix = random.randint(100, 999)
        while not self.stop.is_set():
            campaign = random.choice(self.campaigns)
            roll = random.random()
            if roll < 0.55:
                self.request("GET", f"/campaigns/{campaign}")
            elif roll < 0.70:
                self.request("GET", "/campaigns?limit=20")
            elif roll < 0.85:
                self.request("GET", f"/campaigns/{campaign}/contacts?limit=100")
            elif roll < 0.93:
                self.uploads += 1
                phones = [f"1{prefix}{self.uploads:05d}{i:02d}" for i in range(20)]
                self.request("POST", f"/campaigns/{campaign}/contacts", body=upload_body(phones))
            elif roll < 0.97:
                self.request("POST", "/dnc", body=json.dumps({"phone_numbers": [numbers(1, block=50)[0][:-4] + f"{random.randint(0, 9999):04d}"]}))
            else:
                self.request("GET", "/dnc?limit=50")


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.latencies, self.errors, self.count, self.samples = [], 0, 0, []

    def record(self, seconds, ok):
        with self.lock:
            self.latencies.append(seconds)
            self.count += 1
            self.errors += 0 if ok else 1

    def error(self, message):
        with self.lock:
            if len(self.samples) < 10:
                self.samples.append(message)

    def take(self):
        with self.lock:
            latencies, count, errors = self.latencies, self.count, self.errors
            self.latencies, self.count, self.errors = [], 0, 0
        latencies.sort()
        p99 = latencies[int(len(latencies) * 0.99)] if latencies else 0
        return count, errors, p99


def main():
    stack = Stack(dialers=2, manager_env={"RYMI_DIAL_CPS": "20", "RYMI_MAX_CONCURRENT_CALLS": "100"},
                  sim_env={"RYMI_SIM_RING_MS": "200", "RYMI_SIM_TALK_MS": "2000"},
                  gateway_env={"RYMI_RATE_LIMIT": "0", "RYMI_LOG_LEVEL": "warning"})
    try:
        campaigns = [stack.api("POST", "/campaigns", campaign_body(f"soak {i}"))["campaign_id"]
                     for i in range(5)]
        for campaign in campaigns:
            stack.api("POST", f"/campaigns/{campaign}/contacts", raw=upload_body(numbers(2000, block=40 + campaigns.index(campaign))))
        dialing = campaigns[0]
        stack.api("POST", f"/campaigns/{dialing}/start")
        stats, stop = Stats(), threading.Event()
        workers = [Worker(stack.gateway_port, campaigns[1:], stats, stop) for _ in range(WORKERS)]
        for worker in workers:
            worker.start()
        names = ["rymi-gateway", "rymi-manager", "rymi-dialer", "rymi-plivo-sim"]
        print(f"{'t (s)':>6} {'req/s':>8} {'errors':>7} {'p99 ms':>8} " + " ".join(f"{n.replace('rymi-', '') + ' MB':>12}" for n in names), flush=True)
        rows, total_requests, total_errors = [], 0, 0
        started = time.time()
        while time.time() - started < DURATION:
            time.sleep(10)
            count, errors, p99 = stats.take()
            total_requests += count
            total_errors += errors
            rss = [stack.process(n).rss_kib() / 1024 for n in names]
            rows.append(rss)
            print(f"{time.time() - started:>6.0f} {count / 10:>8.0f} {errors:>7} {p99 * 1000:>8.2f} " + " ".join(f"{r:>12.1f}" for r in rss), flush=True)
        stop.set()
        state = stack.api("GET", f"/campaigns/{dialing}")
        third = max(1, len(rows) // 3)
        flat = all(max(r[i] for r in rows[-third:]) <= 1.10 * max(r[i] for r in rows[third:2 * third] or rows) + 2 for i in range(len(names)))
        print(f"soak: {DURATION} s, {total_requests} requests, {total_errors} errors, campaign {state['status']} "
              f"({state['contact_counts']}), RSS {'flat' if flat else 'GROWING'}")
        for sample in stats.samples:
            print("  error:", sample)
        sys.exit(0 if total_errors == 0 and flat else 1)
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
