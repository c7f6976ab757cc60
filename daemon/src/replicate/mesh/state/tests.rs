//! Unit tests of the state machine: exact actions for each event.

use super::peers::{ADMIT_DEADLINE_MS, BLOCK_FOR_MS};
use super::*;

#[derive(Debug, PartialEq)]
struct T;

impl Types for T {
    type Peer = u32;
    type Addr = u32;
    type MsgId = u32;
    type Page = Vec<u64>;
}

const ME: u32 = 100;
const BOOT: u32 = 9;
const WITNESS_EVERY: u64 = 5;

fn r(text: &str) -> RegionId {
    text.parse().unwrap()
}

fn start(heads: &[(&str, u64)]) -> (State<T>, Vec<Action<T>>) {
    State::new(Start {
        me_peer: ME,
        me: r("DE"),
        origins: vec![r("DE"), r("FR"), r("IT")],
        heads: heads.iter().map(|(o, s)| (r(o), *s)).collect(),
        bootstrap: vec![(BOOT, None)],
        witness_every: WITNESS_EVERY,
    })
}

/// A state with `peer` connected (this node dialled) and admitted as `region`.
fn admitted(peer: u32, region: &str) -> State<T> {
    let (mut s, _) = start(&[("DE", 0)]);
    s.handle(
        Event::Connected {
            peer,
            dialer: true,
            bootstrap: None,
        },
        0,
    );
    s.handle(
        Event::Checked {
            peer,
            outcome: Ok(r(region)),
            reply: None,
        },
        0,
    );
    s
}

#[test]
fn start_dials_the_bootstrap_address_once_until_it_answers() {
    let (mut s, first) = start(&[]);
    assert_eq!(
        first,
        [Action::Dial(Dial {
            peer: None,
            addrs: vec![BOOT],
            bootstrap: Some(0)
        })]
    );
    assert_eq!(s.handle(Event::Tick, 1_000), [], "still dialling");
    assert_eq!(s.handle(Event::DialFailed { bootstrap: 0 }, 1_500), []);
    assert_eq!(
        s.handle(Event::Tick, 2_000),
        [Action::Dial(Dial {
            peer: None,
            addrs: vec![BOOT],
            bootstrap: Some(0)
        })]
    );
    // The dial finds peer 7 there: from now on it is dialled by id, and only when disconnected.
    let connected = s.handle(
        Event::Connected {
            peer: 7,
            dialer: true,
            bootstrap: Some(0),
        },
        2_100,
    );
    assert_eq!(
        connected,
        [
            Action::Score {
                peer: 7,
                admitted: false
            },
            Action::RequestAdmission { peer: 7 }
        ]
    );
    assert_eq!(s.handle(Event::Tick, 3_000), []);
    s.handle(Event::Disconnected { peer: 7 }, 3_100);
    assert_eq!(
        s.handle(Event::Tick, 4_000),
        [Action::Dial(Dial {
            peer: Some(7),
            addrs: vec![BOOT],
            bootstrap: None
        })]
    );
}

#[test]
fn a_listener_waits_for_the_dialers_chain_and_answers_only_if_it_passes() {
    let (mut s, _) = start(&[]);
    let connected = Event::Connected {
        peer: 1,
        dialer: false,
        bootstrap: None,
    };
    assert_eq!(
        s.handle(connected, 0),
        [Action::Score {
            peer: 1,
            admitted: false
        }]
    );
    // Nothing is answered before admission.
    assert_eq!(
        s.handle(
            Event::HeadsAsked {
                peer: 1,
                reply: ReplyId(1)
            },
            1
        ),
        []
    );
    let asked = Event::BatchesAsked {
        peer: 1,
        reply: ReplyId(2),
        origin: Some(r("DE")),
        after: 0,
        limit: 10,
    };
    assert_eq!(s.handle(asked, 1), []);
    let passed = Event::Checked {
        peer: 1,
        outcome: Ok(r("FR")),
        reply: Some(ReplyId(3)),
    };
    assert_eq!(
        s.handle(passed, 2),
        [
            Action::Score {
                peer: 1,
                admitted: true
            },
            Action::AskHeads {
                peer: 1,
                request: RequestId(1)
            },
            Action::AnswerAdmission { reply: ReplyId(3) },
        ]
    );
    assert_eq!(s.admitted().collect::<Vec<_>>(), [(&1, &r("FR"))]);
    let failed = Event::Checked {
        peer: 2,
        outcome: Err("other_cluster"),
        reply: Some(ReplyId(4)),
    };
    assert_eq!(
        s.handle(failed, 3),
        [Action::Block {
            peer: 2,
            reason: Blocked::Refused("other_cluster")
        }]
    );
}

