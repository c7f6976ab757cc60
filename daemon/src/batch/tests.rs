//! Exact decisions of the planner: windows, sizes, prefix-closed cuts, padding, shuffling.

use super::Routing;
use super::plan::{Cut, Event, Limits, PlannedBatch, Planner};
use crate::config::Replication;
use crate::store::{Arrival, LocalEntry};
use enmesh_protocol::feed::Feed;
use enmesh_protocol::gaen::Tek;
use enmesh_protocol::interval::{IntervalNumber, RollingPeriod};
use enmesh_protocol::keys::{DaysSinceOnset, DiagnosisKey, ReportType, TransmissionRisk};
use enmesh_protocol::region::{ClusterId, RegionId};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn region(text: &str) -> RegionId {
    text.parse().unwrap()
}

fn feed(text: &str) -> Feed {
    text.parse().unwrap()
}

fn key(n: u8, start: u32) -> DiagnosisKey {
    DiagnosisKey {
        key: Tek([n; 16]),
        rolling_start: IntervalNumber(start),
        rolling_period: RollingPeriod::new(144).unwrap(),
        transmission_risk: TransmissionRisk::new(i64::from(n % 9)).unwrap(),
        report_type: ReportType::ConfirmedTest,
        days_since_onset: Some(DaysSinceOnset::new(i32::from(n % 14)).unwrap()),
    }
}

fn at(unix_secs: u64, seq: u64) -> Arrival {
    Arrival { unix_secs, seq }
}

/// Key `n` arriving at `secs` (seq `n`) from an upload that visited `visited`.
fn entry(n: u8, secs: u64, visited: &[&str]) -> LocalEntry {
    LocalEntry {
        at: at(secs, u64::from(n)),
        key: key(n, 2_650_000 + u32::from(n)),
        visited: visited.iter().map(|r| region(r)).collect(),
    }
}

fn planner(mode: Replication, window_ms: u64, max_keys: usize, min_keys: usize) -> Planner {
    let routing = Routing {
        home: region("DE"),
        cluster: ClusterId::new("EU").unwrap(),
        cluster_regions: vec![region("DE"), region("FR"), region("IT")],
        intra_cluster: mode,
    };
    let limits = Limits {
        window_ms,
        max_keys,
        min_keys,
    };
    Planner::new(routing, limits, None)
}

fn rng() -> StdRng {
    StdRng::seed_from_u64(7)
}

/// A batch with its keys sorted (the planner shuffles them).
fn sorted(mut batch: PlannedBatch) -> PlannedBatch {
    batch.keys.sort_by_key(|k| k.key.0);
    batch
}

/// The expected batch of real keys `ns` (no padding).
fn batch(feed_name: &str, ns: &[u8]) -> PlannedBatch {
    PlannedBatch {
        feed: feed(feed_name),
        keys: ns
            .iter()
            .map(|&n| key(n, 2_650_000 + u32::from(n)))
            .collect(),
        real_keys: ns.len(),
    }
}

fn normalised(cut: Option<Cut>) -> Option<Cut> {
    cut.map(|cut| Cut {
        batches: cut.batches.into_iter().map(sorted).collect(),
        position: cut.position,
    })
}

/// Ms at the end of `secs`' second plus `ms`.
fn after(secs: u64, ms: u64) -> u64 {
    secs * 1000 + 999 + ms
}

#[test]
fn a_feed_is_cut_once_its_window_has_passed_since_its_oldest_key() {
    let mut p = planner(Replication::A2a, 1000, 10, 0);
    let mut rng = rng();
    let read = Event::Read(vec![
        entry(1, 100, &[]),
        entry(2, 100, &[]),
        entry(3, 101, &[]),
    ]);
    assert_eq!(p.handle(read, after(100, 0), &mut rng), None);
    assert_eq!(p.handle(Event::Tick, after(100, 999), &mut rng), None);
    assert_eq!(
        normalised(p.handle(Event::Tick, after(100, 1000), &mut rng)),
        Some(Cut {
            batches: vec![batch("a2a/EU", &[1, 2, 3])],
            position: at(101, 3),
        })
    );
    assert_eq!(p.pending_len(), 0);
    assert_eq!(p.read_after(), Some(at(101, 3)));
    assert_eq!(p.handle(Event::Tick, after(200, 0), &mut rng), None);
}

