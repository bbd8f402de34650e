#!/usr/bin/env python3
"""`make compose-test`: the real compose file, in containers, as an operator runs it.

Sets podman up (../shared/MACHINE.md), makes a bookworm base image with debootstrap and a
stand-in for the official Swift image from this machine's toolchain (no registry is reachable),
builds the image from the sources as compose/Dockerfile's default target does, then brings
compose/docker-compose.yml up with nothing set up (the demo) and 3 dialers, and checks:
- every container is healthy (`podman healthcheck run`), the gateway printed its API key;
- the image: its size, stripped binaries, uid and gid 10001 owning the data directory, tzdata
  and CA certificates; a process without its configuration says so as one JSON line;
- compose/.env is ignored by git;
- /metrics on the published admin port needs the token made on first start;
- a 200-contact campaign runs to `completed` through the gateway's published port with
  callbacks arriving, while one dialer is killed (`podman kill`) and the manager's container is
  restarted: nobody is called twice, nothing is lost;
- after `down` and `up`, new containers find the same database and API key in the volumes;
- every container stops cleanly (exit 0).
Everything it made is removed at the end, even on failure, within bounded time.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from rymi_podman import IMAGE, ROOT, build_image, free_port, http, made, midday_zone, remove_made_images, run, run_test, step, wait  # noqa: E402

PROJECT = "rymici"
COMPOSE = ["podman-compose", "-p", PROJECT, "-f", os.path.join(ROOT, "compose", "docker-compose.yml")]
CONTACTS = 200
DIALERS = 3


def container(service, index=1):
    return f"{PROJECT}_{service}_{index}"


def log_event(name, event):
    for line in run(["podman", "logs", name], check=False).stdout.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("event") == event:
            return entry
    return None


def secret(file):
    return run(["podman", "exec", container("gateway"), "cat", f"/var/lib/rymi/secrets/{file}"]).stdout.strip()


def compose_test():
    ports = {"RYMI_HTTP_PORT": free_port(), "RYMI_ADMIN_PORT": free_port(), "RYMI_SIM_PORT": free_port()}
    # Calls caught in flight by the restart are looked up and settled in seconds, not minutes.
    environment = {**{k: str(v) for k, v in ports.items()}, "RYMI_DIALERS": str(DIALERS), "RYMI_DIAL_CPS": "20",
                   "RYMI_OUTCOME_CHECK_AFTER": "5", "RYMI_OUTCOME_TIMEOUT": "30"}
    # Nothing set up: no compose/.env is read (the operator's, if any, is left out of the test),
    # and git would never take one in.
    assert not os.path.exists(os.path.join(ROOT, "compose", ".env")), "compose/.env exists; the test runs with nothing set up"
    assert run(["git", "check-ignore", "-q", "compose/.env"], check=False).returncode == 0, "compose/.env is not ignored by git"
    # A process started without its configuration says so as one JSON line, naming the variable.
    refused = run(["podman", "run", "--rm", IMAGE, "rymi-gateway"], check=False)
    line = json.loads(refused.stdout.strip().splitlines()[-1])
    assert refused.returncode == 2 and line["event"] == "configuration_error" and line["variable"], refused.stdout
    step(f"up: {' '.join(COMPOSE[1:])} up -d with {DIALERS} dialers")
    made.append(("compose", environment))
    run(COMPOSE + ["up", "-d", "--no-build"], env=environment, timeout=300)
    api = f"http://127.0.0.1:{ports['RYMI_HTTP_PORT']}"
    admin = f"http://127.0.0.1:{ports['RYMI_ADMIN_PORT']}"
    simulator = f"http://127.0.0.1:{ports['RYMI_SIM_PORT']}"
    wait("the gateway to be ready", lambda: http("GET", api + "/readyz")[0] == 200, 120)
    services = [container("manager"), container("gateway"), container("plivo-sim")] + [container("dialer", n) for n in range(1, DIALERS + 1)]
    wait("every dialer registered", lambda: len(http("GET", admin + "/readyz")[1].get("dialers", [])) == DIALERS, 60)
    for name in services:
        wait(f"{name} healthy", lambda: run(["podman", "healthcheck", "run", name], check=False).returncode == 0, 60)
    step("every container healthy: " + ", ".join(services))
    announced = log_event(container("gateway"), "demo_api_key")
    assert announced, "the gateway did not print its API key"
    key = announced["api_keys"].split(":", 1)[1]
    # The admin listener: metrics need the token made on first start.
    assert http("GET", admin + "/metrics")[0] == 401, "metrics without a token"
    status, _ = http("GET", admin + "/metrics", key=secret("rymi_metrics_token"))
    assert status == 200, f"metrics with the token: {status}"

    step(f"a {CONTACTS}-contact campaign through the published port {ports['RYMI_HTTP_PORT']}")
    status, created = http("POST", api + "/v1/campaigns", key, {"name": "compose test", "agent_id": "agent_1",
                                                                 "call_from_number": "+14155550100", "timezone": midday_zone()})
    assert status == 201, created
    campaign = created["campaign_id"]
    numbers = [f"1555300{index:04d}" for index in range(CONTACTS)]
    status, uploaded = http("POST", f"{api}/v1/campaigns/{campaign}/contacts", key, {"contacts": [{"phone_number": n} for n in numbers]})
    assert status == 201 and uploaded["inserted_count"] == CONTACTS, uploaded
    status, answer = http("POST", f"{api}/v1/campaigns/{campaign}/start", key)
    assert status == 200, answer

    def counts():
        return http("GET", f"{api}/v1/campaigns/{campaign}", key)[1]["contact_counts"]

    wait("a quarter of the calls placed", lambda: CONTACTS - counts()["pending"] >= CONTACTS // 4, 120)
    victim = container("dialer", 2)
    run(["podman", "kill", victim])
    step(f"killed {victim} mid-campaign")
    wait("half of the calls placed", lambda: CONTACTS - counts()["pending"] >= CONTACTS // 2, 120)
    run(["podman", "restart", "-t", "30", container("manager")], timeout=90)
    step("restarted the manager's container mid-campaign")
    wait("the gateway ready again", lambda: http("GET", api + "/readyz")[0] == 200, 120)
    final = wait("the campaign to complete", lambda: (lambda c: c if c["status"] == "completed" else None)(
        http("GET", f"{api}/v1/campaigns/{campaign}", key)[1]), 240)
    settled = final["contact_counts"]
    assert settled["total"] == CONTACTS and settled["completed"] + settled["failed"] == CONTACTS, settled
    # Nobody called twice: the simulator's record of every call request.
    status, calls = http("GET", simulator + "/sim/calls", key=secret("rymi_sim_control_token"))
    assert status == 200, calls
    requests = [call["to"] for call in calls["requests"]]
    twice = {number for number in requests if requests.count(number) > 1}
    assert not twice, f"called more than once: {sorted(twice)[:10]}"
    # Callbacks arrived (RYMI_PUBLIC_URL reaches the gateway): answered calls carry Plivo's ids.
    contacts, cursor = [], None
    while True:
        status, page = http("GET", f"{api}/v1/campaigns/{campaign}/contacts?status=completed&limit=1000" + (f"&cursor={cursor}" if cursor else ""), key)
        contacts += page["contacts"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    with_callbacks = [c for c in contacts if c.get("answered_at") and c.get("call_uuid")]
    assert len(with_callbacks) >= len(contacts) * 0.9, f"{len(with_callbacks)} of {len(contacts)} completed calls have their callback's details"
    step(f"completed: {settled['completed']} completed, {settled['failed']} failed, {len(set(requests))} numbers called once each")

    # Down and up again: only the volume carries the database across new containers.
    run(COMPOSE + ["down", "-t", "30"], env=environment, timeout=180)
    run(COMPOSE + ["up", "-d", "--no-build"], env=environment, timeout=300)
    wait("the gateway ready after down and up", lambda: http("GET", api + "/readyz")[0] == 200, 120)
    status, again = http("GET", f"{api}/v1/campaigns/{campaign}", key)
    assert status == 200 and again["contact_counts"] == settled, f"after down and up: {status} {again}"
    step("down and up: new containers, the same database, the same API key")
    victim = None

    # A clean stop: each container exits 0 within its grace period.
    running = [name for name in services if name != victim]
    run(["podman", "stop", "-t", "30"] + running, timeout=120)
    codes = {name: run(["podman", "inspect", name, "--format", "{{.State.ExitCode}}"]).stdout.strip() for name in running}
    assert all(code == "0" for code in codes.values()), codes
    step("every container stopped with exit status 0")


def teardown():
    for kind, what in reversed(made):
        if kind == "compose":
            run(COMPOSE + ["down", "-v", "-t", "5"], env=what, check=False, timeout=180)
            # Whatever compose did not remove (a failed start): by the project's label.
            for listing, remove in ((["podman", "ps", "-aq"], ["podman", "rm", "-f"]),
                                    (["podman", "volume", "ls", "-q"], ["podman", "volume", "rm", "-f"]),
                                    (["podman", "network", "ls", "-q"], ["podman", "network", "rm", "-f"])):
                found = run(listing + ["--filter", f"label=io.podman.compose.project={PROJECT}"], check=False, timeout=60).stdout.split()
                if found:
                    run(remove + found, check=False, timeout=120)
    remove_made_images()


def explain():
    for service in ("manager", "gateway", "plivo-sim", "dialer"):
        logs = run(["podman", "logs", "--tail", "15", container(service)], check=False).stdout
        print(f"--- {container(service)} ---\n{logs}", file=sys.stderr)


if __name__ == "__main__":
    # From the sources, as an operator builds it (the k8s check uses the prebuilt target).
    run_test("compose-test", lambda: (build_image(from_sources=True), compose_test()), teardown, explain)
