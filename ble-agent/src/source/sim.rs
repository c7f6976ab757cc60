//! `sim`: a simulated population. People with their own [`Identity`] move between places in
//! regions; at every scan tick each person hears everyone else at the same place whose signal
//! reaches them, with an RSSI from a log-distance path-loss model plus Gaussian noise.
//!
//! Everything random comes from one RNG seeded by the scenario's seed, so a run is reproducible:
//! the same scenario and seed give the same keys and the same sightings. A scenario is either
//! written out (the demo and the tests place people on purpose) or drawn by
//! [`Scenario::random`]. This module never touches a clock, a file or the network.

use super::{Event, Source};
use crate::identity::{DEFAULT_TX_POWER_DBM, Identity};
use crate::sighting::{Payload, Sighting};
use enmesh_protocol::ble::ServiceData;
use enmesh_protocol::region::RegionId;
use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};

/// Which protocols a person advertises (GAEN always).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Extras {
    /// Also a TCN.
    pub tcn: bool,
    /// Also a Herald Simple payload.
    pub herald: bool,
}

/// A place people meet at.
#[derive(Debug, Clone)]
pub struct Place {
    /// A name, for people reading the scenario.
    pub name: String,
    /// The region it is in (the region of every sighting made there).
    pub region: RegionId,
    /// People stand uniformly inside a disc of this radius, metres.
    pub radius_m: f64,
}

/// A simulated person.
#[derive(Debug)]
pub struct Person {
    /// A name.
    pub name: String,
    /// Their own keys.
    pub identity: Identity,
    /// What they advertise besides GAEN.
    pub extras: Extras,
}

/// A person at a place from `from_secs` to `to_secs`, standing at a fixed spot.
#[derive(Debug, Clone, Copy)]
pub struct Visit {
    /// Index into the people.
    pub person: usize,
    /// Index into the places.
    pub place: usize,
    /// Arrival, unix seconds.
    pub from_secs: u64,
    /// Departure, unix seconds.
    pub to_secs: u64,
    /// Where they stand, metres from the place's centre (x, y); `None`: drawn at random.
    pub spot: Option<(f64, f64)>,
}

/// The radio model: `rssi = tx_power − (loss_at_1m + 10 · exponent · log10(d)) + N(0, noise)`.
#[derive(Debug, Clone, Copy)]
pub struct PathLoss {
    /// Attenuation at one metre, dB.
    pub loss_at_1m_db: f64,
    /// Path-loss exponent (2 in free space, 2–4 indoors).
    pub exponent: f64,
    /// Standard deviation of the Gaussian noise, dB.
    pub noise_db: f64,
    /// Weakest RSSI a receiver reports, dBm.
    pub sensitivity_dbm: f64,
}

impl Default for PathLoss {
    fn default() -> Self {
        Self {
            loss_at_1m_db: 40.0,
            exponent: 2.2,
            noise_db: 2.0,
            sensitivity_dbm: -95.0,
        }
    }
}

/// A whole simulation.
#[derive(Debug)]
pub struct Scenario {
    /// The seed of every random draw.
    pub seed: u64,
    /// The places.
    pub places: Vec<Place>,
    /// The people.
    pub people: Vec<Person>,
    /// Who is where when.
    pub visits: Vec<Visit>,
    /// Seconds between scans.
    pub scan_every_secs: u64,
    /// The radio model.
    pub path_loss: PathLoss,
}

/// One sighting and who made it.
#[derive(Debug, Clone)]
pub struct Observed {
    /// Index of the person who heard it.
    pub observer: usize,
    /// What they heard.
    pub sighting: Sighting,
}

/// The RNG of a seed (also what people's keys are drawn from).
pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

impl Person {
    /// A person whose keys are drawn from `rng`, created at `now_secs`.
    pub fn new(name: &str, rng: &mut StdRng, now_secs: u64, extras: Extras, country: u16) -> Self {
        let mut fill = |buf: &mut [u8]| rng.fill_bytes(buf);
        Self {
            name: name.to_owned(),
            identity: Identity::generate(&mut fill, now_secs, DEFAULT_TX_POWER_DBM, country),
            extras,
        }
    }
}

impl Scenario {
    /// A random scenario: `people` people and `places` places spread over `regions`, each person
    /// making visits of 20–120 minutes for `hours` from `start_secs`.
    pub fn random(
        seed: u64,
        people: usize,
        places: usize,
        regions: &[RegionId],
        start_secs: u64,
        hours: u64,
    ) -> Self {
        let mut rng = rng(seed);
        let places: Vec<Place> = (0..places.max(1))
            .map(|i| Place {
                name: format!("place-{i}"),
                region: regions
                    .get(i % regions.len().max(1))
                    .cloned()
                    .unwrap_or(RegionId::Site {
                        enterprise: "sim".into(),
                        site: "default".into(),
                    }),
                radius_m: rng.random_range(3.0..40.0),
            })
            .collect();
        let people: Vec<Person> = (0..people)
            .map(|i| {
                let extras = Extras {
                    tcn: i % 3 == 1,
                    herald: i % 5 == 2,
                };
                Person::new(&format!("person-{i}"), &mut rng, start_secs, extras, 250)
            })
            .collect();
        let end = start_secs + hours * 3600;
        let mut visits = Vec::new();
        for person in 0..people.len() {
            let mut t = start_secs + rng.random_range(0..1800);
            while t < end {
                let length = rng.random_range(1200..7200);
                visits.push(Visit {
                    person,
                    place: rng.random_range(0..places.len()),
                    from_secs: t,
                    to_secs: (t + length).min(end),
                    spot: None,
                });
                t += length + rng.random_range(300..1800);
            }
        }
        Self {
            seed,
            places,
            people,
            visits,
            scan_every_secs: 60,
            path_loss: PathLoss::default(),
        }
    }

