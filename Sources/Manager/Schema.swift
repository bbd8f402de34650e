import Runtime
import SQLite
import Telephony

/// The database's versioned migrations; each runs once, in order, in its own transaction.
enum Schema {
    /// `PRAGMA application_id` of a Rymi database ("RYMI"), to refuse a foreign file.
    static let applicationID: Int64 = 0x5259_4D49

    static let migrations: [(version: Int, sql: String)] = [
        (1, """
            CREATE TABLE campaigns (
                seq INTEGER PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                account TEXT NOT NULL,
                name TEXT NOT NULL,
                agent_id TEXT NOT NULL,
                call_from_number TEXT,
                status TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL,
                pending_count INTEGER NOT NULL DEFAULT 0,
                dialed_count INTEGER NOT NULL DEFAULT 0,
                completed_count INTEGER NOT NULL DEFAULT 0,
                failed_count INTEGER NOT NULL DEFAULT 0,
                skipped_dnc_count INTEGER NOT NULL DEFAULT 0
            );
            CREATE INDEX campaigns_by_account ON campaigns(account, seq);
            CREATE TABLE contacts (
                seq INTEGER PRIMARY KEY,
                campaign_seq INTEGER NOT NULL REFERENCES campaigns(seq) ON DELETE CASCADE,
                phone_number TEXT NOT NULL,
                variables TEXT NOT NULL,
                status TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL,
                UNIQUE (campaign_seq, phone_number)
            );
            CREATE INDEX contacts_by_campaign ON contacts(campaign_seq);
            CREATE INDEX contacts_by_campaign_status ON contacts(campaign_seq, status);
            """),
        (2, """
            ALTER TABLE campaigns ADD COLUMN paused_reason TEXT;
            ALTER TABLE contacts ADD COLUMN attempt INTEGER;
            ALTER TABLE contacts ADD COLUMN call_state TEXT;
            ALTER TABLE contacts ADD COLUMN request_uuid TEXT;
            ALTER TABLE contacts ADD COLUMN call_uuid TEXT;
            ALTER TABLE contacts ADD COLUMN failure_reason TEXT;
            ALTER TABLE contacts ADD COLUMN failure_detail TEXT;
            ALTER TABLE contacts ADD COLUMN hangup_cause TEXT;
            ALTER TABLE contacts ADD COLUMN hangup_cause_code INTEGER;
            ALTER TABLE contacts ADD COLUMN dialed_at INTEGER;
            ALTER TABLE contacts ADD COLUMN answered_at INTEGER;
            ALTER TABLE contacts ADD COLUMN ended_at INTEGER;
            ALTER TABLE contacts ADD COLUMN duration INTEGER;
            ALTER TABLE contacts ADD COLUMN bill_duration INTEGER;
            ALTER TABLE contacts ADD COLUMN last_event_at INTEGER;
            CREATE INDEX contacts_in_flight ON contacts(call_state) WHERE call_state IS NOT NULL;
            CREATE TABLE dnc (
                account TEXT NOT NULL,
                phone_number TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                PRIMARY KEY (account, phone_number)
            ) WITHOUT ROWID;
            """),
        // Positions are never reused (AUTOINCREMENT), so a stale id can never name a newer row;
        // status_version orders status changes for the dispatcher.
        (3, """
            CREATE TABLE campaigns_v3 (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                id TEXT NOT NULL UNIQUE,
                account TEXT NOT NULL,
                name TEXT NOT NULL,
                agent_id TEXT NOT NULL,
                call_from_number TEXT,
                status TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL,
                pending_count INTEGER NOT NULL DEFAULT 0,
                dialed_count INTEGER NOT NULL DEFAULT 0,
                completed_count INTEGER NOT NULL DEFAULT 0,
                failed_count INTEGER NOT NULL DEFAULT 0,
                skipped_dnc_count INTEGER NOT NULL DEFAULT 0,
                paused_reason TEXT,
                status_version INTEGER NOT NULL DEFAULT 0
            );
            INSERT INTO campaigns_v3 (seq, id, account, name, agent_id, call_from_number, status, created_at, updated_at, pending_count,
                dialed_count, completed_count, failed_count, skipped_dnc_count, paused_reason)
            SELECT seq, id, account, name, agent_id, call_from_number, status, created_at, updated_at, pending_count,
                dialed_count, completed_count, failed_count, skipped_dnc_count, paused_reason FROM campaigns;
            CREATE TABLE contacts_v3 (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                campaign_seq INTEGER NOT NULL,
                phone_number TEXT NOT NULL,
                variables TEXT NOT NULL,
                status TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL,
                attempt INTEGER,
                call_state TEXT,
                request_uuid TEXT,
                call_uuid TEXT,
                failure_reason TEXT,
                failure_detail TEXT,
                hangup_cause TEXT,
                hangup_cause_code INTEGER,
                dialed_at INTEGER,
                answered_at INTEGER,
                ended_at INTEGER,
                duration INTEGER,
                bill_duration INTEGER,
                last_event_at INTEGER,
                UNIQUE (campaign_seq, phone_number)
            );
            INSERT INTO contacts_v3 SELECT seq, campaign_seq, phone_number, variables, status, created_at, updated_at, attempt, call_state,
                request_uuid, call_uuid, failure_reason, failure_detail, hangup_cause, hangup_cause_code, dialed_at, answered_at, ended_at,
                duration, bill_duration, last_event_at FROM contacts;
            DROP TABLE contacts;
            DROP TABLE campaigns;
            ALTER TABLE campaigns_v3 RENAME TO campaigns;
            ALTER TABLE contacts_v3 RENAME TO contacts;
            CREATE INDEX campaigns_by_account ON campaigns(account, seq);
            CREATE INDEX contacts_by_campaign ON contacts(campaign_seq);
            CREATE INDEX contacts_by_campaign_status ON contacts(campaign_seq, status);
            CREATE INDEX contacts_in_flight ON contacts(call_state) WHERE call_state IS NOT NULL;
            """),
        // The campaign's status version when a placement began, so a failure reported for it
        // cannot pause the campaign again after a later resume.
        (4, """
            ALTER TABLE contacts ADD COLUMN begun_version INTEGER;
            """),
        // Numbers validated per country (issue 12): the country national numbers are read in.
        // Its data step fails the pending contacts whose stored numbers are no longer valid.
        (5, """
            ALTER TABLE campaigns ADD COLUMN default_country TEXT;
            """),
        // Where each Do-Not-Call entry came from: the API, or a callee's opt-out (and whose).
        (6, """
            ALTER TABLE dnc ADD COLUMN source TEXT NOT NULL DEFAULT 'api';
            ALTER TABLE dnc ADD COLUMN contact_id TEXT;
            """),
        // The numbers each account may call from: one account per number.
        (7, """
            CREATE TABLE account_numbers (
                phone_number TEXT PRIMARY KEY,
                account TEXT NOT NULL,
                created_at INTEGER NOT NULL
            ) WITHOUT ROWID;
            CREATE INDEX account_numbers_by_account ON account_numbers(account, phone_number);
            """),
        // Calling windows in the callee's local time: each campaign's window (the default when it
        // was created; the TCPA's hours for those created before), the zone for callees whose
        // number does not tell theirs, each contact's own zone, and when a waiting contact's
        // window opens.
        (8, """
            ALTER TABLE campaigns ADD COLUMN calling_window TEXT NOT NULL DEFAULT '08:00-21:00';
            ALTER TABLE campaigns ADD COLUMN timezone TEXT;
            ALTER TABLE contacts ADD COLUMN timezone TEXT;
            ALTER TABLE contacts ADD COLUMN window_opens_at INTEGER;
            CREATE INDEX contacts_waiting_window ON contacts(campaign_seq, window_opens_at) WHERE window_opens_at IS NOT NULL;
            """),
        // Why each call was allowed: a record per attempt, written when its go-ahead commits
        // (the Do-Not-Call list's version and size, the callee's local time, zone and its source,
        // the window applied), with the attempt's outcome. Each account's list has a version,
        // moved by every change to it.
        (9, """
            CREATE TABLE attempts (
                contact_seq INTEGER NOT NULL,
                attempt INTEGER NOT NULL,
                begun_at INTEGER NOT NULL,
                dnc_version INTEGER NOT NULL,
                dnc_entries INTEGER NOT NULL,
                local_time TEXT,
                timezone TEXT,
                timezone_source TEXT,
                calling_window TEXT,
                outcome TEXT,
                failure_reason TEXT,
                ended_at INTEGER,
                PRIMARY KEY (contact_seq, attempt)
            ) WITHOUT ROWID;
            CREATE TABLE dnc_versions (
                account TEXT PRIMARY KEY,
                version INTEGER NOT NULL,
                entries INTEGER NOT NULL
            ) WITHOUT ROWID;
            INSERT INTO dnc_versions (account, version, entries) SELECT account, 1, count(*) FROM dnc GROUP BY account;
            """),
        // Canceled campaigns: their contacts not called yet are canceled, and counted.
        (10, """
            ALTER TABLE campaigns ADD COLUMN canceled_count INTEGER NOT NULL DEFAULT 0;
            """),
        // Redials: each campaign's retry policy (`RetryPolicy.text`, empty for none); per contact
        // the attempts that reached Plivo, whether the one in flight may have fired unseen, and
        // when a redial may come; per attempt Plivo's ids and how its call ended, as the contact
        // keeps only its latest call's.
        (11, """
            ALTER TABLE campaigns ADD COLUMN retry_policy TEXT NOT NULL DEFAULT '';
            ALTER TABLE contacts ADD COLUMN attempt_count INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE contacts ADD COLUMN placement_uncertain INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE contacts ADD COLUMN next_attempt_at INTEGER;
            CREATE INDEX contacts_waiting_redial ON contacts(campaign_seq, next_attempt_at) WHERE next_attempt_at IS NOT NULL;
            UPDATE contacts SET attempt_count = 1 WHERE status IN ('dialed', 'completed', 'failed') OR call_state IS NOT NULL;
            UPDATE contacts SET placement_uncertain = 1 WHERE call_state = 'uncertain';
            ALTER TABLE attempts ADD COLUMN request_uuid TEXT;
            ALTER TABLE attempts ADD COLUMN call_uuid TEXT;
            ALTER TABLE attempts ADD COLUMN hangup_cause TEXT;
            ALTER TABLE attempts ADD COLUMN hangup_cause_code INTEGER;
            ALTER TABLE attempts ADD COLUMN answered_at INTEGER;
            ALTER TABLE attempts ADD COLUMN duration INTEGER;
            """),
        // Scheduling and expiry: when a start begins dialing and when dialing ends; contacts not
        // called by the end are expired, and counted.
        (12, """
            ALTER TABLE campaigns ADD COLUMN start_at INTEGER;
            ALTER TABLE campaigns ADD COLUMN end_at INTEGER;
            ALTER TABLE campaigns ADD COLUMN expired_count INTEGER NOT NULL DEFAULT 0;
            """),
        // Each campaign's own limits, inside the deployment's (null: none of its own).
        (13, """
            ALTER TABLE campaigns ADD COLUMN max_concurrent_calls INTEGER;
            ALTER TABLE campaigns ADD COLUMN calls_per_second REAL;
            """),
        // Voicemail detection: each campaign's mode and listening time; who answered each call.
        (14, """
            ALTER TABLE campaigns ADD COLUMN machine_detection TEXT NOT NULL DEFAULT 'off';
            ALTER TABLE campaigns ADD COLUMN machine_detection_time INTEGER;
            ALTER TABLE contacts ADD COLUMN answered_by TEXT;
            ALTER TABLE attempts ADD COLUMN answered_by TEXT;
            """),
        // Webhooks: each account's endpoints; the outbox of events, written in the transaction of
        // the change that causes them; one delivery per event and endpoint, sent in event order
        // per contact (or campaign) and endpoint.
        (15, """
            CREATE TABLE webhooks (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                id TEXT NOT NULL UNIQUE,
                account TEXT NOT NULL,
                url TEXT NOT NULL,
                events TEXT NOT NULL DEFAULT '',
                secret TEXT NOT NULL,
                previous_secret TEXT,
                previous_secret_until INTEGER,
                created_at INTEGER NOT NULL,
                failing_since INTEGER,
                disabled_at INTEGER,
                disabled_reason TEXT
            );
            CREATE INDEX webhooks_by_account ON webhooks(account);
            CREATE TABLE webhook_events (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                id TEXT NOT NULL UNIQUE,
                account TEXT NOT NULL,
                type TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                body TEXT NOT NULL
            );
            CREATE TABLE webhook_deliveries (
                webhook_seq INTEGER NOT NULL,
                event_seq INTEGER NOT NULL,
                ordering_key TEXT NOT NULL,
                status TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_at INTEGER,
                last_status INTEGER,
                last_latency_ms INTEGER,
                last_error TEXT,
                last_attempt_at INTEGER,
                delivered_at INTEGER,
                PRIMARY KEY (webhook_seq, event_seq)
            ) WITHOUT ROWID;
            CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';
            CREATE INDEX webhook_deliveries_by_key ON webhook_deliveries(webhook_seq, ordering_key, event_seq) WHERE status = 'pending';
            """),
        // Campaign statistics as counters the changes move: attempts, answers, voicemail, talk and
        // billed time; failed contacts by reason; the distribution of talk times (for its
        // percentiles); calls begun per minute. Filled from what is already known.
        (16, """
            CREATE TABLE campaign_stats (
                campaign_seq INTEGER PRIMARY KEY,
                attempts INTEGER NOT NULL DEFAULT 0,
                answered INTEGER NOT NULL DEFAULT 0,
                voicemail INTEGER NOT NULL DEFAULT 0,
                talk_seconds INTEGER NOT NULL DEFAULT 0,
                talked_calls INTEGER NOT NULL DEFAULT 0,
                billed_seconds INTEGER NOT NULL DEFAULT 0
            );
            CREATE TABLE campaign_failure_reasons (
                campaign_seq INTEGER NOT NULL, reason TEXT NOT NULL, contacts INTEGER NOT NULL, PRIMARY KEY (campaign_seq, reason)
            ) WITHOUT ROWID;
            CREATE TABLE campaign_talk_times (
                campaign_seq INTEGER NOT NULL, seconds INTEGER NOT NULL, calls INTEGER NOT NULL, PRIMARY KEY (campaign_seq, seconds)
            ) WITHOUT ROWID;
            CREATE TABLE campaign_minutes (
                campaign_seq INTEGER NOT NULL, minute INTEGER NOT NULL, calls INTEGER NOT NULL, PRIMARY KEY (campaign_seq, minute)
            ) WITHOUT ROWID;
            INSERT INTO campaign_stats (campaign_seq, attempts, answered, voicemail, talk_seconds, talked_calls, billed_seconds)
                SELECT campaign_seq, count(dialed_at), count(answered_at), sum(failure_reason IS 'voicemail'), coalesce(sum(duration), 0),
                count(CASE WHEN duration > 0 THEN 1 END), coalesce(sum(bill_duration), 0) FROM contacts GROUP BY campaign_seq;
            INSERT INTO campaign_failure_reasons (campaign_seq, reason, contacts)
                SELECT campaign_seq, failure_reason, count(*) FROM contacts WHERE status = 'failed' AND failure_reason IS NOT NULL
                GROUP BY campaign_seq, failure_reason;
            INSERT INTO campaign_talk_times (campaign_seq, seconds, calls)
                SELECT campaign_seq, duration, count(*) FROM contacts WHERE duration > 0 GROUP BY campaign_seq, duration;
            """),
        // Deliveries keyed by endpoint and event alone (no rowid: one tree fewer to write per
        // event), due per endpoint (the sender reads each endpoint's share), and never due before
        // an earlier pending delivery of their contact, so the due are ready, not blocked.
        (17, """
            CREATE TABLE webhook_deliveries_17 (
                webhook_seq INTEGER NOT NULL,
                event_seq INTEGER NOT NULL,
                ordering_key TEXT NOT NULL,
                status TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_at INTEGER,
                last_status INTEGER,
                last_latency_ms INTEGER,
                last_error TEXT,
                last_attempt_at INTEGER,
                delivered_at INTEGER,
                PRIMARY KEY (webhook_seq, event_seq)
            ) WITHOUT ROWID;
            INSERT INTO webhook_deliveries_17 SELECT webhook_seq, event_seq, ordering_key, status, attempts, next_attempt_at, last_status,
                last_latency_ms, last_error, last_attempt_at, delivered_at FROM webhook_deliveries;
            DROP TABLE webhook_deliveries;
            ALTER TABLE webhook_deliveries_17 RENAME TO webhook_deliveries;
            CREATE INDEX webhook_deliveries_due ON webhook_deliveries(webhook_seq, next_attempt_at) WHERE status = 'pending';
            CREATE INDEX webhook_deliveries_by_key ON webhook_deliveries(webhook_seq, ordering_key, event_seq) WHERE status = 'pending';
            UPDATE webhook_deliveries AS d SET next_attempt_at = (
                SELECT max(p.next_attempt_at) FROM webhook_deliveries p WHERE p.webhook_seq = d.webhook_seq AND p.ordering_key = d.ordering_key
                AND p.status = 'pending' AND p.event_seq <= d.event_seq)
            WHERE status = 'pending';
            """),
        // A change of many contacts at once to a final status (a cancel, an end, a start's DNC
        // skips) writes one bulk event, and marks the contacts with it; their events are written
        // after the commit, a chunk at a time with its cursor (final contacts render the same later).
        (18, """
            CREATE TABLE webhook_bulk_events (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                campaign_seq INTEGER NOT NULL,
                type TEXT NOT NULL,
                status TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                next_contact INTEGER NOT NULL DEFAULT 0
            );
            ALTER TABLE contacts ADD COLUMN event_batch INTEGER;
            """),
        // An Idempotency-Key's record: written in the transaction of the effect it guards.
        (19, """
            CREATE TABLE idempotency_keys (
                account TEXT NOT NULL,
                key TEXT NOT NULL,
                fingerprint TEXT NOT NULL,
                effect_type TEXT NOT NULL,
                reply TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                PRIMARY KEY (account, key)
            ) WITHOUT ROWID;
            CREATE INDEX idempotency_keys_by_age ON idempotency_keys(created_at);
            """),
    ]