#[test]
fn a_silent_peer_is_blocked_at_its_deadline_and_unblocked_later() {
    let (mut s, _) = start(&[]);
    s.handle(
        Event::Connected {
            peer: 1,
            dialer: false,
            bootstrap: None,
        },
        500,
    );
    s.handle(Event::DialFailed { bootstrap: 0 }, 500);
    let before = s.handle(Event::Tick, 500 + ADMIT_DEADLINE_MS - 1);
    assert!(!before.iter().any(|a| matches!(a, Action::Block { .. })));
    let at = s.handle(Event::Tick, 500 + ADMIT_DEADLINE_MS);
    assert!(at.contains(&Action::Block {
        peer: 1,
        reason: Blocked::Timeout
    }));
    let later = s.handle(Event::Tick, 500 + ADMIT_DEADLINE_MS + BLOCK_FOR_MS);
    assert!(later.contains(&Action::Unblock { peer: 1 }));
}

#[test]
fn an_announcement_is_fetched_once_stored_then_accepted() {
    let mut s = admitted(1, "FR");
    let announced = Event::Announced {
        peer: 1,
        id: 50,
        head: Some((r("FR"), 2)),
    };
    assert_eq!(
        s.handle(announced, 10),
        [Action::Fetch {
            peer: 1,
            request: RequestId(2),
            origin: r("FR"),
            after: 0,
            limit: PAGE_BATCHES
        }]
    );
    // The same announcement from another admitted peer waits; no second fetch.
    s.handle(
        Event::Connected {
            peer: 2,
            dialer: false,
            bootstrap: None,
        },
        10,
    );
    s.handle(
        Event::Checked {
            peer: 2,
            outcome: Ok(r("IT")),
            reply: None,
        },
        10,
    );
    let again = Event::Announced {
        peer: 2,
        id: 51,
        head: Some((r("FR"), 2)),
    };
    assert_eq!(s.handle(again, 11), []);
    let fetched = Event::Fetched {
        request: RequestId(2),
        page: vec![1, 2],
    };
    assert_eq!(
        s.handle(fetched, 20),
        [Action::Store {
            peer: 1,
            origin: r("FR"),
            page: vec![1, 2],
            first_held: true,
            path: Path::Announce
        }]
    );
    let stored = Event::Stored(StoredPage {
        peer: 1,
        origin: r("FR"),
        got: 2,
        held: 2,
        refused: false,
        stopped: false,
        path: Path::Announce,
    });
    assert_eq!(
        s.handle(stored, 30),
        [
            Action::Validate {
                id: 50,
                source: 1,
                verdict: Verdict::Accept
            },
            Action::Validate {
                id: 51,
                source: 2,
                verdict: Verdict::Accept
            }
        ]
    );
    assert_eq!(s.held(&r("FR")), 2);
    assert_eq!(s.fetches_in_flight(), 0);
    // Held already: accepted at once.
    let old = Event::Announced {
        peer: 2,
        id: 52,
        head: Some((r("FR"), 1)),
    };
    assert_eq!(
        s.handle(old, 40),
        [Action::Validate {
            id: 52,
            source: 2,
            verdict: Verdict::Accept
        }]
    );
}

