#!/usr/bin/env python3
"""Proves the dispatcher's rule tests bite: breaks each rule of the pure dialing core in turn
(a deliberately wrong copy), runs the test that guards it, and expects it to fail. The sources
are restored after each run. Usage: python3 scripts/mutants.py (from the repository root)."""
import pathlib
import subprocess
import sys

CORE = "Sources/Dialing/DispatchCore.swift"
POOL = "Sources/Dialing/DialerPool.swift"
PLACEMENT = "Sources/Dialer/Placement.swift"
CONTACT = "Sources/Dialing/ContactLifecycle.swift"

# (rule, file, correct text, broken text, test that must fail)
MUTANTS = [
    ("status changes apply only if newer", CORE,
     "guard version > versions[seq] ?? -1 else { return [] }", "guard version > -1 else { return [] }",
     "statusChangesAppliedOutOfOrderNeverQueueAPausedCampaign"),
    ("a not-running refusal rereads the campaign", CORE,
     "if verdict == .campaignNotRunning { directives.append", "if false, verdict == .campaignNotRunning { directives.append",
     "aBeginRefusedForNotRunningRereadsTheCampaign"),
    ("a begun placement counts until reported", CORE,
     "        if let pending = wakeAt, pending <= now || pending == armedFor { wakeAt = nil }\n",
     "        if let pending = wakeAt, pending <= now || pending == armedFor { wakeAt = nil }\n        begun = begun.filter { $0.value.started.advanced(by: settings.lease) > now }\n",
     "aBegunPlacementCountsUntilReportedNotUntilItsLeaseEnds"),
    ("a lost dialer's offers come back", CORE,
     "withdraw(offers.values.filter { $0.dialer == id }.map(\\.attempt))", "_ = id",
     "aReconnectingDialerIsANewMemberAndItsOffersComeBack"),
    ("equally free dialers take turns", POOL,
     "a.value.lastOffer > b.value.lastOffer", "a.value.lastOffer < b.value.lastOffer",
     "equallyFreeDialersTakeTurns"),
    ("go-aheads keep the sliding window", CORE,
     "if let opens = pacer?.windowOpens, now < opens", "if false, let opens = pacer?.windowOpens, now < opens",
     "goAheadsArePacedWhateverTheCommitsTake"),
    ("a placement is counted once", CORE,
     "return (effect.applied || placement != nil, directives)", "return (true, directives)",
     "aPlacementIsCountedOnceWhateverComesFirst"),
    ("a number listed while its begin waits is not called", CORE,
     "if recentListings.contains(where:", "if false, recentListings.contains(where:",
     "aNumberListedWhileItsBeginWaitsForItsSlotIsNotCalled"),
    ("offers expire at their lease", CORE,
     "while leasesHead < leases.count, leases[leasesHead].ends <= now {", "while false, leasesHead < leases.count {",
     "offersNotBegunWithinTheirLeaseGoElsewhere"),
    ("only the dialer told to go may report", CORE,
     "guard let dialerName, let placement = begun[attempt], placement.dialerName != dialerName else { return nil }",
     "guard false, let dialerName, let placement = begun[attempt] else { return nil }",
     "onlyTheDialerToldToGoMayReport"),
    ("an early wake-up frees the way for the next", CORE,
     "if let pending = wakeAt, pending <= now || pending == armedFor { wakeAt = nil }",
     "if let pending = wakeAt, pending <= now { wakeAt = nil }",
     "anEarlyWakeUpDoesNotSwallowLaterOnes"),
    ("a begin being committed counts as begun", CORE,
     "begun.values.contains(where: predicate) || committing.values.contains",
     "begun.values.contains(where: predicate) || false && committing.values.contains",
     "aBeginBeingCommittedCountsAsBegun"),
    ("a load during a commit does not queue the contact twice", CORE,
     "\n                .union(committing.values.map(\\.offer.contact.seq))", "",
     "aLoadDuringACommitDoesNotQueueTheContactTwice"),
    ("renewals are bounded", CORE,
     "guard placement.renewals < BeginCall.maxRenewals else {", "guard true else {",
     "renewalsAreBounded"),
    ("a request leaves only within its go-ahead's slot", PLACEMENT,
     "let deadline = result.slotsMissed < BeginCall.maxRenewals ? begin.sendDeadline(askedAt: asked) : nil", "let deadline: ContinuousClock.Instant? = nil",
     "aLateSendRenewsInsteadOfSendingLate"),
    ("accounts take turns before campaigns", CORE,
     "accountRotation = (accountRotation + accountTurn + 1) % accountOrder.count", "accountRotation = 0 * accountTurn",
     "aSmallAccountIsNotHeldBackByAMillionContacts"),
    ("a campaign keeps its concurrency limit", CORE,
     "if let cap = queue.campaign.maxConcurrentCalls, campaignUsage[seq] ?? 0 >= cap { continue }",
     "if false, let cap = queue.campaign.maxConcurrentCalls, campaignUsage[seq] ?? 0 >= cap { continue }",
     "aCampaignKeepsItsOwnConcurrencyLimit"),
    ("an account keeps its cap", CORE,
     "if let cap = settings.accountMaxConcurrentCalls, accountUsage[account] ?? 0 >= cap { continue }",
     "if false, let cap = settings.accountMaxConcurrentCalls, accountUsage[account] ?? 0 >= cap { continue }",
     "anAccountCapHoldsAcrossItsCampaignsAndSparesOthers"),
    ("a campaign's go-aheads keep its own window", CORE,
     "let opens = campaignPacers[campaign]?.windowOpens, now < opens", "let opens = campaignPacers[campaign]?.windowOpens, false, now < opens",
     "aCampaignsGoAheadsKeepItsWindowWhenBeginsComeLate"),
    ("nothing goes after a campaign's end", CORE,
     "if ends[placement.campaign].map({ $0 <= now }) == true", "if false, ends[placement.campaign].map({ $0 <= now }) == true",
     "deadlinesFireWhenDueAndNothingGoesAfterTheEnd"),
    ("a redial is looked for when its delay has passed", CORE,
     "directives += armWindow(campaign, at: now.advanced(by: .seconds(seconds)))", "_ = seconds",
     "aRedialIsReadAgainWhenItsDelayHasPassed"),
    ("never a redial after an uncertain placement", CONTACT,
     "if status == .failed, let reason, !state.placementUncertain,", "if status == .failed, let reason,",
     "neverARedialAfterAnUncertainPlacement"),
]


def run(command):
    return subprocess.run(command, capture_output=True, text=True)


def main():
    survived = []
    for rule, path, correct, broken, test in MUTANTS:
        source = pathlib.Path(path)
        original = source.read_text()
        if original.count(correct) != 1:
            sys.exit(f"mutants: the rule '{rule}' is no longer written as expected in {path}")
        source.write_text(original.replace(correct, broken))
        try:
            build = run(["swift", "build", "--build-tests"])
            if build.returncode != 0:
                sys.exit(f"mutants: the broken copy of '{rule}' does not build:\n{build.stdout[-2000:]}")
            result = run(["swift", "test", "--skip-build", "--disable-xctest", "--filter", test])
        finally:
            source.write_text(original)
        caught = result.returncode != 0
        print(f"{'caught  ' if caught else 'SURVIVED'}  {rule}  ({test})")
        if not caught:
            survived.append(rule)
    run(["swift", "build", "--build-tests"])
    print(f"mutants: {len(MUTANTS) - len(survived)} of {len(MUTANTS)} broken rules caught")
    sys.exit(1 if survived else 0)


if __name__ == "__main__":
    main()
