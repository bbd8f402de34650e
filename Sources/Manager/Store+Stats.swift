import Foundation
import Protocol
import Runtime
import SQLite

/// Campaign statistics, kept as counters moved by the changes themselves (in their
/// transactions), so a read costs a few indexed rows whatever the campaign's size.
extension Store {
    /// A go-ahead was committed: one more attempt, counted in its minute.
    func countAttempt(campaign: Int64, now: Int64) throws {
        try bumpStats(campaign, "attempts", by: 1)
        try database.cached("""
            INSERT INTO campaign_minutes (campaign_seq, minute, calls) VALUES (?, ?, 1)
            ON CONFLICT (campaign_seq, minute) DO UPDATE SET calls = calls + 1
            """).bind(1, campaign).bind(2, now / 60_000).run()
    }

    /// A call's first answer callback (the attempt's answer time was not known yet).
    func countAnswer(campaign: Int64, contact: Int64, attempt: Int64, now: Int64) throws {
        try database.cached("UPDATE attempts SET answered_at = ? WHERE contact_seq = ? AND attempt = ? AND answered_at IS NULL")
            .bind(1, now).bind(2, contact).bind(3, attempt).run()
        if database.changes == 1 { try bumpStats(campaign, "answered", by: 1) }
    }

    /// A call ended: its talk time (in the distribution the percentiles are read from), billed
    /// seconds, and whether a machine took it.
    func countHangup(campaign: Int64, _ event: CallEvent, voicemail: Bool) throws {
        if voicemail { try bumpStats(campaign, "voicemail", by: 1) }
        if let billed = event.billDurationSeconds, billed > 0 { try bumpStats(campaign, "billed_seconds", by: billed) }
        guard let seconds = event.durationSeconds, seconds > 0 else { return }
        try bumpStats(campaign, "talk_seconds", by: seconds)
        try bumpStats(campaign, "talked_calls", by: 1)
        try database.cached("""
            INSERT INTO campaign_talk_times (campaign_seq, seconds, calls) VALUES (?, ?, 1)
            ON CONFLICT (campaign_seq, seconds) DO UPDATE SET calls = calls + 1
            """).bind(1, campaign).bind(2, seconds).run()
    }

    /// A contact failed for good with `reason`.
    func countFailure(campaign: Int64, reason: String) throws {
        try database.cached("""
            INSERT INTO campaign_failure_reasons (campaign_seq, reason, contacts) VALUES (?, ?, 1)
            ON CONFLICT (campaign_seq, reason) DO UPDATE SET contacts = contacts + 1
            """).bind(1, campaign).bind(2, reason).run()
    }

    private func bumpStats(_ campaign: Int64, _ column: String, by amount: Int) throws {
        try database.cached("""
            INSERT INTO campaign_stats (campaign_seq, \(column)) VALUES (?1, ?2) ON CONFLICT (campaign_seq) DO UPDATE SET \(column) = \(column) + ?2
            """).bind(1, campaign).bind(2, amount).run()
    }
}

extension Queries {
    func stats(_ request: GetCampaignStats) throws -> CampaignStats {
        let (seq, record) = try campaignRow(account: request.account, id: request.campaignID)
        var stats = CampaignStats(counts: record.counts)
        let row = try database.cached("""
            SELECT attempts, answered, voicemail, talk_seconds, talked_calls, billed_seconds FROM campaign_stats WHERE campaign_seq = ?
            """)
        row.bind(1, seq)
        if try row.step() {
            (stats.attempts, stats.answered, stats.voicemail) = (row.int(0), row.int(1), row.int(2))
            (stats.talkSeconds, stats.talkedCalls, stats.billedSeconds) = (row.int(3), row.int(4), row.int(5))
        }
        row.reset()
        try database.cached("SELECT reason, contacts FROM campaign_failure_reasons WHERE campaign_seq = ? ORDER BY reason").bind(1, seq)
            .forEachRow { stats.failureReasons.append(($0.string(0), $0.int(1))) }
        // Percentiles from the distribution of talk times: one row per distinct duration.
        var seen = 0
        try database.cached("SELECT seconds, calls FROM campaign_talk_times WHERE campaign_seq = ? ORDER BY seconds").bind(1, seq).forEachRow { row in
            seen += row.int(1)
            if stats.talkP50 == nil, seen * 2 >= stats.talkedCalls { stats.talkP50 = row.int(0) }
            if stats.talkP90 == nil, seen * 10 >= stats.talkedCalls * 9 { stats.talkP90 = row.int(0) }
        }
        let thisMinute = request.now / 60_000
        try database.cached("SELECT minute, calls FROM campaign_minutes WHERE campaign_seq = ? AND minute > ? ORDER BY minute")
            .bind(1, seq).bind(2, thisMinute - 60).forEachRow { stats.callsPerMinute.append(($0.int64(0) * 60_000, $0.int(1))) }
        return stats
    }
}