#[test]
fn a_refused_page_rejects_its_senders_announcement() {
    let mut s = admitted(1, "FR");
    s.handle(
        Event::Announced {
            peer: 1,
            id: 7,
            head: Some((r("FR"), 1)),
        },
        0,
    );
    s.handle(
        Event::Fetched {
            request: RequestId(2),
            page: vec![1],
        },
        1,
    );
    let refused = Event::Stored(StoredPage {
        peer: 1,
        origin: r("FR"),
        got: 1,
        held: 0,
        refused: true,
        stopped: true,
        path: Path::Announce,
    });
    assert_eq!(
        s.handle(refused, 2),
        [Action::Validate {
            id: 7,
            source: 1,
            verdict: Verdict::Reject
        }]
    );
    assert_eq!(s.held(&r("FR")), 0);
}

#[test]
fn bad_own_and_unadmitted_announcements_are_not_accepted() {
    let mut s = admitted(1, "FR");
    let cases = [
        (1, None, Verdict::Malformed),
        (1, Some((r("FR"), 0)), Verdict::Malformed),
        (1, Some((r("DE"), 5)), Verdict::Ignore),
        (3, Some((r("FR"), 5)), Verdict::Ignore),
    ];
    for (id, (peer, head, verdict)) in (0u32..).zip(cases) {
        let event = Event::Announced { peer, id, head };
        assert_eq!(
            s.handle(event, 0),
            [Action::Validate {
                id,
                source: peer,
                verdict
            }]
        );
    }
}

#[test]
fn heads_start_a_catchup_that_pages_until_caught_up() {
    let mut s = admitted(1, "FR");
    let answered = Event::HeadsAnswered {
        request: RequestId(1),
        heads: vec![(r("FR"), 600), (r("DE"), 9)],
        peers: vec![(5, 55), (ME, 1)],
    };
    assert_eq!(
        s.handle(answered, 0),
        [Action::Fetch {
            peer: 1,
            request: RequestId(2),
            origin: r("FR"),
            after: 0,
            limit: PAGE_BATCHES
        }]
    );
    s.handle(
        Event::Fetched {
            request: RequestId(2),
            page: vec![],
        },
        1,
    );
    let page = |held| {
        Event::Stored(StoredPage {
            peer: 1,
            origin: r("FR"),
            got: 256,
            held,
            refused: false,
            stopped: false,
            path: Path::Catchup,
        })
    };
    assert_eq!(
        s.handle(page(256), 2),
        [Action::Fetch {
            peer: 1,
            request: RequestId(3),
            origin: r("FR"),
            after: 256,
            limit: PAGE_BATCHES
        }]
    );
    assert_eq!(s.behind(), 600 - 256);
    s.handle(
        Event::Fetched {
            request: RequestId(3),
            page: vec![],
        },
        3,
    );
    assert_eq!(s.handle(page(600), 4), []);
    assert_eq!(s.behind(), 0);
    // The learned address (not its own) is dialled on the next tick.
    let tick = s.handle(Event::Tick, 1_000);
    assert!(tick.contains(&Action::Dial(Dial {
        peer: Some(5),
        addrs: vec![55],
        bootstrap: None
    })));
    assert!(
        !tick
            .iter()
            .any(|a| matches!(a, Action::Dial(Dial { peer: Some(ME), .. })))
    );
}

#[test]
fn a_failed_fetch_frees_its_origin_but_not_another_peers_fetch() {
    let mut s = admitted(1, "FR");
    s.handle(
        Event::Announced {
            peer: 1,
            id: 1,
            head: Some((r("FR"), 3)),
        },
        0,
    );
    assert_eq!(s.fetches_in_flight(), 1);
    s.handle(Event::Disconnected { peer: 1 }, 1);
    assert_eq!(s.fetches_in_flight(), 0);
    // Another peer's fetch starts; the first one's late failure must not end it.
    let mut s2 = admitted(2, "IT");
    s2.handle(
        Event::Announced {
            peer: 2,
            id: 1,
            head: Some((r("FR"), 3)),
        },
        0,
    );
    s2.handle(
        Event::StoreBusy {
            peer: 1,
            origin: r("FR"),
        },
        1,
    );
    assert_eq!(s2.fetches_in_flight(), 1);
    s2.handle(
        Event::RequestFailed {
            request: RequestId(2),
        },
        2,
    );
    assert_eq!(s2.fetches_in_flight(), 0);
}

