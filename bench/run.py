"""make bench: every performance target with our figure beside it, measured in one run.

Release binaries, load generators on the same 2-core box. Prints one table at the end (and each
figure as it is measured). Needs wrk (make bench installs it) and builds the Hummingbird
reference in bench/hummingbird when it can."""
import http.client
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

from stack import KEY, Stack, numbers, upload_body, campaign_body

ROOT = os.path.dirname(os.path.abspath(__file__))
results = []


def report(what, target, figure, ok):
    results.append((what, target, figure, "yes" if ok is True else ("no" if ok is False else ok)))
    print(f"  {what}: {figure}  (target {target})", flush=True)


def wrk(url, seconds=10, connections=64, header=None):
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if header:
        command[1:1] = ["-H", header]
    output = subprocess.run(command, capture_output=True, text=True).stdout
    rate = float(next(line.split()[1] for line in output.splitlines() if line.startswith("Requests/sec")))
    def percentile(label):
        line = next(line for line in output.splitlines() if line.strip().startswith(label))
        value = line.split()[1]
        return float(value[:-2]) if value.endswith("ms") else float(value[:-2]) / 1000 if value.endswith("us") else float(value[:-1]) * 1000
    errors = sum(int(part) for line in output.splitlines() if "Non-2xx" in line for part in line.split()[-1:])
    return rate, percentile("50%"), percentile("99%"), errors


