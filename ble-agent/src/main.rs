//! `ble-agent`: the edge of enmesh, as a command line.
//!
//! Field-engineer inspection (`inspect`), sightings into a contact log (`replay`, `sim`, `scan`),
//! the user's side of the system (`upload`, `download`, `match`) and housekeeping (`sweep`).
//! Everything prints JSON. Argument and input errors print one line on stderr and exit with
//! status 2; nothing here panics on input. This is the one place that reads the wall clock: the
//! library takes time as a parameter.

mod inspect;

use anyhow::Context as _;
use ble_agent::config::AgentConfig;
use ble_agent::contact_log::{self, DEFAULT_MAX_RECORDS, Ingest};
use ble_agent::download::{self, DownloadedKey, exports, tcn};
use ble_agent::http::Server;
use ble_agent::identity::Identity;
use ble_agent::matching::{self, Index};
use ble_agent::risk::RiskConfig;
use ble_agent::source::{self, replay::Replay, sim};
use ble_agent::store::Store;
use ble_agent::{DAY_SECS, upload};
use clap::error::ErrorKind;
use clap::{Args, Parser, Subcommand};
use enmesh_protocol::interval::IntervalNumber;
use enmesh_protocol::region::RegionId;
use p256::pkcs8::DecodePublicKey as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

/// The enmesh edge agent.
#[derive(Debug, Parser)]
#[command(name = "ble-agent", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decode and derive exposure-notification identifiers; prints JSON.
    #[command(subcommand)]
    Inspect(inspect::InspectCommand),
    /// Ingest a JSON Lines capture into the contact log.
    Replay(ReplayArgs),
    /// Simulate a seeded population; write its sightings as JSON Lines and/or into a log.
    Sim(SimArgs),
    /// Scan with the BlueZ adapter into the contact log (built with `--features scan`).
    Scan(ScanArgs),
    /// Upload the last 14 days of this agent's TEKs to the home backend.
    Upload(UploadArgs),
    /// Download the home and roaming regions' keys (exports or feed) since each cursor.
    Download(DownloadArgs),
    /// Match downloaded keys (and given export files and TCN reports) against the log.
    Match(MatchArgs),
    /// Delete sightings, own keys and downloaded keys older than 14 days.
    Sweep(LogArg),
}

#[derive(Debug, Args)]
struct LogArg {
    /// The agent's data directory (contact log, identity, downloads).
    #[arg(long)]
    log: PathBuf,
}

#[derive(Debug, Args)]
struct ReplayArgs {
    #[command(flatten)]
    log: LogArg,
    /// The JSON Lines file (`-` for standard input).
    file: PathBuf,
    /// Region of lines that name none.
    #[arg(long)]
    region: Option<RegionId>,
    /// Most records the log may hold.
    #[arg(long, default_value_t = DEFAULT_MAX_RECORDS)]
    max_records: u64,
}

#[derive(Debug, Args)]
struct SimArgs {
    /// The seed: the same seed gives the same run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// People.
    #[arg(long, default_value_t = 30)]
    people: usize,
    /// Places.
    #[arg(long, default_value_t = 6)]
    places: usize,
    /// Regions the places are in, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "FR,DE")]
    regions: Vec<RegionId>,
    /// Hours simulated.
    #[arg(long, default_value_t = 4)]
    hours: u64,
    /// Start, unix seconds (default: that many hours ago).
    #[arg(long)]
    start: Option<u64>,
    /// Write every sighting (with an `observer` field) to this JSON Lines file.
    #[arg(long)]
    jsonl: Option<PathBuf>,
    /// Ingest the sightings of person `--observer` into this log.
    #[arg(long)]
    log: Option<PathBuf>,
    /// Whose sightings go into `--log`.
    #[arg(long, default_value_t = 0)]
    observer: usize,
}

#[derive(Debug, Args)]
struct ScanArgs {
    #[command(flatten)]
    log: LogArg,
    /// The region the agent is in.
    #[arg(long)]
    region: RegionId,
    /// Stop after this many seconds (default: run until interrupted).
    #[arg(long)]
    seconds: Option<u64>,
}

#[derive(Debug, Args)]
struct UploadArgs {
    #[command(flatten)]
    log: LogArg,
    /// The home backend's public API, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    server: String,
    /// CA certificates for an https server.
    #[arg(long)]
    ca_cert: Option<PathBuf>,
    /// The one-time code from the health authority.
    #[arg(long)]
    code: String,
    /// Regions visited in the last 14 days, comma-separated.
    #[arg(long, value_delimiter = ',')]
    visited: Vec<RegionId>,
    /// Days since symptom onset, if any.
    #[arg(long)]
    onset_days_ago: Option<u64>,
}

