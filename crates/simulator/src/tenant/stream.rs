//! The generator proper: walks the hours of the range, asks the traffic module for messages,
//! gives them times and identities, and releases observations in `observed_at` order.
//!
//! Messages are produced in `received` order (each takes the next slice of its hour), and an
//! observation is never earlier than its record's `received`. So once a message is produced,
//! every pending observation at or before the start of the next slice is final in order and
//! can be released. The heap therefore holds only minutes of traffic plus the few late
//! observations, never the whole range.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use chrono::{DateTime, TimeDelta, Utc};
use mailscope_record::{Record, Status};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use super::calendar::HourPlan;
use super::ids;
use super::org::{Org, TenantInfo};
use super::traffic::{self, Message};
use super::{Observation, SpecialDays};

const SECOND: i64 = 1_000_000_000;
const MINUTE: i64 = 60 * SECOND;
/// Received carries seven fractional digits, like the API's.
const TICK: i64 = 100;
/// Share of messages first seen with a provisional status (more during an outage).
const LATE_SHARE: f64 = 0.04;
const LATE_SHARE_OUTAGE: f64 = 0.25;

struct Pending {
    at: i64,
    seq: u64,
    record: Box<Record>,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    /// Reversed, so that `BinaryHeap` pops the earliest observation first; `seq` breaks ties
    /// in production order, which keeps the stream deterministic.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// Streams the tenant's observations; see the crate documentation.
pub struct Generator {
    org: Org,
    plans: Vec<HourPlan>,
    special: SpecialDays,
    start: DateTime<Utc>,
    end_ns: i64,
    rng: ChaCha8Rng,
    hour: usize,
    rows_done: u64,
    heap: BinaryHeap<Pending>,
    seq: u64,
    /// No observation produced from now on is earlier than this (ns from `start`).
    frontier: i64,
}

impl std::fmt::Debug for Generator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generator")
            .field("tenant", &self.org.info)
            .field("hour", &self.hour)
            .finish()
    }
}

impl Generator {
    pub(super) fn new(
        org: Org,
        plans: Vec<HourPlan>,
        special: SpecialDays,
        start: DateTime<Utc>,
        end_ns: i64,
        rng: ChaCha8Rng,
    ) -> Generator {
        Generator {
            org,
            plans,
            special,
            start,
            end_ns,
            rng,
            hour: 0,
            rows_done: 0,
            heap: BinaryHeap::new(),
            seq: 0,
            frontier: 0,
        }
    }

    /// The organisation being simulated.
    pub fn tenant(&self) -> &TenantInfo {
        &self.org.info
    }

    /// The outage, blast, huge-attachment, holiday and spam-burst days of this run.
    pub fn special_days(&self) -> &SpecialDays {
        &self.special
    }

    /// Local wall-clock time of the tenant at an instant (for rhythm checks and the demo).
    pub fn local_time(&self, at: DateTime<Utc>) -> chrono::NaiveDateTime {
        self.org.zone.local(at)
    }

    /// Produces the next message (and its NDR) into the heap; false once the range is done.
    fn produce(&mut self) -> bool {
        while self.hour < self.plans.len() && self.rows_done >= self.plans[self.hour].rows {
            self.hour += 1;
            self.rows_done = 0;
        }
        let Some(plan) = self.plans.get(self.hour).cloned() else {
            return false;
        };
        let budget = plan.rows - self.rows_done;
        let mut message = traffic::message(&self.org, &plan, &mut self.rng);
        message.rows.truncate(budget as usize);
        let rows = message.rows.len() as u64;
        // Take the next slice of the hour; the jitter stays inside the slice so `received`
        // never goes backwards.
        let slice = |done: u64| {
            plan.start_ns + (plan.len_ns as f64 * done as f64 / plan.rows as f64) as i64
        };
        let slice_start = slice(self.rows_done);
        let slice_end = slice(self.rows_done + rows);
        let received = align(
            slice_start + (self.rng.random::<f64>() * (slice_end - slice_start) as f64) as i64,
        );
        let late_share = if plan.outage {
            LATE_SHARE_OUTAGE
        } else {
            LATE_SHARE
        };
        let plan_tail = plan.tail;
        self.rows_done += rows;
        let ndr = if self.rows_done < plan.rows {
            traffic::ndr(&self.org, &message, &plan, &mut self.rng)
        } else {
            None
        };
        self.schedule(message, received, late_share, plan_tail);
        if let Some(ndr) = ndr {
            self.rows_done += 1;
            let at = align(
                (received + self.rng.random_range(2 * SECOND..90 * SECOND)).min(self.end_ns - TICK),
            );
            self.schedule(ndr, at.max(received), late_share, plan_tail);
        }
        let next = if self.rows_done < plan.rows {
            slice(self.rows_done)
        } else {
            plan.start_ns + plan.len_ns
        };
        self.frontier = self.frontier.max(next.min(self.end_ns));
        true
    }