#[test]
fn a_full_feed_is_cut_in_full_batches_and_the_rest_waits_for_its_window() {
    let mut p = planner(Replication::A2a, 60_000, 3, 0);
    let mut rng = rng();
    let entries = (1..=7).map(|n| entry(n, 100, &[])).collect();
    assert_eq!(
        normalised(p.handle(Event::Read(entries), after(100, 0), &mut rng)),
        Some(Cut {
            batches: vec![batch("a2a/EU", &[1, 2, 3]), batch("a2a/EU", &[4, 5, 6])],
            position: at(100, 6),
        })
    );
    assert_eq!(p.pending_len(), 1);
    assert_eq!(p.handle(Event::Tick, after(100, 59_999), &mut rng), None);
    assert_eq!(
        normalised(p.handle(Event::Tick, after(100, 60_000), &mut rng)),
        Some(Cut {
            batches: vec![batch("a2a/EU", &[7])],
            position: at(100, 7),
        })
    );
}

#[test]
fn cuts_are_prefix_closed_across_feeds() {
    // a2a mode: key 1 also goes to partial/US; a2a fills at key 3 and partial/US, not due,
    // is cut up to the same point; key 4 waits.
    let mut p = planner(Replication::A2a, 60_000, 3, 0);
    let mut rng = rng();
    let entries = vec![
        entry(1, 100, &["US", "FR", "DE"]),
        entry(2, 100, &[]),
        entry(3, 100, &["FR"]),
        entry(4, 100, &["US"]),
    ];
    assert_eq!(
        normalised(p.handle(Event::Read(entries), after(100, 0), &mut rng)),
        Some(Cut {
            batches: vec![batch("a2a/EU", &[1, 2, 3]), batch("partial/US", &[1])],
            position: at(100, 3),
        })
    );
    assert_eq!(p.pending_len(), 1);

    // Partial mode: IT's window passes; FR's key sits between IT's keys, so it is cut with them
    // though its own window has not passed.
    let mut p = planner(Replication::Partial, 2000, 10, 0);
    let entries = vec![
        entry(1, 100, &["IT"]),
        entry(2, 104, &["FR"]),
        entry(3, 104, &["IT"]),
        entry(4, 104, &["FR"]),
    ];
    assert_eq!(
        p.handle(Event::Read(entries), after(100, 1999), &mut rng),
        None
    );
    assert_eq!(
        normalised(p.handle(Event::Tick, after(100, 2000), &mut rng)),
        Some(Cut {
            batches: vec![batch("partial/FR", &[2]), batch("partial/IT", &[1, 3])],
            position: at(104, 3),
        })
    );
    assert_eq!(p.handle(Event::Tick, after(104, 1999), &mut rng), None);
    assert_eq!(
        normalised(p.handle(Event::Tick, after(104, 2000), &mut rng)),
        Some(Cut {
            batches: vec![batch("partial/FR", &[4])],
            position: at(104, 4),
        })
    );
}

#[test]
fn keys_without_feeds_move_the_position_without_a_batch() {
    let mut p = planner(Replication::Partial, 1000, 10, 0);
    let mut rng = rng();
    let entries = vec![
        entry(1, 100, &["DE"]),
        entry(2, 100, &[]),
        entry(3, 100, &["FR"]),
    ];
    assert_eq!(
        p.handle(Event::Read(entries), after(100, 0), &mut rng),
        Some(Cut {
            batches: vec![],
            position: at(100, 2),
        })
    );
    assert_eq!(p.pending_len(), 1);
    assert_eq!(
        normalised(p.handle(Event::Flush, after(100, 0), &mut rng)),
        Some(Cut {
            batches: vec![batch("partial/FR", &[3])],
            position: at(100, 3),
        })
    );
    assert_eq!(p.handle(Event::Flush, after(100, 0), &mut rng), None);
}