#[derive(Debug, Args)]
struct DownloadArgs {
    #[command(flatten)]
    log: LogArg,
    /// The agent config (home, regions, keys).
    #[arg(long)]
    config: PathBuf,
    /// Also follow this region (repeatable).
    #[arg(long)]
    region: Vec<RegionId>,
}

#[derive(Debug, Args)]
struct MatchArgs {
    #[command(flatten)]
    log: LogArg,
    /// An export zip to match (repeatable); verified with the `--export-key` at its position
    /// (or the only one given).
    #[arg(long)]
    export: Vec<PathBuf>,
    /// The export verification key (SPKI PEM) of the `--export` at the same position.
    #[arg(long)]
    export_key: Vec<PathBuf>,
    /// Signed TCN reports: a JSON array of base64, or one hex/base64 report a line (repeatable).
    #[arg(long)]
    tcn_reports: Vec<PathBuf>,
    /// Risk parameters from this agent config's `[risk]`.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Threads for RPI derivation.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err)
            if matches!(
                err.kind(),
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
            ) =>
        {
            err.exit()
        }
        Err(err) => {
            let text = err.to_string();
            let first = text.lines().next().unwrap_or("error: bad arguments");
            eprintln!("{first} (see --help)");
            return ExitCode::from(2);
        }
    };
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn print(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}

fn open(log: &LogArg) -> anyhow::Result<Store> {
    Store::open(&log.log).with_context(|| format!("--log {}", log.log.display()))
}

fn home_country(region: Option<&RegionId>) -> u16 {
    region
        .and_then(RegionId::country_part)
        .map_or(0, |c| c.numeric())
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Inspect(cmd) => {
            let value = inspect::run(&cmd)?;
            println!("{}", serde_json::to_string_pretty(&value)?);
            Ok(())
        }
        Command::Replay(args) => {
            let store = open(&args.log)?;
            let reader: Box<dyn std::io::BufRead> = if args.file.as_os_str() == "-" {
                Box::new(std::io::stdin().lock())
            } else {
                let file = std::fs::File::open(&args.file)
                    .with_context(|| format!("{}", args.file.display()))?;
                Box::new(std::io::BufReader::with_capacity(1 << 16, file))
            };
            let mut source = Replay::new(reader, args.region);
            let mut ingest = Ingest::new(&store, args.max_records);
            let report = source::ingest_all(&mut source, &mut ingest)?;
            for (line, reason) in &report.skipped {
                eprintln!("line {line}: {reason}");
            }
            print(&serde_json::json!({
                "sightings": report.written.sightings,
                "new_records": report.written.new_records,
                "updated_records": report.written.updated_records,
                "skipped": report.skipped_count,
                "records": contact_log::record_count(&store)?,
            }))
        }
        Command::Sim(args) => {
            let hours = args.hours.clamp(1, 24 * 14);
            let start = args
                .start
                .unwrap_or_else(|| now_secs().saturating_sub(hours * 3600));
            let mut scenario = sim::Scenario::random(
                args.seed,
                args.people,
                args.places,
                &args.regions,
                start,
                hours,
            );
            let observed = scenario.run();
            if let Some(path) = &args.jsonl {
                use std::io::Write as _;
                let mut out = std::io::BufWriter::new(
                    std::fs::File::create(path).with_context(|| format!("{}", path.display()))?,
                );
                for o in &observed {
                    let name = scenario.people.get(o.observer).map(|p| p.name.as_str());
                    writeln!(out, "{}", source::replay::to_line(&o.sighting, name))?;
                }
                out.flush()?;
            }
            let mut written = None;
            if let Some(log) = &args.log {
                let store = Store::open(log)?;
                let mut ingest = Ingest::new(&store, DEFAULT_MAX_RECORDS);
                let mut src = sim::SimSource::new(&observed, args.observer);
                written = Some(source::ingest_all(&mut src, &mut ingest)?.written.sightings);
            }
            print(&serde_json::json!({
                "seed": args.seed,
                "people": scenario.people.len(),
                "visits": scenario.visits.len(),
                "sightings": observed.len(),
                "ingested": written,
            }))
        }
        Command::Scan(args) => scan(args),
        Command::Upload(args) => {
            let store = open(&args.log)?;
            let now = now_secs();
            let identity =
                Identity::load_or_create(&store, now, home_country(args.visited.first()))?;
            let server = Server::new(&args.server, args.ca_cert.as_deref()).context("--server")?;
            let onset = args
                .onset_days_ago
                .and_then(|d| IntervalNumber::from_unix_seconds(now.saturating_sub(d * DAY_SECS)));
            let outcome = runtime()?.block_on(upload::upload(
                &server,
                &identity,
                &args.code,
                &args.visited,
                onset,
                now,
            ))?;
            print(&outcome)
        }
        Command::Download(args) => {
            let store = open(&args.log)?;
            let config = AgentConfig::load(&args.config)?;
            let now = now_secs();
            let reports =
                runtime()?.block_on(download::download_all(&store, &config, &args.region, now))?;
            for report in &reports {
                print(report)?;
            }
            Ok(())
        }
        Command::Match(args) => {
            let store = open(&args.log)?;
            let risk = match &args.config {
                Some(path) => AgentConfig::load(path)?.risk,
                None => RiskConfig::default(),
            };
            let mut keys = download::stored_keys(&store)?;
            keys.extend(export_keys(&args)?);
            let entries = contact_log::entries(&store, None)?;
            let index = Index::build(&entries);
            let matches = matching::match_gaen(&index, &keys, args.threads);
            for exposure in matching::gaen_exposures(&keys, &matches, &risk) {
                print(&exposure)?;
            }
            for path in &args.tcn_reports {
                let body = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
                let reports = tcn::parse_reports(&body);
                for (position, reason) in &reports.skipped {
                    eprintln!("{} report {position}: {reason}", path.display());
                }
                for exposure in matching::tcn_exposures(&index, &reports.verified, &risk) {
                    print(&exposure)?;
                }
            }
            Ok(())
        }
        Command::Sweep(log) => {
            let store = open(&log)?;
            let now = now_secs();
            let swept = contact_log::sweep(&store, now)?;
            let keys = download::sweep(&store, now)?;
            let mut identity = Identity::load_or_create(&store, now, 0)?;
            identity.sweep(now);
            identity.save(&store)?;
            print(&serde_json::json!({
                "records_deleted": swept.records_deleted,
                "records_trimmed": swept.records_trimmed,
                "keys_deleted": keys,
            }))
        }
    }
}