def hummingbird_reference():
    """Builds and starts the Hummingbird server; returns (process, port) or None."""
    build = subprocess.run(["swift", "build", "-c", "release", "--package-path", os.path.join(ROOT, "hb-reference"),
                            "--scratch-path", os.path.join(ROOT, "..", ".build-bench-hummingbird")],
                           capture_output=True, text=True)
    if build.returncode != 0:
        print("  hummingbird reference did not build:", build.stderr[-300:])
        return None
    binary = os.path.join(ROOT, "..", ".build-bench-hummingbird", "release", "hb-reference")
    process = subprocess.Popen([binary], env={**os.environ, "HB_PORT": "18181"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.5)
    return process, 18181


def http_layer():
    print("HTTP layer", flush=True)
    stack = Stack(dialers=0, simulator=False, gateway_env={"RYMI_RATE_LIMIT": "0", "RYMI_LOG_LEVEL": "warning"})
    reference = hummingbird_reference()
    try:
        ours = wrk(f"http://127.0.0.1:{stack.gateway_port}/healthz")
        rss = stack.process("rymi-gateway").rss_kib() / 1024
        if reference:
            theirs = wrk("http://127.0.0.1:18181/healthz")
            ratio = ours[0] / theirs[0]
            report("GET /healthz, wrk -c64", "≥ 1.0× Hummingbird, p99 ≤ 5 ms",
                   f"{ours[0]:,.0f} req/s, p99 {ours[2]:.2f} ms; Hummingbird {theirs[0]:,.0f} req/s, p99 {theirs[2]:.2f} ms: {ratio:.2f}×",
                   ratio >= 1.0 and ours[2] <= 5)
        else:
            report("GET /healthz, wrk -c64", "≥ 1.0× Hummingbird, p99 ≤ 5 ms", f"{ours[0]:,.0f} req/s, p99 {ours[2]:.2f} ms (no reference)", ours[2] <= 5)
        campaign = stack.api("POST", "/campaigns", campaign_body("bench"))["campaign_id"]
        get = wrk(f"http://127.0.0.1:{stack.gateway_port}/v1/campaigns/{campaign}", header=f"Authorization: Bearer {KEY}")
        report("GET /v1/campaigns/:id end to end, -c64", "≥ 20,000 req/s, p99 ≤ 10 ms", f"{get[0]:,.0f} req/s, p99 {get[2]:.2f} ms",
               get[0] >= 20000 and get[2] <= 10)
        rss = max(rss, stack.process("rymi-gateway").rss_kib() / 1024)
        # 1000 idle keep-alive connections held open while the same load runs again. Latency at
        # about a millisecond moves 10-20% between single runs here, so each side is the median
        # of three 5 s runs, taken back to back.
        def median_p50():
            runs = sorted((wrk(f"http://127.0.0.1:{stack.gateway_port}/healthz", seconds=5) for _ in range(3)), key=lambda r: r[1])
            return runs[1]
        before = median_p50()
        idle = []
        for _ in range(1000):
            connection = socket.create_connection(("127.0.0.1", stack.gateway_port))
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            connection.recv(4096)
            idle.append(connection)
        with_idle = median_p50()
        change = (with_idle[1] - before[1]) / before[1] * 100
        report("1,000 idle keep-alive connections", "latency unchanged (±10%)",
               f"p50 {before[1]:.3f} → {with_idle[1]:.3f} ms ({change:+.1f}%; medians of 3), {with_idle[0]:,.0f} req/s", abs(change) <= 10)
        rss = max(rss, stack.process("rymi-gateway").rss_kib() / 1024)
        for connection in idle:
            connection.close()
        return rss
    finally:
        if reference:
            reference[0].kill()
        stack.stop()


def data_path():
    print("Uploads, start, paging", flush=True)
    stack = Stack(dialers=0, simulator=False, gateway_env={"RYMI_RATE_LIMIT": "0", "RYMI_LOG_LEVEL": "warning"})
    try:
        manager = stack.process("rymi-manager")
        growth = []
        for size in (10_000, 100_000):
            campaign = stack.api("POST", "/campaigns", campaign_body(f"up {size}"))["campaign_id"]
            body = upload_body(numbers(size, block=1 + len(str(size))))
            started = time.perf_counter()
            stack.api("POST", f"/campaigns/{campaign}/contacts", raw=body)
            elapsed = time.perf_counter() - started
            growth.append(f"{size:,}: {elapsed:.2f} s, manager {manager.rss_kib() / 1024:.0f} MB")
            if size == 100_000:
                report("upload of 100,000 contacts in one request", "≤ 1.0 s", f"{elapsed:.2f} s ({len(body) / 1e6:.1f} MB)", elapsed <= 1.0)
        big = stack.api("POST", "/campaigns", campaign_body("million"))["campaign_id"]
        started = time.perf_counter()
        for batch in range(10):
            stack.api("POST", f"/campaigns/{big}/contacts", raw=upload_body(numbers(100_000, block=20 + batch)))
        elapsed = time.perf_counter() - started
        report("upload throughput, 10 × 100,000 into one campaign", "≥ 150,000 contacts/s", f"{1_000_000 / elapsed:,.0f} contacts/s",
               1_000_000 / elapsed >= 150_000)
        growth.append(f"1,000,000: {elapsed:.2f} s, manager {manager.rss_kib() / 1024:.0f} MB")
        report("upload time and manager RSS as campaigns grow", "(how the cost grows)", "; ".join(growth), "info")
        # Paging 1M contacts.
        started = time.perf_counter()
        items, times = stack.page_through(f"/campaigns/{big}/contacts?limit=1000")
        elapsed = time.perf_counter() - started
        rate = items / elapsed
        middle = sorted(times)[len(times) // 2]
        report("paging 1,000,000 contacts, limit 1,000", "≥ 200,000 contacts/s, flat",
               f"{rate:,.0f} contacts/s ({items:,} contacts, {len(times)} pages); first page {times[0] * 1000:.1f} ms, "
               f"median {middle * 1000:.1f} ms, last {times[-1] * 1000:.1f} ms, slowest {max(times) * 1000:.1f} ms", rate >= 200_000 and items == 1_000_000)
        # The CSV export of the million: streamed, so the gateway's memory must not grow with it.
        gateway = stack.process("rymi-gateway")
        before = gateway.rss_kib() / 1024
        started = time.perf_counter()
        connection = http.client.HTTPConnection("127.0.0.1", stack.gateway_port, timeout=300)
        connection.request("GET", f"/v1/campaigns/{big}/contacts.csv", headers={"Authorization": f"Bearer {KEY}"})
        response = connection.getresponse()
        rows, size, peak = 0, 0, before
        while chunk := response.read(1 << 20):
            rows += chunk.count(b"\r\n")
            size += len(chunk)
            peak = max(peak, gateway.rss_kib() / 1024)
        connection.close()
        elapsed = time.perf_counter() - started
        # The gateway already holds what the uploads above grew it to: the export must add nothing.
        report("CSV export of 1,000,000 contacts (streamed)", "gateway RSS flat during it (grows ≤ 8 MB)",
               f"{elapsed:.1f} s, {rows - 1:,} rows, {size / 1e6:.0f} MB; gateway RSS {before:.0f} MB before, peak {peak:.0f} MB",
               rows - 1 == 1_000_000 and peak - before <= 8)
        # Start with a 100k-number DNC list.
        stack.api("POST", "/dnc", raw=json.dumps({"phone_numbers": numbers(100_000, block=20)}).encode())
        started = time.perf_counter()
        answer = stack.api("POST", f"/campaigns/{big}/start")
        elapsed = time.perf_counter() - started
        report("start of a 1,000,000-contact campaign, 100,000-number DNC list", "≤ 2 s",
               f"{elapsed:.2f} s ({answer['contacts_dialed']:,} queued, {answer['contacts_skipped_dnc']:,} skipped)", elapsed <= 2)
        return manager.rss_kib() / 1024
    finally:
        stack.stop()


def csv_upload():
    """A 1,000,000-row CSV file (phone number and three variable columns) in one streamed
    request into a fresh campaign: its time, and the gateway's RSS while it runs."""
    print("CSV upload", flush=True)
    import threading
    stack = Stack(dialers=0, simulator=False, gateway_env={"RYMI_RATE_LIMIT": "0", "RYMI_LOG_LEVEL": "warning"},
                  manager_env={"RYMI_LOG_LEVEL": "warning"})
    try:
        campaign = stack.api("POST", "/campaigns", campaign_body("csv"))["campaign_id"]
        rows = 1_000_000
        body = ("phone_number,first_name,plan,note\r\n" + "".join(
            f"{p},Customer {i},Gold,\"renewal, {i % 12 + 1} months\"\r\n" for i, p in enumerate(numbers(rows)))).encode()
        gateway = stack.process("rymi-gateway")
        before = gateway.rss_kib() / 1024
        peak = [before]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], gateway.rss_kib() / 1024)
                time.sleep(0.02)
        threading.Thread(target=sample, daemon=True).start()
        started = time.perf_counter()
        connection = http.client.HTTPConnection("127.0.0.1", stack.gateway_port, timeout=300)
        connection.request("POST", f"/v1/campaigns/{campaign}/contacts", body=body,
                           headers={"Authorization": f"Bearer {KEY}", "Content-Type": "text/csv"})
        response = connection.getresponse()
        answer = json.loads(response.read())
        elapsed = time.perf_counter() - started
        done.set()
        connection.close()
        inserted = answer.get("inserted_count", 0)
        report("CSV upload of 1,000,000 rows in one request (streamed)", "≤ 5 s; gateway RSS bounded",
               f"{elapsed:.2f} s ({len(body) / 1e6:.0f} MB, {inserted:,} inserted, HTTP {response.status}); "
               f"gateway RSS {before:.0f} MB before, peak {peak[0]:.0f} MB",
               elapsed <= 5 and inserted == rows and peak[0] - before <= 40)
    finally:
        stack.stop()


