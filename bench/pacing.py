"""Pacing at configured CPS: achieved rate over the run and the busiest one-second window."""
import sys
import time

from stack import Stack, numbers, upload_body, campaign_body


def busiest(times):
    """The most requests in any one-second window [t, t + 1)."""
    most, first = 0, 0
    for last, t in enumerate(times):
        while t - times[first] >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


def slots_missed(stack):
    """Go-aheads the dialers could not send within their slot, and asked for again."""
    return sum(open(p.log_path).read().count('"slot_missed"') for p in stack.processes if p.name == "rymi-dialer")


def measure(cps, seconds, dialers=2):
    count = int(cps * seconds) + 1
    stack = Stack(dialers=dialers, manager_env={"RYMI_DIAL_CPS": str(cps), "RYMI_MAX_CONCURRENT_CALLS": "10000"},
                  sim_env={"RYMI_SIM_RING_MS": "10", "RYMI_SIM_TALK_MS": "20"})
    try:
        campaign = stack.api("POST", "/campaigns", campaign_body("pacing"))["campaign_id"]
        stack.api("POST", f"/campaigns/{campaign}/contacts", raw=upload_body(numbers(count)))
        stack.api("POST", f"/campaigns/{campaign}/start")
        stack.wait_completed(campaign, timeout=seconds * 3 + 60)
        calls = stack.sim_calls()["calls"]
        times = sorted(float(c["received_at"]) for c in calls)
        achieved = (len(times) - 1) / (times[-1] - times[0])
        sent = sorted(float(c["sent_at"]) for c in calls if c.get("sent_at") is not None)
        delays = sorted(float(c["received_at"]) - float(c["sent_at"]) for c in calls if c.get("sent_at") is not None)
        transit = (delays[len(delays) // 2] * 1000, delays[int(len(delays) * 0.99)] * 1000, delays[-1] * 1000) if delays else (0, 0, 0)
        return len(times), achieved, busiest(times), busiest(sent), transit, slots_missed(stack)
    finally:
        stack.stop()


if __name__ == "__main__":
    plan = [(float(a), float(b)) for a, b in (arg.split(":") for arg in sys.argv[1:])] or [(2, 60), (10, 60), (100, 60)]
    print(f"{'configured cps':>15} {'calls':>6} {'achieved cps':>13} {'error':>7} {'max in 1 s':>11} {'(by send)':>10} {'renewed':>8}  "
          "transit p50/p99/max ms")
    for cps, seconds in plan:
        calls, achieved, worst, worst_sent, transit, renewed = measure(cps, seconds)
        print(f"{cps:>15.0f} {calls:>6} {achieved:>13.3f} {100 * (achieved - cps) / cps:>6.2f}% {worst:>11} {worst_sent:>10} {renewed:>8}  "
              f"{transit[0]:.1f}/{transit[1]:.1f}/{transit[2]:.1f}")