    /// Turns a message into records and queues their observations.
    fn schedule(&mut self, message: Message, received: i64, late_share: f64, tail: bool) {
        let received_at = self.start + TimeDelta::nanoseconds(received);
        let trace_id = ids::trace_id(&mut self.rng);
        // Some internal mail is recalled by its sender minutes after delivery. Decided from
        // the trace id, not drawn, so the rest of the tenant is what it was without recalls.
        let recall = (message.kind == traffic::Kind::Internal && !tail)
            .then(|| recall_delay(&trace_id))
            .flatten();
        let late = self.rng.random_bool(late_share);
        let early_delay = self.rng.random_range(MINUTE..12 * MINUTE);
        // Settling takes minutes to hours: lognormal around 40 minutes, capped at 10 hours.
        let z: f64 = self.rng.sample(StandardNormal);
        let settle = ((40.0 * (z * 0.9).exp()) as i64 * MINUTE).clamp(3 * MINUTE, 600 * MINUTE);
        let early_status = if self.rng.random_bool(0.7) {
            Status::GettingStatus
        } else {
            Status::Pending
        };
        let Message {
            sender,
            message_id,
            subject,
            from_ip,
            size,
            rows,
            ..
        } = message;
        for row in rows {
            let final_status = row.status;
            let record = Record {
                organization: self.org.info.organization.clone(),
                message_id: message_id.clone(),
                received: received_at,
                sender_address: sender.clone(),
                recipient_address: row.recipient,
                subject: subject.clone(),
                status: final_status.clone(),
                to_ip: row.to_ip,
                from_ip: from_ip.clone(),
                size,
                message_trace_id: trace_id.clone(),
                start_date: None,
                end_date: None,
                index: None,
            };
            let provisional = late
                && !tail
                && !matches!(final_status, Status::GettingStatus | Status::Expanded)
                && (final_status != Status::Pending || early_status != Status::Pending);
            let final_at = if provisional {
                let mut early = record.clone();
                early.status = early_status.clone();
                self.push(received + early_delay, early);
                received + early_delay + settle
            } else {
                received + self.rng.random_range(20 * SECOND..6 * MINUTE)
            };
            let recalled = (final_status == Status::Delivered)
                .then_some(recall)
                .flatten()
                .map(|delay| {
                    let mut recalled = record.clone();
                    recalled.status = Status::Recalled;
                    (final_at + delay, recalled)
                });
            self.push(final_at, record);
            if let Some((at, recalled)) = recalled {
                self.push(at, recalled);
            }
        }
    }

    fn push(&mut self, at: i64, record: Record) {
        self.seq += 1;
        self.heap.push(Pending {
            at: align(at),
            seq: self.seq,
            record: Box::new(record),
        });
    }

    fn pop(&mut self) -> Option<Observation> {
        let pending = self.heap.pop()?;
        Some(Observation {
            record: *pending.record,
            observed_at: self.start + TimeDelta::nanoseconds(pending.at),
        })
    }
}

/// One internal message in [`RECALL_ONE_IN`] is recalled, this long after its delivery (2 to
/// 41 minutes), as decided by its trace id's FNV-1a hash.
fn recall_delay(trace_id: &str) -> Option<i64> {
    let hash = trace_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    (hash % RECALL_ONE_IN == 0).then(|| (2 + ((hash >> 32) % 40) as i64) * MINUTE)
}

/// How rare a recall is among internal messages.
const RECALL_ONE_IN: u64 = 150;

fn align(ns: i64) -> i64 {
    ns - ns.rem_euclid(TICK)
}

impl Iterator for Generator {
    type Item = Observation;

    fn next(&mut self) -> Option<Observation> {
        loop {
            if self.heap.peek().is_some_and(|top| top.at <= self.frontier) {
                return self.pop();
            }
            if !self.produce() {
                return self.pop();
            }
        }
    }
}
