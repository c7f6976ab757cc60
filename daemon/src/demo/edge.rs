//! The edge of the story: from a Bluetooth sighting to a notification, after the backends'
//! part of the demo. Simulated people meet in FR (a local and a traveller from DE, plus
//! bystanders, seeded so every run is the same); the traveller tests positive at home in DE and
//! their agent uploads with `visitedRegions: ["FR"]`; the keys reach FR over the EU mesh; the
//! local's agent downloads FR's signed export files and is notified; a bystander who never came
//! close reads FR's chunked feed and is not.
//!
//! Every agent is a `ble_agent` with its own data directory; it reaches the nodes only through
//! their public HTTP APIs (`/v1/publish`, `/v1/exports/...`, `/v1/keys`), as a phone would. This
//! module never reaches into a node's store.

use super::drive::{self, wait_for};
use super::fleet::Fleet;
use super::run::{DemoError, unexpected};
use crate::clock::{OffsetClock, SharedClock};
use ble_agent::config::AgentConfig;
use ble_agent::contact_log::{self, DEFAULT_MAX_RECORDS, Ingest};
use ble_agent::download;
use ble_agent::http::Server;
use ble_agent::matching::{self, Exposure, Index};
use ble_agent::source::{self, sim};
use ble_agent::store::Store;
use ble_agent::upload;
use enmesh_protocol::interval::IntervalNumber;
use enmesh_protocol::region::RegionId;
use p256::pkcs8::{DecodePrivateKey as _, EncodePublicKey as _, LineEnding};
use std::path::Path;
use std::time::{Duration, Instant};

/// How long the story waits for keys to travel.
const PATIENCE: Duration = Duration::from_secs(30);
/// The simulation's seed.
const SEED: u64 = 2026;

const LOCAL: usize = 0;
const TRAVELLER: usize = 1;
const BYSTANDER: usize = 2;

fn region(text: &str) -> Result<RegionId, DemoError> {
    text.parse()
        .map_err(|e: enmesh_protocol::region::RegionError| unexpected("region", e.to_string()))
}

fn agent_error(step: &'static str) -> impl Fn(&dyn std::fmt::Display) -> DemoError {
    move |e| unexpected(step, e.to_string())
}