def dispatch_stack(dialers):
    """A stack for the dispatch runs: pacing off, an instant simulator, quiet logs."""
    return Stack(dialers=dialers, manager_env={"RYMI_DIAL_CPS": "0", "RYMI_MAX_CONCURRENT_CALLS": "2000", "RYMI_LOG_LEVEL": "warning"},
                 sim_env={"RYMI_SIM_RING_MS": "0", "RYMI_SIM_TALK_MS": "0", "RYMI_SIM_OUTCOMES": "completed=1", "RYMI_LOG_LEVEL": "warning"},
                 gateway_env={"RYMI_RATE_LIMIT": "0", "RYMI_LOG_LEVEL": "warning"})


def dial_all(stack, count=6000):
    """Uploads `count` contacts, starts them, waits for the campaign to complete; returns
    (calls per second, when it started)."""
    campaign = stack.api("POST", "/campaigns", campaign_body("dispatch"))["campaign_id"]
    stack.api("POST", f"/campaigns/{campaign}/contacts", raw=upload_body(numbers(count)))
    started = time.perf_counter()
    stack.api("POST", f"/campaigns/{campaign}/start")
    stack.wait_completed(campaign, timeout=600)
    return count / (time.perf_counter() - started), started


def dispatch():
    print("Dispatch pipeline (CPS off)", flush=True)
    figures, rss = [], 0
    for dialers in (1, 2, 4):
        stack = dispatch_stack(dialers)
        try:
            rate, _ = dial_all(stack)
            figures.append((dialers, rate))
            rss = max(rss, max(p.rss_kib() for p in stack.processes if p.name == "rymi-dialer") / 1024)
        finally:
            stack.stop()
    best = max(rate for _, rate in figures)
    report("dispatch, CPS limit off, instant simulator", "≥ 1,000 calls/s placed and resolved",
           ", ".join(f"{d} dialer{'s' if d > 1 else ''}: {r:,.0f} calls/s" for d, r in figures), best >= 1000)
    return rss, figures[0][1]