    /// Steps of a migration that SQL alone cannot take, run in the same transaction after its SQL.
    static let dataMigrations: [Int: @Sendable (Database) throws -> Void] = [5: failPendingContactsWithInvalidNumbers]

    /// Numbers were stored as digits only, 8 to 15 of them, whatever country they named; some are
    /// not phone numbers (`4155550100` read as +41, Switzerland, a digit short). Those still
    /// pending are failed with `invalid_number` rather than dialed; the rest are canonical as they
    /// are. Contacts already dialed keep their history, and Do-Not-Call entries stay as they are
    /// (they can only stop a call, never place one).
    static func failPendingContactsWithInvalidNumbers(_ database: Database) throws {
        var invalid: [(seq: Int64, campaign: Int64, reason: String)] = []
        try database.cached("SELECT seq, campaign_seq, phone_number FROM contacts WHERE status = 'pending' AND call_state IS NULL")
            .forEachRow { row in
                if case .failure(let problem) = PhoneNumber.canonical("+" + row.string(2)) {
                    invalid.append((row.int64(0), row.int64(1), problem.reason))
                }
            }
        let now = Timestamp.nowMilliseconds()
        for contact in invalid {
            try database.cached("""
                UPDATE contacts SET status = 'failed', failure_reason = 'invalid_number', failure_detail = ?, updated_at = ? WHERE seq = ?
                """).bind(1, "the stored number " + contact.reason).bind(2, now).bind(3, contact.seq).run()
            try database.cached("""
                UPDATE campaigns SET pending_count = pending_count - 1, failed_count = failed_count + 1, updated_at = ? WHERE seq = ?
                """).bind(1, now).bind(2, contact.campaign).run()
        }
        // A running campaign left with nothing to dial and nothing in flight is done.
        try database.cached("""
            UPDATE campaigns SET status = 'completed', paused_reason = NULL, updated_at = ?, status_version = status_version + 1
            WHERE status = 'running' AND pending_count = 0 AND dialed_count = 0
            """).bind(1, now).run()
    }

