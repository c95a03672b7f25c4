//! What could make a settlement on an account raise an alert, known before its value is: the
//! threshold marks, the spend from which the period's projection passes the limit, a balance's
//! low mark. The PostgreSQL ledger settles a batch inside its one statement and checks these
//! there (`tollgate_settle`, migration 0018); only when one holds does it take the transaction
//! that runs the exact rules ([`super::enforce::budget_alerts`], the low-balance check) and
//! writes the alerts. So these bounds may say "maybe" when no alert is due (that costs a
//! transaction), never "no" when one is (that would lose an alert): the tests below hold them
//! to that against the exact rules.

use rust_decimal::prelude::ToPrimitive;

use super::enforce::{Account, Scope};

/// The dedupe key of a budget period's projected-exhaustion alert.
pub fn projection_key(scope: &Scope, id: &str, period_start: i64) -> String {
    format!("projected:{}:{id}:{period_start}", scope.as_str())
}

/// A balance's low-balance alert key without the grant sequence it ends with: once per grant.
pub fn low_balance_key_prefix(owner: &Scope, id: &str) -> String {
    format!("balance_low:{}:{id}:", owner.as_str())
}

/// An account's alert bounds, the same for every call of a batch on it or the batch settles in
/// a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertBounds {
    Budget {
        /// Values a threshold alert is raised at, moving from below one to it or past it.
        marks: Vec<i64>,
        /// The spend from which the projection passes the limit, while spend is still below
        /// `limit` (`None`: no projection alert this early in the period, or without an end).
        projected_from: Option<i64>,
        limit: i64,
        /// The projection alert's dedupe key: once raised, it is not raised again.
        projection_key: String,
    },
    Credit {
        /// A charge leaving the balance below this raises the low-balance alert.
        low: i64,
        /// The alert's dedupe key without the grant sequence.
        key_prefix: String,
    },
}

impl AlertBounds {
    /// The bounds of settling on `account` at `now` (milliseconds), with the low-balance mark of
    /// the call's settlement.
    pub fn of(account: &Account, low_balance_picos: i64, now: i64) -> AlertBounds {
        match account {
            Account::Budget {
                scope,
                id,
                budget,
                period_start,
                period_end,
                ..
            } => {
                let limit = budget.limit_picos();
                let marks = budget
                    .thresholds()
                    .into_iter()
                    // A mark past any i64 value can never be reached.
                    .filter_map(|t| (rust_decimal::Decimal::from(limit) * t).ceil().to_i64())
                    .collect();
                AlertBounds::Budget {
                    marks,
                    projected_from: period_end
                        .and_then(|end| projected_from(limit, *period_start, end, now)),
                    limit,
                    projection_key: projection_key(scope, id, *period_start),
                }
            }
            Account::Credit { owner, id, .. } => AlertBounds::Credit {
                low: low_balance_picos,
                key_prefix: low_balance_key_prefix(owner, id),
            },
        }
    }

    /// Whether settling `total` on a budget that ends at `after` could raise an alert, apart
    /// from whether the projection alert was raised already: the check `tollgate_settle` makes.
    /// A batch's calls on one account move its value through `after - total ..= after` in
    /// steps of their (non-negative) costs, so a mark any of them crossed lies in that range.
    pub fn budget_may_alert(&self, total: i64, after: i64) -> bool {
        let AlertBounds::Budget {
            marks,
            projected_from,
            limit,
            ..
        } = self
        else {
            return false;
        };
        let before = after.saturating_sub(total);
        marks.iter().any(|&m| m > before && m <= after)
            || projected_from.is_some_and(|from| after >= from && before < *limit)
    }

    /// Whether charging `total` to a balance that ends at `after` could raise the low-balance
    /// alert, apart from whether it was raised for this grant already.
    pub fn credit_may_alert(&self, total: i64, after: i64) -> bool {
        matches!(self, AlertBounds::Credit { low, .. } if total > 0 && after < *low)
    }
}