#[test]
fn flush_cuts_everything_in_batches_of_at_most_max_keys() {
    let mut p = planner(Replication::A2a, 60_000, 3, 0);
    let mut rng = rng();
    let entries = (1..=2).map(|n| entry(n, 100, &["US"])).collect();
    assert_eq!(
        p.handle(Event::Read(entries), after(100, 0), &mut rng),
        None
    );
    assert_eq!(
        normalised(p.handle(Event::Flush, after(100, 0), &mut rng)),
        Some(Cut {
            batches: vec![batch("a2a/EU", &[1, 2]), batch("partial/US", &[1, 2])],
            position: at(100, 2),
        })
    );
}

#[test]
fn keys_at_or_before_the_read_position_are_ignored() {
    let routing = Routing {
        home: region("DE"),
        cluster: ClusterId::new("EU").unwrap(),
        cluster_regions: vec![],
        intra_cluster: Replication::A2a,
    };
    let limits = Limits {
        window_ms: 1,
        max_keys: 10,
        min_keys: 0,
    };
    let mut p = Planner::new(routing, limits, Some(at(100, 2)));
    let mut rng = rng();
    let entries = (1..=3).map(|n| entry(n, 100, &[])).collect();
    assert_eq!(
        normalised(p.handle(Event::Read(entries), after(100, 1), &mut rng)),
        Some(Cut {
            batches: vec![batch("a2a/EU", &[3])],
            position: at(100, 3),
        })
    );
}

#[test]
fn small_batches_are_padded_with_fakes_copied_from_real_keys() {
    let mut p = planner(Replication::A2a, 1000, 100, 20);
    let mut rng = rng();
    let entries = vec![entry(1, 100, &[]), entry(2, 100, &[])];
    p.handle(Event::Read(entries), after(100, 0), &mut rng);
    let cut = p.handle(Event::Flush, after(100, 0), &mut rng).unwrap();
    let [batch] = cut.batches.as_slice() else {
        panic!("want one batch, got {:?}", cut.batches);
    };
    assert_eq!(batch.keys.len(), 20);
    assert_eq!(batch.real_keys, 2);
    let reals = [key(1, 2_650_001), key(2, 2_650_002)];
    for real in &reals {
        assert_eq!(batch.keys.iter().filter(|k| *k == real).count(), 1);
    }
    let mut datas: Vec<[u8; 16]> = batch.keys.iter().map(|k| k.key.0).collect();
    datas.sort_unstable();
    datas.dedup();
    assert_eq!(
        datas.len(),
        20,
        "fake key data repeats or copies a real key"
    );
    let mut sources = [0; 2];
    for fake in batch.keys.iter().filter(|k| !reals.contains(k)) {
        let source = reals
            .iter()
            .position(|real| {
                DiagnosisKey {
                    key: fake.key,
                    ..*real
                } == *fake
            })
            .expect("a fake copies every field but the key data from a real key");
        sources[source] += 1;
    }
    assert!(
        sources.iter().all(|&n| n > 0),
        "fakes copy from one real key only: {sources:?}"
    );
    // Fakes are shuffled in, not appended after the real keys (seeded: deterministic).
    assert_ne!(&batch.keys[..2], &reals[..]);
}

#[test]
fn a_full_batch_is_not_padded_and_a_remainder_is() {
    let mut p = planner(Replication::A2a, 1000, 3, 2);
    let mut rng = rng();
    let entries = (1..=4).map(|n| entry(n, 100, &[])).collect();
    let cut = p
        .handle(Event::Read(entries), after(100, 0), &mut rng)
        .unwrap();
    assert_eq!(
        normalised(Some(cut.clone())).unwrap().batches,
        vec![batch("a2a/EU", &[1, 2, 3])]
    );
    let cut = p.handle(Event::Flush, after(100, 0), &mut rng).unwrap();
    let [rest] = cut.batches.as_slice() else {
        panic!("want one batch, got {:?}", cut.batches);
    };
    assert_eq!((rest.keys.len(), rest.real_keys), (2, 1));
    assert!(rest.keys.contains(&key(4, 2_650_004)));
}