#[test]
fn own_batches_are_published_once_each_and_served_from_memory() {
    let (mut s, _) = start(&[("DE", 1), ("FR", 4)]);
    assert_eq!(
        s.handle(Event::OwnHead { sequence: 3 }, 0),
        [
            Action::Publish {
                origin: r("DE"),
                sequence: 2
            },
            Action::Publish {
                origin: r("DE"),
                sequence: 3
            }
        ]
    );
    assert_eq!(s.handle(Event::OwnHead { sequence: 3 }, 1), []);
    s.handle(
        Event::Connected {
            peer: 1,
            dialer: false,
            bootstrap: None,
        },
        2,
    );
    s.handle(
        Event::Identified {
            peer: 1,
            addrs: vec![11],
        },
        2,
    );
    s.handle(
        Event::Checked {
            peer: 1,
            outcome: Ok(r("IT")),
            reply: None,
        },
        2,
    );
    assert_eq!(
        s.handle(
            Event::HeadsAsked {
                peer: 1,
                reply: ReplyId(1)
            },
            3
        ),
        [Action::AnswerHeads {
            reply: ReplyId(1),
            heads: vec![(r("DE"), 3), (r("FR"), 4)],
            peers: vec![(1, 11)]
        }]
    );
    let asked = Event::BatchesAsked {
        peer: 1,
        reply: ReplyId(2),
        origin: Some(r("FR")),
        after: 1,
        limit: 100_000,
    };
    assert_eq!(
        s.handle(asked, 4),
        [Action::Serve {
            peer: 1,
            reply: ReplyId(2),
            origin: r("FR"),
            after: 1,
            limit: PAGE_BATCHES
        }]
    );
}

#[test]
fn every_third_tick_asks_an_admitted_peer_for_heads_and_every_sixtieth_rechecks() {
    let mut s = admitted(1, "FR");
    s.handle(Event::DialFailed { bootstrap: 0 }, 0);
    let mut asks = 0;
    let mut rechecks = 0;
    for t in 1..=60u64 {
        for a in s.handle(Event::Tick, t * 1_000) {
            match a {
                Action::AskHeads { peer: 1, .. } => asks += 1,
                Action::Recheck => rechecks += 1,
                _ => {}
            }
        }
    }
    assert_eq!((asks, rechecks), (20, 1));
}

#[test]
fn admitted_peers_are_witnessed_one_at_a_time_and_only_they_are_answered_about_the_log() {
    let mut s = admitted(1, "FR");
    s.handle(Event::DialFailed { bootstrap: 0 }, 0);
    let witnesses = |actions: Vec<Action<T>>| -> Vec<(u32, RegionId)> {
        actions
            .into_iter()
            .filter_map(|a| match a {
                Action::Witness { peer, region } => Some((peer, region)),
                _ => None,
            })
            .collect()
    };
    let mut seen = Vec::new();
    for t in 1..=WITNESS_EVERY * 3 {
        seen.extend(witnesses(s.handle(Event::Tick, t * 1_000)));
    }
    // Once on the first due tick; not again while that witnessing runs.
    assert_eq!(seen, [(1, r("FR"))]);
    s.handle(Event::Witnessed { peer: 1 }, 16_000);
    let mut again = Vec::new();
    for t in 1..=WITNESS_EVERY {
        again.extend(witnesses(s.handle(Event::Tick, (16 + t) * 1_000)));
    }
    assert_eq!(again, [(1, r("FR"))]);

    // Questions about this node's log: answered for the admitted peer, not
    // for a stranger.
    let ask = AuditAsk::Consistency {
        first: 3,
        second: 9,
    };
    assert_eq!(
        s.handle(
            Event::AuditAsked {
                peer: 1,
                reply: ReplyId(1),
                ask: ask.clone()
            },
            30_000
        ),
        [Action::AnswerAudit {
            peer: 1,
            reply: ReplyId(1),
            ask: ask.clone()
        }]
    );
    assert_eq!(
        s.handle(
            Event::AuditAsked {
                peer: 2,
                reply: ReplyId(2),
                ask
            },
            30_000
        ),
        []
    );
}
