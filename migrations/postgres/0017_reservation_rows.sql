-- Reservations on PostgreSQL are insert-only rows: an account's reserved amount is the sum of
-- its rows, read with its spent (or balance) in one statement under the account's advisory
-- lock (src/store/reserve_many.rs). This index serves that sum; the accounts'
-- `reserved_picos` columns are no longer kept (left in place, and cleared by a full release).
CREATE INDEX budget_reservations_account ON budget_reservations (account, account_id, period_start);

-- A reservation batch in one statement, so one round trip (src/store/pg_reserve.rs, where the
-- arguments are described; the same decision as `holds::take` in Rust). In a VOLATILE function
-- under READ COMMITTED each query takes a fresh snapshot, so the read below sees every batch
-- that committed before the locks were granted. The locks and the rows end with the calling
-- statement's transaction. Returns a row per refused call (its number, the refusing line,
-- what remained there), or one row with call_no -1 when a budget counter does not exist yet
-- (nothing is written; the caller then reserves in a transaction that creates it).
CREATE FUNCTION tollgate_reserve(
    locks BIGINT[],
    a_credit BOOLEAN[], a_owner TEXT[], a_id TEXT[], a_start BIGINT[], a_account TEXT[],
    l_call INT[], l_line INT[], l_acct INT[], l_rule INT[], l_limit BIGINT[], l_amount BIGINT[],
    call_ids TEXT[], created BIGINT, instance TEXT
) RETURNS TABLE (call_no INT, line_no INT, remaining BIGINT)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    val NUMERIC[];
    held NUMERIC[];
    taking NUMERIC[];
    n INT := COALESCE(array_length(a_owner, 1), 0);
    lines INT := COALESCE(array_length(l_call, 1), 0);
    admitted INT[] := '{}';
    i INT := 1;
    first INT;
    a INT;
    refused BOOLEAN;
    rest NUMERIC;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    PERFORM pg_advisory_xact_lock(k) FROM unnest(locks) AS k;
    SELECT array_agg(s.v ORDER BY s.o), array_agg(s.h ORDER BY s.o) INTO val, held FROM (
        SELECT k.o,
            CASE WHEN k.credit THEN
                (SELECT c.balance_picos FROM credit_accounts c WHERE c.owner_kind = k.owner AND c.owner_id = k.id)
            ELSE
                (SELECT b.spent_picos FROM budget_counters b
                 WHERE b.scope = k.owner AND b.scope_id = k.id AND b.period_start = k.start)
            END::NUMERIC AS v,
            COALESCE((SELECT SUM(r.amount_picos) FROM budget_reservations r
                      WHERE r.account = k.account AND r.account_id = k.id AND r.period_start = k.start), 0) AS h
        FROM unnest(a_credit, a_owner, a_id, a_start, a_account) WITH ORDINALITY AS k(credit, owner, id, start, account, o)
    ) s;
    FOR a IN 1..n LOOP
        IF NOT a_credit[a] AND val[a] IS NULL THEN
            call_no := -1; line_no := a; remaining := NULL;
            RETURN NEXT;
            RETURN;
        END IF;
    END LOOP;
    WHILE i <= lines LOOP
        first := i;
        refused := false;
        taking := array_fill(0::NUMERIC, ARRAY[n]);
        WHILE i <= lines AND l_call[i] = l_call[first] LOOP
            IF NOT refused THEN
                a := l_acct[i];
                rest := NULL;
                IF l_rule[i] = 1 AND val[a] + held[a] + taking[a] + l_amount[i] > l_limit[i] THEN
                    rest := l_limit[i] - val[a] - held[a] - taking[a];
                ELSIF l_rule[i] = 2 AND val[a] IS NULL THEN
                    rest := 0;
                ELSIF l_rule[i] = 2 AND val[a] - held[a] - taking[a] - l_amount[i] < 0 THEN
                    rest := val[a] - held[a] - taking[a];
                END IF;
                IF rest IS NULL THEN
                    taking[a] := taking[a] + l_amount[i];
                ELSE
                    refused := true;
                    call_no := l_call[i]; line_no := l_line[i];
                    remaining := GREATEST(LEAST(rest, 9223372036854775807), -9223372036854775808)::BIGINT;
                    RETURN NEXT;
                END IF;
            END IF;
            i := i + 1;
        END LOOP;
        IF NOT refused THEN
            FOR a IN 1..n LOOP
                held[a] := held[a] + taking[a];
            END LOOP;
            admitted := admitted || l_call[first];
        END IF;
    END LOOP;
    INSERT INTO budget_reservations (call_id, account, account_id, period_start, amount_picos, created_at, instance_id)
    SELECT call_ids[l.c], a_account[l.a], a_id[l.a], a_start[l.a], l.amount, created, instance
    FROM unnest(l_call, l_acct, l_amount) AS l(c, a, amount)
    WHERE l.c = ANY(admitted);
END;
$$;