    /// Runs the simulation: every sighting anyone made, in time order.
    pub fn run(&mut self) -> Vec<Observed> {
        let mut rng = rng(self.seed ^ 0x5349_4d55_4c41_5445);
        let spots: Vec<(f64, f64)> = self
            .visits
            .iter()
            .map(|v| {
                v.spot.unwrap_or_else(|| {
                    let radius = self.places.get(v.place).map_or(1.0, |p| p.radius_m);
                    let r = radius * rng.random::<f64>().sqrt();
                    let a = std::f64::consts::TAU * rng.random::<f64>();
                    (r * a.cos(), r * a.sin())
                })
            })
            .collect();
        let (Some(start), Some(end)) = (
            self.visits.iter().map(|v| v.from_secs).min(),
            self.visits.iter().map(|v| v.to_secs).max(),
        ) else {
            return Vec::new();
        };
        let step = self.scan_every_secs.max(1);
        let mut out = Vec::new();
        let mut t = start;
        while t <= end {
            let present: Vec<usize> = (0..self.visits.len())
                .filter(|&i| {
                    self.visits
                        .get(i)
                        .is_some_and(|v| v.from_secs <= t && t < v.to_secs)
                })
                .collect();
            for &a in &present {
                for &b in &present {
                    self.hear(a, b, t, &spots, &mut rng, &mut out);
                }
            }
            t += step;
        }
        out.sort_by_key(|o| (o.sighting.at_ms, o.observer));
        out
    }

    /// The sightings visit `a`'s person makes of visit `b`'s person at `t`.
    fn hear(
        &mut self,
        a: usize,
        b: usize,
        t: u64,
        spots: &[(f64, f64)],
        rng: &mut StdRng,
        out: &mut Vec<Observed>,
    ) {
        let (Some(va), Some(vb)) = (self.visits.get(a).copied(), self.visits.get(b).copied())
        else {
            return;
        };
        if va.place != vb.place || va.person == vb.person {
            return;
        }
        let (Some(pa), Some(pb), Some(place)) =
            (spots.get(a), spots.get(b), self.places.get(va.place))
        else {
            return;
        };
        let distance = ((pa.0 - pb.0).powi(2) + (pa.1 - pb.1).powi(2))
            .sqrt()
            .max(0.3);
        let model = self.path_loss;
        let Some(advertiser) = self.people.get_mut(vb.person) else {
            return;
        };
        let noise = gaussian(rng) * model.noise_db;
        let rssi = f64::from(advertiser.identity.tx_power_dbm())
            - (model.loss_at_1m_db + 10.0 * model.exponent * distance.log10())
            + noise;
        if rssi < model.sensitivity_dbm {
            return;
        }
        let rssi = rssi.round().clamp(-127.0, 20.0) as i8;
        let region = place.region.clone();
        let jitter = rng.random_range(0..2000u64);
        let at_ms = t * 1000 + jitter;
        let mut payloads = Vec::new();
        let mut fill = |buf: &mut [u8]| rng.fill_bytes(buf);
        if let Some(ServiceData::Gaen { rpi, aem }) = advertiser.identity.gaen_at(t, &mut fill) {
            payloads.push(Payload::Gaen { rpi, aem });
        }
        if advertiser.extras.tcn
            && let Some(tcn) = advertiser.identity.tcn_at(t)
        {
            payloads.push(Payload::Tcn(tcn));
        }
        if advertiser.extras.herald
            && let Ok(bytes) = advertiser.identity.herald_at(t).encode()
        {
            payloads.push(Payload::Herald(bytes));
        }
        for payload in payloads {
            out.push(Observed {
                observer: va.person,
                sighting: Sighting {
                    at_ms,
                    rssi,
                    payload,
                    region: region.clone(),
                },
            });
        }
    }
}

/// A standard normal draw (Box–Muller).
fn gaussian(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// The sightings of one observer as a [`Source`].
pub struct SimSource {
    sightings: std::vec::IntoIter<Sighting>,
}

impl SimSource {
    /// The sightings `observer` made in `observed`.
    pub fn new(observed: &[Observed], observer: usize) -> Self {
        let sightings: Vec<Sighting> = observed
            .iter()
            .filter(|o| o.observer == observer)
            .map(|o| o.sighting.clone())
            .collect();
        Self {
            sightings: sightings.into_iter(),
        }
    }
}

impl Source for SimSource {
    fn next_event(&mut self) -> Option<Event> {
        self.sightings.next().map(Event::Sighting)
    }
}
