-- Rate limits shared by replicas: one row per subject (key:<id>, team:<id>) and minute counts
-- requests and tokens; one row per call in flight and subject counts parallel calls (removed
-- when the call ends, or by recovery when its replica died). Admission locks the subject's
-- window row, so concurrent admissions on any replica serialise per subject.
CREATE TABLE rate_windows (
    subject   TEXT COLLATE "C" NOT NULL,
    minute    BIGINT NOT NULL,
    requests  BIGINT NOT NULL,
    tokens    BIGINT NOT NULL,
    PRIMARY KEY (subject, minute)
);
CREATE TABLE rate_inflight (
    call_id      TEXT COLLATE "C" NOT NULL,
    subject      TEXT COLLATE "C" NOT NULL,
    instance_id  TEXT COLLATE "C" NOT NULL,
    started_at   BIGINT NOT NULL,
    PRIMARY KEY (call_id, subject)
);
CREATE INDEX rate_inflight_subject ON rate_inflight (subject);
CREATE INDEX rate_inflight_instance ON rate_inflight (instance_id);