#[test]
fn keys_are_shuffled_deterministically_for_a_seed() {
    let run = |seed: u64| {
        let mut p = planner(Replication::A2a, 1000, 1000, 0);
        let mut rng = StdRng::seed_from_u64(seed);
        let entries = (0..=199).map(|n| entry(n, 100, &[])).collect();
        p.handle(Event::Read(entries), after(100, 0), &mut rng);
        let cut = p.handle(Event::Flush, after(100, 0), &mut rng).unwrap();
        cut.batches.into_iter().next().unwrap().keys
    };
    let arrival: Vec<DiagnosisKey> = (0..=199)
        .map(|n| key(n, 2_650_000 + u32::from(n)))
        .collect();
    let shuffled = run(1);
    assert_ne!(shuffled, arrival, "200 keys left in arrival order");
    assert_eq!(shuffled, run(1));
    assert_ne!(shuffled, run(2));
    let mut sorted = shuffled;
    sorted.sort_by_key(|k| k.key.0);
    assert_eq!(sorted, arrival);
}

#[test]
fn the_config_example_gives_the_batcher_its_routing_and_limits() {
    let config = crate::config::Config::from_toml(crate::config::EXAMPLE).unwrap();
    let batcher = super::BatcherConfig::from_config(&config);
    assert_eq!(
        batcher,
        super::BatcherConfig {
            routing: Routing {
                home: region("DE"),
                cluster: ClusterId::new("EU").unwrap(),
                cluster_regions: vec![region("DE"), region("FR"), region("IT")],
                intra_cluster: Replication::A2a,
            },
            limits: Limits {
                window_ms: 60_000,
                max_keys: 10_000,
                min_keys: 100,
            },
        }
    );
}

mod properties {
    //! Whatever the sequence of reads, ticks, flushes and restarts: every key lands exactly once
    //! in each feed its upload is destined for, in no other feed, and batches respect the limits.

    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    const VISITED: [&[&str]; 5] = [&[], &["FR"], &["US"], &["US", "GB"], &["IT", "US"]];