/// The spend from which `budget_alerts` projects an overrun at `now`: it raises one when
/// `⌊after × length / elapsed⌋ > limit`, that is `after × length ≥ (limit + 1) × elapsed`,
/// once a tenth of the period has passed. `Some(i64::MIN)` (any spend) for a period of no
/// length, which the exact rule handles.
fn projected_from(limit: i64, start: i64, end: i64, now: i64) -> Option<i64> {
    let elapsed = i128::from(now) - i128::from(start);
    let length = i128::from(end) - i128::from(start);
    if length <= 0 {
        return Some(i64::MIN);
    }
    if elapsed * 10 < length || elapsed <= 0 {
        return None;
    }
    let need = (i128::from(limit) + 1) * elapsed;
    let from = need / length + i128::from(need % length != 0);
    Some(i64::try_from(from).unwrap_or(i64::MAX))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::budgets::enforce::budget_alerts;
    use crate::budgets::{Budget, Mode, Period};
    use std::str::FromStr;

    /// A key's hard daily budget of `limit` USD in the period from 0 to `end`.
    pub(crate) fn account(limit: &str, thresholds: Vec<f64>, end: Option<i64>) -> Account {
        Account::Budget {
            scope: Scope::Key,
            id: "k".into(),
            budget: Budget {
                limit_usd: rust_decimal::Decimal::from_str(limit).unwrap(),
                period: Period::Daily,
                mode: Mode::Hard,
                alert_thresholds: thresholds,
            },
            period_start: 0,
            period_end: end,
            webhook: None,
        }
    }

    /// Every alert the exact rule raises over a grid of batches (one call of each cost, or
    /// several calls summing to it), the bounds must allow: a bound that says "no" when an
    /// alert is due would lose that alert.
    #[test]
    fn the_bounds_allow_every_alert_the_exact_rule_raises() {
        let budgets = [
            account("0.000000000100", vec![0.5, 0.8, 1.0], Some(1000)),
            account("0.000000000097", vec![0.333333, 0.9], Some(7)),
            account("0.000000000100", vec![], None),
            account("0", vec![0.5], Some(1000)),
        ];
        let mut raised = 0;
        for a in &budgets {
            for now in [0, 50, 99, 100, 101, 500, 999, 1000, 5000] {
                let bounds = AlertBounds::of(a, 0, now);
                for before in -5..130 {
                    for costs in [vec![1], vec![7], vec![3, 4, 0, 9], vec![40, 2], vec![0]] {
                        let total: i64 = costs.iter().sum();
                        let mut value = before;
                        let mut alerts = Vec::new();
                        for c in &costs {
                            alerts.extend(budget_alerts(a, value, value + c, now));
                            value += c;
                        }
                        if !alerts.is_empty() {
                            raised += 1;
                            assert!(
                                bounds.budget_may_alert(total, value),
                                "{bounds:?}: {before} + {costs:?} at {now} raised {:?}",
                                alerts.iter().map(|a| &a.dedupe_key).collect::<Vec<_>>()
                            );
                        }
                    }
                }
            }
        }
        assert!(raised > 1000, "the grid reaches the alerts: {raised}");
    }

    /// The bounds are not "always": a batch far from every mark, early in its period, needs no
    /// transaction.
    #[test]
    fn a_quiet_settlement_is_known_quiet() {
        let a = account("0.000000000100", vec![0.5, 0.8], Some(1000));
        let early = AlertBounds::of(&a, 0, 50);
        assert!(!early.budget_may_alert(5, 20));
        assert!(early.budget_may_alert(5, 50), "crosses the 0.5 mark");
        let late = AlertBounds::of(&a, 0, 500);
        assert!(!late.budget_may_alert(1, 45), "projects 90 of 100");
        assert!(late.budget_may_alert(1, 51), "projects 102 of 100");
    }

    #[test]
    fn a_charge_below_the_low_mark_may_alert() {
        let credit = Account::Credit {
            owner: Scope::Key,
            id: "k".into(),
            webhook: None,
        };
        let b = AlertBounds::of(&credit, 100, 0);
        assert!(b.credit_may_alert(1, 99));
        assert!(!b.credit_may_alert(1, 100));
        assert!(!b.credit_may_alert(0, 5), "a free call charges nothing");
    }
}