    /// Brings the database to the newest version, refusing files that are not ours.
    static func migrate(_ database: Database) throws {
        let applicationID = try database.integer("PRAGMA application_id") ?? 0
        let userTables = try database.integer("SELECT count(*) FROM sqlite_master WHERE type = 'table'") ?? 0
        if applicationID != Schema.applicationID {
            guard applicationID == 0, userTables == 0 else {
                throw StoreError.foreignDatabase("the database file is not a Rymi database (application_id \(applicationID), \(userTables) tables)")
            }
            try database.execute("PRAGMA application_id = \(Schema.applicationID)")
        }
        try database.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)")
        let current = try database.integer("SELECT coalesce(max(version), 0) FROM schema_migrations") ?? 0
        guard current <= Int64(migrations.last?.version ?? 0) else {
            throw StoreError.foreignDatabase("the database has schema version \(current), newer than this build knows")
        }
        for migration in migrations where migration.version > current {
            try database.transaction {
                try database.execute(migration.sql)
                try dataMigrations[migration.version]?(database)
                try database.cached("INSERT INTO schema_migrations (version, applied_at) VALUES (?, strftime('%s','now'))")
                    .bind(1, migration.version).run()
            }
        }
    }
}

enum StoreError: Error, CustomStringConvertible {
    case foreignDatabase(String)

    var description: String {
        switch self {
        case .foreignDatabase(let message): return message
        }
    }
}