    #[derive(Debug, Clone)]
    enum Step {
        Read(usize),
        Tick(u64),
        Flush,
        Restart,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (1usize..6).prop_map(Step::Read),
            (0u64..3_000).prop_map(Step::Tick),
            Just(Step::Flush),
            Just(Step::Restart),
        ]
    }

    /// The feeds an upload that visited `visited` goes to, worked out independently of `Routing`
    /// (home DE, cluster EU = DE, FR, IT, a2a inside the cluster).
    fn expected_feeds(visited: &[&str]) -> Vec<String> {
        let mut feeds = vec!["a2a/EU".to_owned()];
        for r in visited {
            if !["DE", "FR", "IT"].contains(r) {
                feeds.push(format!("partial/{r}"));
            }
        }
        feeds
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn every_key_once_per_destination_feed(
            uploads in proptest::collection::vec((0usize..5, 1u8..4, 0u64..3), 1..25),
            steps in proptest::collection::vec(step(), 0..40),
            max_keys in 1usize..6,
            min_keys in 0usize..4,
        ) {
            // Keys 1.. in arrival order; an upload's keys share its visited list and second.
            let mut entries = Vec::new();
            let (mut secs, mut n) = (1_700_000_000u64, 0u8);
            for (visited, count, gap) in uploads {
                secs += gap;
                for _ in 0..count {
                    n += 1;
                    entries.push(entry(n, secs, VISITED[visited]));
                }
            }
            let limits = Limits { window_ms: 1_000, max_keys, min_keys };
            let make = |position: Option<Arrival>| Planner::new(p_routing(), limits, position);
            let mut planner = make(None);
            let mut committed: Option<Arrival> = None;
            let mut now_ms = secs * 1000;
            let mut rng = rng();
            let mut seen: BTreeMap<String, Vec<u8>> = BTreeMap::new();
            let mut apply = |cut: Cut, committed: &mut Option<Arrival>| -> Result<(), TestCaseError> {
                prop_assert!(Some(cut.position) > *committed, "the position moves forward");
                *committed = Some(cut.position);
                for batch in cut.batches {
                    prop_assert!(batch.keys.len() <= max_keys.max(min_keys));
                    prop_assert!(batch.keys.len() >= min_keys.min(max_keys).max(batch.real_keys));
                    let real = seen.entry(batch.feed.to_string()).or_default();
                    for k in &batch.keys {
                        // Real keys are [n; 16]; padding is random and never has that shape.
                        if k.key.0.iter().all(|b| *b == k.key.0[0]) && k.key.0[0] != 0 {
                            real.push(k.key.0[0]);
                        }
                    }
                }
                Ok(())
            };
            for step in steps.into_iter().chain([Step::Flush]) {
                let event = match step {
                    Step::Read(count) => {
                        let from = entries.iter().position(|e| Some(e.at) > planner.read_after());
                        let chunk: Vec<_> = from
                            .map(|i| entries[i..].iter().take(count).cloned().collect())
                            .unwrap_or_default();
                        Event::Read(chunk)
                    }
                    Step::Tick(ms) => {
                        now_ms += ms;
                        Event::Tick
                    }
                    Step::Flush => Event::Flush,
                    Step::Restart => {
                        // A crash: what was not committed is read again by a new planner.
                        planner = make(committed);
                        continue;
                    }
                };
                if let Some(cut) = planner.handle(event, now_ms, &mut rng) {
                    apply(cut, &mut committed)?;
                }
            }
            // Drain: read everything left and flush.
            loop {
                let rest: Vec<_> = entries.iter().filter(|e| Some(e.at) > planner.read_after()).cloned().collect();
                if rest.is_empty() && planner.pending_len() == 0 {
                    break;
                }
                for event in [Event::Read(rest), Event::Flush] {
                    if let Some(cut) = planner.handle(event, now_ms, &mut rng) {
                        apply(cut, &mut committed)?;
                    }
                }
            }
            let mut want: BTreeMap<String, Vec<u8>> = BTreeMap::new();
            for (i, e) in entries.iter().enumerate() {
                let visited: Vec<String> = e.visited.iter().map(ToString::to_string).collect();
                let visited: Vec<&str> = visited.iter().map(String::as_str).collect();
                for feed in expected_feeds(&visited) {
                    want.entry(feed).or_default().push(u8::try_from(i + 1).unwrap());
                }
            }
            for keys in seen.values_mut() {
                keys.sort_unstable();
            }
            prop_assert_eq!(seen, want);
        }
    }

    fn p_routing() -> Routing {
        Routing {
            home: region("DE"),
            cluster: ClusterId::new("EU").unwrap(),
            cluster_regions: vec![region("DE"), region("FR"), region("IT")],
            intra_cluster: Replication::A2a,
        }
    }
}

#[test]
fn a_key_read_inside_its_arrival_second_waits_one_window_from_the_read() {
    let mut p = planner(Replication::A2a, 50, 10, 0);
    let mut rng = rng();
    // Read 200 ms into second 100: due at 100.250 s, long before the second ends.
    let read_ms = 100_200;
    assert_eq!(
        p.handle(Event::Read(vec![entry(1, 100, &[])]), read_ms, &mut rng),
        None
    );
    assert_eq!(p.handle(Event::Tick, read_ms + 49, &mut rng), None);
    assert_eq!(
        normalised(p.handle(Event::Tick, read_ms + 50, &mut rng)),
        Some(Cut {
            batches: vec![batch("a2a/EU", &[1])],
            position: at(100, 1),
        })
    );
    // A read stamped before the key's arrival second (clocks disagree) counts from its end.
    let mut p = planner(Replication::A2a, 50, 10, 0);
    p.handle(Event::Read(vec![entry(2, 100, &[])]), 99_000, &mut rng);
    assert_eq!(p.handle(Event::Tick, 100_999 + 49, &mut rng), None);
    assert!(p.handle(Event::Tick, 100_999 + 50, &mut rng).is_some());
}
