-- tollgate_reserve (0017) with two of its SQL statements made PL/pgSQL expressions: each
-- statement a function runs costs an executor start and end, an expression does not
-- (docs/benchmarks.md, "PostgreSQL: the settlement in the batch statement"). The setting is an
-- assignment; each advisory lock is first tried (an expression, which takes it when it is
-- free, nearly always) and only waited for by a statement when another batch holds it. The
-- locks are still taken one by one in the order given, so the decision is unchanged.
CREATE OR REPLACE FUNCTION tollgate_reserve(
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
    setting TEXT;
    lk BIGINT;
BEGIN
    setting := set_config('synchronous_commit', 'off', true);
    FOREACH lk IN ARRAY locks LOOP
        IF NOT pg_try_advisory_xact_lock(lk) THEN
            PERFORM pg_advisory_xact_lock(lk);
        END IF;
    END LOOP;
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
