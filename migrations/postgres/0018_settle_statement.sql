-- A ledger batch's settlement inside the batch's one statement (src/store/pg_settle.rs, where
-- the arguments are described): the costs of the calls the batch's insert added (`inserted`;
-- a retried batch settles nothing twice), summed per account and applied in the order the
-- accounts come in (the lock order, after the rollup rows the insert's triggers locked), with
-- the credit entries of charges to balances.
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
CREATE FUNCTION tollgate_settle(
    inserted TEXT[],
    a_credit BOOLEAN[], a_owner TEXT[], a_id TEXT[], a_start BIGINT[],
    a_limit BIGINT[], a_from BIGINT[], a_low BIGINT[], a_key TEXT[],
    m_acct INT[], m_mark BIGINT[],
    l_call TEXT[], l_acct INT[], l_cost BIGINT[], l_entry TEXT[],
    created BIGINT, guard BOOLEAN
) RETURNS TABLE (account_no INT, after_value BIGINT, grant_seq BIGINT)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    n INT := COALESCE(array_length(a_owner, 1), 0);
    totals NUMERIC[];
    k INT;
    v BIGINT;
    g BIGINT;
    hit BOOLEAN;
BEGIN
    SELECT array_agg(t.s ORDER BY o.pos) INTO totals
    FROM generate_series(1, n) AS o(pos)
    LEFT JOIN (
        SELECT l.acct, SUM(l.cost) AS s
        FROM unnest(l_call, l_acct, l_cost) AS l(c, acct, cost)
        JOIN unnest(inserted) AS i(id) ON i.id = l.c
        GROUP BY l.acct
    ) t ON t.acct = o.pos;
    FOR k IN 1..n LOOP
        CONTINUE WHEN totals[k] IS NULL;
        IF a_credit[k] THEN
            UPDATE credit_accounts SET balance_picos = balance_picos - totals[k]
            WHERE owner_kind = a_owner[k] AND owner_id = a_id[k]
            RETURNING balance_picos, granted_seq INTO v, g;
            hit := FOUND;
            IF guard AND hit AND totals[k] > 0 AND v < a_low[k]
               AND NOT EXISTS (SELECT 1 FROM alerts WHERE dedupe_key = a_key[k] || g) THEN
                RAISE EXCEPTION 'this settlement raises an alert' USING ERRCODE = 'TG001';
            END IF;
        ELSE
            UPDATE budget_counters SET spent_picos = spent_picos + totals[k]
            WHERE scope = a_owner[k] AND scope_id = a_id[k] AND period_start = a_start[k]
            RETURNING spent_picos, 0 INTO v, g;
            hit := FOUND;
            IF guard AND hit AND (
                EXISTS (SELECT 1 FROM unnest(m_acct, m_mark) AS m(acct, mark)
                        WHERE m.acct = k AND m.mark > v - totals[k] AND m.mark <= v)
                OR (a_from[k] IS NOT NULL AND v >= a_from[k] AND v - totals[k] < a_limit[k]
                    AND NOT EXISTS (SELECT 1 FROM alerts WHERE dedupe_key = a_key[k]))
            ) THEN
                RAISE EXCEPTION 'this settlement raises an alert' USING ERRCODE = 'TG001';
            END IF;
        END IF;
        IF hit THEN
            account_no := k; after_value := v; grant_seq := g;
            RETURN NEXT;
        END IF;
    END LOOP;
    INSERT INTO credit_entries (id, owner_kind, owner_id, kind, amount_picos, usage_id, note, created_at)
    SELECT l.entry, a_owner[l.acct], a_id[l.acct], 'usage', -l.cost, l.c, NULL, created
    FROM unnest(l_call, l_acct, l_cost, l_entry) AS l(c, acct, cost, entry)
    JOIN unnest(inserted) AS i(id) ON i.id = l.c
    WHERE l.entry IS NOT NULL;
END;
$$;