/// Runs the edge story on the running `fleet`, in `dir`.
pub async fn story(
    fleet: &Fleet,
    clock: &OffsetClock,
    shared: &SharedClock,
    dir: &Path,
) -> Result<(), DemoError> {
    let now = shared.now_secs();
    let fr = region("FR")?;
    let t = Instant::now();

    // 9. The meeting, two days ago at noon (UTC).
    let meeting = (now / 86_400 - 2) * 86_400 + 12 * 3600;
    let mut rng = sim::rng(SEED);
    let people = [
        ("local (FR)", 250),
        ("traveller (DE)", 276),
        ("bystander 1 (FR)", 250),
        ("bystander 2 (FR)", 250),
        ("bystander 3 (FR)", 250),
    ];
    let mut scenario = sim::Scenario {
        seed: SEED,
        places: vec![
            sim::Place {
                name: "café in Lyon".into(),
                region: fr.clone(),
                radius_m: 2.0,
            },
            sim::Place {
                name: "station in Lille".into(),
                region: fr.clone(),
                radius_m: 15.0,
            },
        ],
        people: people
            .iter()
            .map(|(name, country)| {
                sim::Person::new(
                    name,
                    &mut rng,
                    meeting - 86_400,
                    sim::Extras::default(),
                    *country,
                )
            })
            .collect(),
        visits: vec![
            // The local and the traveller share a table for 25 minutes.
            visit(LOCAL, 0, meeting, 25 * 60, Some((0.0, 0.0))),
            visit(TRAVELLER, 0, meeting, 25 * 60, Some((1.2, 0.0))),
            // Bystanders: at the station meanwhile, and at the café after the two had left.
            visit(BYSTANDER, 1, meeting, 60 * 60, None),
            visit(3, 1, meeting, 45 * 60, None),
            visit(4, 0, meeting + 90 * 60, 30 * 60, Some((0.5, 0.5))),
        ],
        scan_every_secs: 60,
        path_loss: sim::PathLoss::default(),
    };
    let observed = scenario.run();
    let agents = dir.join("agents");
    let mut stores = Vec::new();
    for (i, (name, _)) in people.iter().enumerate() {
        let path = agents.join(name.split(' ').collect::<Vec<_>>().join("-"));
        std::fs::create_dir_all(&path)?;
        let store = Store::open(&path).map_err(|e| agent_error("agent store")(&e))?;
        let mut ingest = Ingest::new(&store, DEFAULT_MAX_RECORDS);
        source::ingest_all(&mut sim::SimSource::new(&observed, i), &mut ingest)
            .map_err(|e| agent_error("contact log")(&e))?;
        stores.push(store);
    }
    let count = |i: usize| observed.iter().filter(|o| o.observer == i).count();
    println!(
        "\n9. Edge: a seeded simulation (seed {SEED}) of 5 people in FR, two days ago: the local and \
         a traveller from DE sit 1.2 m apart in a café for 25 min; bystanders are at a station and \
         at the café after the two left. Each agent logs what it hears: local {} sightings, \
         traveller {}, bystanders {}/{}/{} ({} ms)",
        count(LOCAL),
        count(TRAVELLER),
        count(BYSTANDER),
        count(3),
        count(4),
        t.elapsed().as_millis()
    );

    // 10. The traveller tests positive at home in DE and uploads, having visited FR.
    let (de_site, de) = fleet.get("DE")?;
    let token = crate::admin::token::load(&de_site.config.node.data_dir)
        .map_err(|e| unexpected("operator token", e.to_string()))?;
    let code = drive::issue_code(de.admin_addr(), &token).await?;
    let traveller = scenario
        .people
        .get_mut(TRAVELLER)
        .ok_or_else(|| unexpected("simulation", "no traveller"))?;
    let today = u32::try_from(now / 86_400).unwrap_or(0);
    let mut fill = |buf: &mut [u8]| rand::Rng::fill_bytes(&mut rng, buf);
    traveller.identity.ensure_days(today - 13, today, &mut fill);
    let meeting_day = u32::try_from(meeting / 86_400).unwrap_or(0);
    let meeting_key = traveller
        .identity
        .tek_of_day(meeting_day)
        .ok_or_else(|| unexpected("simulation", "no key of the meeting day"))?;
    let de_server = Server::new(&format!("http://{}", de.http_addr()), None)
        .map_err(|e| agent_error("DE server")(&e))?;
    let onset = IntervalNumber::from_unix_seconds(now - 86_400);
    let t = Instant::now();
    let outcome = upload::upload(
        &de_server,
        &traveller.identity,
        &code,
        std::slice::from_ref(&fr),
        onset,
        now,
    )
    .await
    .map_err(|e| agent_error("upload")(&e))?;
    let uploaded = Instant::now();
    println!(
        "10. The traveller tests positive at home in DE: DE issues a code, the traveller's agent \
         uploads its {} keys with visitedRegions [\"FR\"] (POST /v1/publish): 200, {} inserted, in {} ms",
        outcome.keys,
        outcome.inserted.unwrap_or(0),
        t.elapsed().as_millis()
    );

    // 11. The keys reach FR over the EU mesh.
    let (fr_site, fr_node) = fleet.get("FR")?;
    let keys: Vec<drive::AppKey> = traveller
        .identity
        .upload_keys(now)
        .iter()
        .map(|(tek, start, period)| (tek.0, *period, start.0))
        .collect();
    // Phones see a key only once it expired (the embargo, `crate::embargo`): today's key, still
    // valid at the upload, waits for its end; the thirteen older ones are served at once.
    let expired = |key: &&drive::AppKey| u64::from(key.2.saturating_add(key.1)) * 600 <= now;
    let want: std::collections::HashSet<String> =
        keys.iter().filter(expired).map(drive::key_text).collect();
    let embargoed = keys.len() - want.len();
    let fr_http = fr_node.http_addr();
    wait_for(PATIENCE, || async {
        Ok(want
            .is_subset(&drive::feed_keys(fr_http).await?)
            .then_some(()))
    })
    .await?
    .ok_or_else(|| unexpected("edge", "FR never served the traveller's keys"))?;
    println!(
        "11. FR's public feed serves the traveller's {} expired keys {} ms after the upload (EU mesh); \
         {embargoed} still valid at the upload (today's) is held back until it expires, as GAEN \
         servers do",
        want.len(),
        uploaded.elapsed().as_millis()
    );

    // 12. The export window closes; the local's agent downloads FR's signed exports and matches.
    clock.advance_millis(
        u64::try_from(fr_site.config.export.period.as_millis()).unwrap_or(u64::MAX) + 1000,
    );
    fr_node.export_now().await?;
    let now = shared.now_secs();
    let pem = std::fs::read_to_string(&fr_site.config.export.signing_key)?;
    let public = p256::SecretKey::from_pkcs8_pem(&pem)
        .map_err(|e| unexpected("export key", e.to_string()))?
        .public_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| unexpected("export key", e.to_string()))?;
    std::fs::write(agents.join("fr-export.pub.pem"), public)?;
    let config_text = |source: &str| {
        let key = if source == "exports" {
            "export_key = \"fr-export.pub.pem\"\n"
        } else {
            ""
        };
        format!(
            "home = \"FR\"\n\n[[regions]]\nid = \"FR\"\nurl = \"http://{fr_http}\"\nsource = \"{source}\"\n{key}"
        )
    };
    let local_config = AgentConfig::from_toml(&config_text("exports"), &agents)
        .map_err(|e| agent_error("agent config")(&e))?;
    let t = Instant::now();
    let local = stores
        .get(LOCAL)
        .ok_or_else(|| unexpected("edge", "no local"))?;
    let (reports, exposures) = check(local, &local_config, now).await?;
    let fetched: usize = reports.iter().map(|r| r.fetched).sum();
    let got: usize = reports.iter().map(|r| r.keys).sum();
    println!(
        "12. The local's agent follows FR (home; also where it was seen): downloads {fetched} export \
         file(s) from FR, ECDSA signature checked with FR's export key, {got} keys; matches them \
         against its contact log ({} ms):",
        t.elapsed().as_millis()
    );
    for e in &exposures {
        println!(
            "     {}",
            serde_json::to_string(e).map_err(|e| unexpected("exposure", e.to_string()))?
        );
    }
    let hit = exposures
        .iter()
        .find(|e| e.notify && e.key == enmesh_protocol::codec::hex_encode(&meeting_key.0))
        .ok_or_else(|| unexpected("edge", "the local was not notified of the traveller's key"))?;
    if exposures.iter().any(|e| e.key != hit.key) {
        return Err(unexpected("edge", "the local matched a key it never heard"));
    }
    println!(
        "     → NOTIFIED: the local was exposed to the traveller's key of the meeting day for \
         {} min (min attenuation {} dB, score {:.1} weighted minutes ≥ {})",
        hit.duration_s / 60,
        hit.min_attenuation_db,
        hit.score,
        local_config.risk.threshold_minutes
    );
    let again = download::download_all(local, &local_config, &[], now)
        .await
        .map_err(|e| agent_error("download")(&e))?;
    println!(
        "     Downloading again fetches {} new file(s): the cursor per region remembers what was read",
        again.iter().map(|r| r.fetched).sum::<usize>()
    );

    // 13. A bystander who never came close reads FR's chunked feed: nothing.
    let feed_config = AgentConfig::from_toml(&config_text("feed"), &agents)
        .map_err(|e| agent_error("agent config")(&e))?;
    let bystander = stores
        .get(BYSTANDER)
        .ok_or_else(|| unexpected("edge", "no bystander"))?;
    let t = Instant::now();
    let (reports, exposures) = check(bystander, &feed_config, now).await?;
    if !exposures.is_empty() {
        return Err(unexpected(
            "edge",
            "a bystander who was never close matched a key",
        ));
    }
    println!(
        "13. A bystander who was never close downloads FR's chunked feed ({} chunks, {} keys) and \
         matches: no exposure, not notified ({} ms)",
        reports.iter().map(|r| r.fetched).sum::<usize>(),
        reports.iter().map(|r| r.keys).sum::<usize>(),
        t.elapsed().as_millis()
    );
    Ok(())
}

fn visit(
    person: usize,
    place: usize,
    from: u64,
    secs: u64,
    spot: Option<(f64, f64)>,
) -> sim::Visit {
    sim::Visit {
        person,
        place,
        from_secs: from,
        to_secs: from + secs,
        spot,
    }
}

/// Downloads what the agent follows and matches everything it holds.
async fn check(
    store: &Store,
    config: &AgentConfig,
    now: u64,
) -> Result<(Vec<download::RegionReport>, Vec<Exposure>), DemoError> {
    let reports = download::download_all(store, config, &[], now)
        .await
        .map_err(|e| agent_error("download")(&e))?;
    if let Some(error) = reports.iter().find_map(|r| r.error.clone()) {
        return Err(unexpected("download", error));
    }
    let keys = download::stored_keys(store).map_err(|e| agent_error("keys")(&e))?;
    let entries = contact_log::entries(store, None).map_err(|e| agent_error("log")(&e))?;
    let index = Index::build(&entries);
    let matches = matching::match_gaen(&index, &keys, 2);
    Ok((
        reports,
        matching::gaen_exposures(&keys, &matches, &config.risk),
    ))
}
