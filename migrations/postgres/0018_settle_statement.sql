-- A ledger batch's settlement inside the batch's one statement (src/store/pg_settle.rs, where
-- the arguments are described): the costs of the calls the batch's insert added (`inserted`,
-- of the batch's `records`; a retried batch settles nothing twice), summed per account and
-- applied in the order the accounts come in (the lock order), with the credit entries of
-- charges to balances.
--
-- Alerts are decided in Rust (src/budgets/enforce.rs), not here, from the values this
-- returns: each updated account's number, its value after the batch and its grant sequence.
-- With `guard`, the statement runs on its own (autocommit) and this function first checks,
-- from bounds Rust computed (src/budgets/bounds.rs: threshold marks, the spend from which the
-- projection passes the limit, a balance's low mark), whether a settlement could raise an
-- alert not raised already; if so it raises SQLSTATE TG001, which rolls the whole statement
-- back, and the caller runs it again without `guard` in a transaction that also writes the
-- alerts. So the settlement that raises none, nearly all of them, costs no round trip of its
-- own. Either way the accounts' rows are locked here, before the rows the rollup trigger locks
-- at the end of the statement: one order for every ledger batch.
--
-- Every SQL statement a PL/pgSQL function runs costs an executor start and end, where a plain
-- expression does not: the common case (every record new, no balance charged, far from every
-- bound) runs one statement per account, its UPDATE, and the rest as expressions.
CREATE FUNCTION tollgate_settle(
    inserted TEXT[], records INT,
    a_credit BOOLEAN[], a_owner TEXT[], a_id TEXT[], a_start BIGINT[],
    a_limit BIGINT[], a_from BIGINT[], a_low BIGINT[], a_key TEXT[],
    m_acct INT[], m_mark BIGINT[],
    l_call TEXT[], l_acct INT[], l_cost BIGINT[], l_entry TEXT[],
    created BIGINT, guard BOOLEAN
) RETURNS TABLE (account_no INT, after_value BIGINT, grant_seq BIGINT)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    n INT := COALESCE(array_length(a_owner, 1), 0);
    lines INT := COALESCE(array_length(l_call, 1), 0);
    marks INT := COALESCE(array_length(m_acct, 1), 0);
    totals NUMERIC[] := array_fill(NULL::NUMERIC, ARRAY[n]);
    i INT;
    k INT;
    v BIGINT;
    g BIGINT;
    hit BOOLEAN;
    crossed BOOLEAN;
BEGIN
    IF COALESCE(array_length(inserted, 1), 0) = records THEN
        -- Every record was new: every line settles.
        FOR i IN 1..lines LOOP
            totals[l_acct[i]] := COALESCE(totals[l_acct[i]], 0) + l_cost[i];
        END LOOP;
    ELSE
        SELECT array_agg(t.s ORDER BY o.pos) INTO totals
        FROM generate_series(1, n) AS o(pos)
        LEFT JOIN (
            SELECT l.acct, SUM(l.cost) AS s
            FROM unnest(l_call, l_acct, l_cost) AS l(c, acct, cost)
            JOIN unnest(inserted) AS ins(id) ON ins.id = l.c
            GROUP BY l.acct
        ) t ON t.acct = o.pos;
    END IF;
    FOR k IN 1..n LOOP
        CONTINUE WHEN totals[k] IS NULL;
        IF a_credit[k] THEN
            UPDATE credit_accounts SET balance_picos = balance_picos - totals[k]
            WHERE owner_kind = a_owner[k] AND owner_id = a_id[k]
            RETURNING balance_picos, granted_seq INTO v, g;
            hit := FOUND;
            IF guard AND hit AND totals[k] > 0 AND v < a_low[k] THEN
                -- Once per grant.
                IF NOT EXISTS (SELECT 1 FROM alerts WHERE dedupe_key = a_key[k] || g) THEN
                    RAISE EXCEPTION 'this settlement raises an alert' USING ERRCODE = 'TG001';
                END IF;
            END IF;
        ELSE
            UPDATE budget_counters SET spent_picos = spent_picos + totals[k]
            WHERE scope = a_owner[k] AND scope_id = a_id[k] AND period_start = a_start[k]
            RETURNING spent_picos, 0 INTO v, g;
            hit := FOUND;
            IF guard AND hit THEN
                crossed := false;
                FOR i IN 1..marks LOOP
                    crossed := crossed OR (m_acct[i] = k AND m_mark[i] > v - totals[k] AND m_mark[i] <= v);
                END LOOP;
                IF crossed THEN
                    RAISE EXCEPTION 'this settlement raises an alert' USING ERRCODE = 'TG001';
                END IF;
                IF a_from[k] IS NOT NULL AND v >= a_from[k] AND v - totals[k] < a_limit[k] THEN
                    -- Raised once per period.
                    IF NOT EXISTS (SELECT 1 FROM alerts WHERE dedupe_key = a_key[k]) THEN
                        RAISE EXCEPTION 'this settlement raises an alert' USING ERRCODE = 'TG001';
                    END IF;
                END IF;
            END IF;
        END IF;
        IF hit THEN
            account_no := k; after_value := v; grant_seq := g;
            RETURN NEXT;
        END IF;
    END LOOP;
    IF array_length(array_remove(l_entry, NULL), 1) > 0 THEN
        INSERT INTO credit_entries (id, owner_kind, owner_id, kind, amount_picos, usage_id, note, created_at)
        SELECT l.entry, a_owner[l.acct], a_id[l.acct], 'usage', -l.cost, l.c, NULL, created
        FROM unnest(l_call, l_acct, l_cost, l_entry) AS l(c, acct, cost, entry)
        JOIN unnest(inserted) AS ins(id) ON ins.id = l.c
        WHERE l.entry IS NOT NULL;
    END IF;
END;
$$;
