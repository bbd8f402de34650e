"""Pacing at configured CPS: achieved rate over the run and the busiest one-second window."""
import sys
import time

from stack import Stack, numbers, upload_body


def measure(cps, seconds, dialers=2):
    count = int(cps * seconds) + 1
    stack = Stack(dialers=dialers, manager_env={"RYMI_DIAL_CPS": str(cps), "RYMI_MAX_CONCURRENT_CALLS": "10000"},
                  sim_env={"RYMI_SIM_RING_MS": "10", "RYMI_SIM_TALK_MS": "20"})
    try:
        campaign = stack.api("POST", "/campaigns", {"name": "pacing", "agent_id": "a", "call_from_number": "14155550100"})["campaign_id"]
        stack.api("POST", f"/campaigns/{campaign}/contacts", raw=upload_body(numbers(count)))
        stack.api("POST", f"/campaigns/{campaign}/start")
        stack.wait_completed(campaign, timeout=seconds * 3 + 60)
        times = sorted(float(c["received_at"]) for c in stack.sim_calls()["calls"])
        achieved = (len(times) - 1) / (times[-1] - times[0])
        worst = max(sum(1 for t in times[i:] if t < start + 1.0) for i, start in enumerate(times))
        return len(times), achieved, worst
    finally:
        stack.stop()


if __name__ == "__main__":
    plan = [(float(a), float(b)) for a, b in (arg.split(":") for arg in sys.argv[1:])] or [(2, 60), (10, 60), (100, 60)]
    print(f"{'configured cps':>15} {'calls':>6} {'achieved cps':>13} {'error':>7} {'max in 1 s':>11}")
    for cps, seconds in plan:
        calls, achieved, worst = measure(cps, seconds)
        print(f"{cps:>15.0f} {calls:>6} {achieved:>13.3f} {100 * (achieved - cps) / cps:>6.2f}% {worst:>11}")