def webhooks(baseline):
    """Every event of a dispatch run delivered to a local receiver: deliveries per second, and
    the dispatch rate with webhooks against `baseline` (the same run without them)."""
    print("Webhooks", flush=True)
    import http.server
    import threading
    received = []

    class Receiver(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            received.append((time.perf_counter(), self.headers["Rymi-Event-Id"]))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stack = dispatch_stack(1)
    try:
        stack.api("POST", "/webhooks", {"url": f"http://127.0.0.1:{server.server_address[1]}/hooks"})
        rate, started = dial_all(stack)
        # Until nothing is pending; then every event written must have arrived (duplicates,
        # which a keep-alive resend can make, share their event id).
        hook = stack.api("GET", "/webhooks")["webhooks"][0]["id"]
        deadline = time.time() + 120
        while stack.api("GET", f"/webhooks/{hook}/deliveries?status=pending&limit=1")["deliveries"] and time.time() < deadline:
            time.sleep(0.2)
        expected, cursor = 0, None
        while True:
            page = stack.api("GET", f"/webhooks/{hook}/deliveries?limit=1000" + (f"&cursor={cursor}" if cursor else ""))
            expected += len(page["deliveries"])
            cursor = page["next_cursor"]
            if not cursor:
                break
        unique = len({event for _, event in received})
        span = max(at for at, _ in received) - started if received else float("inf")
        delivered = unique / span
        slower = (baseline - rate) / baseline * 100
        report("webhook deliveries to a local receiver", "≥ 2,000 deliveries/s; dispatch ≤ 5% slower",
               f"{unique:,} of {expected:,} events in {span:.1f} s ({len(received) - unique} resent): {delivered:,.0f} deliveries/s; "
               f"dispatch {rate:,.0f} calls/s with webhooks against {baseline:,.0f} without ({slower:+.1f}% slower)",
               delivered >= 2000 and slower <= 5 and unique == expected)
    finally:
        stack.stop()
        server.shutdown()


def pacing():
    # One after another: run together, six stacks on two cores add jitter the real thing would not have.
    print("Pacing (60 s each)", flush=True)
    sys.path.insert(0, ROOT)
    from pacing import measure
    outcomes = {cps: measure(cps, 60) for cps in (2, 10, 100)}
    ok = all(abs(outcomes[c][1] - c) / c <= 0.01 and outcomes[c][2] <= c and outcomes[c][3] <= c for c in outcomes)
    report("pacing over 60 s", "within 1%, no 1-s window over the limit (by arrival and by send)",
           "; ".join(f"{c} CPS: {outcomes[c][1]:.3f} ({(outcomes[c][1] - c) / c * 100:+.2f}%), busiest second {outcomes[c][2]} "
                     f"(by send time {outcomes[c][3]}, transit p99 {outcomes[c][4][1]:.1f} ms, {outcomes[c][5]} renewed)" for c in (2, 10, 100)), ok)


def main():
    started = time.time()
    gateway_rss = http_layer()
    manager_rss = data_path()
    csv_upload()
    dialer_rss, one_dialer = dispatch()
    webhooks(one_dialer)
    report("RSS: gateway under load / manager with a 1M campaign / dialer", "≤ 40 / ≤ 150 / ≤ 40 MB",
           f"{gateway_rss:.0f} / {manager_rss:.0f} / {dialer_rss:.0f} MB", gateway_rss <= 40 and manager_rss <= 150 and dialer_rss <= 40)
    if "--quick" not in sys.argv:
        pacing()
    width = max(len(r[0]) for r in results)
    print(f"\n{'what'.ljust(width)} | target | ours | met")
    for what, target, figure, ok in results:
        print(f"{what.ljust(width)} | {target} | {figure} | {ok}")
    print(f"\nbench: {len(results)} rows in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