fn export_keys(args: &MatchArgs) -> anyhow::Result<Vec<DownloadedKey>> {
    let mut out = Vec::new();
    for (i, path) in args.export.iter().enumerate() {
        let key_path = args
            .export_key
            .get(i)
            .or_else(|| {
                (args.export_key.len() == 1)
                    .then(|| args.export_key.first())
                    .flatten()
            })
            .with_context(|| format!("--export {} has no --export-key", path.display()))?;
        let pem =
            std::fs::read_to_string(key_path).with_context(|| format!("{}", key_path.display()))?;
        let key = p256::ecdsa::VerifyingKey::from_public_key_pem(&pem).map_err(|e| {
            anyhow::anyhow!("{}: not a P-256 public key PEM: {e}", key_path.display())
        })?;
        let zip = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
        let name = path.display().to_string();
        let source: RegionId = "ZZ".parse().unwrap_or_else(|_| RegionId::Site {
            enterprise: "file".into(),
            site: "export".into(),
        });
        let file = exports::verified_keys(&name, &zip, &key, &source)?;
        let source = file
            .region
            .as_deref()
            .and_then(|r| r.parse().ok())
            .unwrap_or(source);
        out.extend(file.keys.into_iter().map(|mut k| {
            k.source = source.clone();
            k
        }));
    }
    Ok(out)
}

#[cfg(feature = "scan")]
fn scan(args: ScanArgs) -> anyhow::Result<()> {
    let store = open(&args.log)?;
    let mut source = source::scan::Scan::start(
        args.region,
        args.seconds.map(std::time::Duration::from_secs),
    );
    let mut ingest = Ingest::new(&store, DEFAULT_MAX_RECORDS);
    let report = source::ingest_all(&mut source, &mut ingest)?;
    // Position 0 is the error that ended the scan (no D-Bus, no adapter, BlueZ gone): what was
    // heard before it is stored, and the command fails with it.
    let mut ended = None;
    for (position, reason) in &report.skipped {
        if *position == 0 {
            ended = Some(reason);
        } else {
            eprintln!("advertisement {position}: {reason}");
        }
    }
    print(&serde_json::json!({
        "sightings": report.written.sightings,
        "skipped": report.skipped_count,
    }))?;
    match ended {
        Some(reason) => anyhow::bail!("{reason}"),
        None => Ok(()),
    }
}

#[cfg(not(feature = "scan"))]
fn scan(_args: ScanArgs) -> anyhow::Result<()> {
    anyhow::bail!("this ble-agent was built without BLE scanning; rebuild with `--features scan`")
}
