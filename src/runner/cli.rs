//! `longconn run`: finds specs, replays them, compares with snapshots, prints a summary, and exits
//! with the contract's codes: 0 all match, 1 a transcript differs or a step/expectation failed
//! (or a snapshot is new and not accepted), 2 a spec could not be read, 3 the target could not be
//! reached.
//!
//! Specs under `specs/seed/` are written for the seed's Node servers: without `--target` they are
//! listed as `skipped (needs --target)`, never run against the embedded server and never dropped
//! silently.
//!
//! `--hub redis://HOST:PORT[/DB]` runs the embedded servers as nodes on that Redis
//! ([`Target::EmbeddedOnRedis`]); a spec's transcript must not change, so the snapshots are the
//! in-process run's.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::color::{ColorChoice, Paint, Palette};
use super::html;
use super::replay::{record_with, Options, Recording, Target};
use super::report::{self, Case, Verdict};
use super::snapshot;
use super::transport::Tls;
use crate::hub::{Hub, HubConfig, RedisConfig};
use crate::spec::{self, Spec};

/// How many specs replay at once.
pub const PARALLEL: usize = 4;

/// The folder (under `specs/`) of specs that only make sense with `--target`.
pub const NEEDS_TARGET_FOLDER: &str = "seed";

/// What `longconn run --help` adds after the options: where snapshots go, the exit codes.
const RUN_HELP: &str = "\
Snapshots:
  specs/PATH.yaml is compared with snapshots/specs@PATH.yaml.snap (`/` in PATH as `__`), insta's
  format. A new or changed transcript is written beside it as .snap.new (review with
  `cargo insta review`), or over it with --accept.

Exit codes:
  0  every spec matches its snapshot
  1  a transcript differs, a step or expectation failed, or a snapshot is new
  2  a spec could not be read (printed as path:line:col: message)
  3  the target could not be reached";

/// The folder (under `specs/`) of specs for servers nobody here wrote (Nchan, Python, Node),
/// replayed with `--target` by `tests/thirdparty.rs`.
pub const THIRD_PARTY_FOLDER: &str = "thirdparty";

/// Arguments of `longconn run`.
#[derive(Debug, clap::Args)]
#[command(after_help = RUN_HELP)]
pub struct RunArgs {
    /// Spec files or folders (default: every `specs/**/*.yaml`).
    pub paths: Vec<PathBuf>,
    /// Replay against this server instead of an embedded one: http, https, ws or wss, a port
    /// or the scheme's default, an optional path prefix (http://127.0.0.1:3002/app). Repeat as
    /// NAME=URL to give each server a spec names a URL of its own.
    #[arg(long, value_name = "[NAME=]URL")]
    pub target: Vec<String>,
    /// Also trust the CA certificates of this PEM file for https and wss targets, beside the
    /// machine's roots.
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// Do not verify https and wss targets' certificates (the transcript notes it).
    #[arg(long)]
    pub insecure: bool,
    /// A value for `${NAME}` in the specs' strings (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// How many specs replay at once (default: 4 on embedded servers, 1 against --target, whose
    /// state the specs share).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Run the embedded servers as nodes on this Redis (redis://HOST:PORT[/DB]), as
    /// `longconn serve --hub` does, instead of on one in-process hub; each replay keeps its keys
    /// under a prefix of its own and deletes them after.
    #[arg(long, value_name = "URL")]
    pub hub: Option<String>,
    /// Write transcripts that differ as the new snapshots.
    #[arg(long)]
    pub accept: bool,
    /// Colour the verdicts and snapshot diffs: `auto` on a terminal unless NO_COLOR is set.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Also write a report: `junit=FILE` (JUnit XML) or `html=DIR` (a static site); repeatable.
    #[arg(long)]
    pub report: Vec<String>,
}

/// Exit codes of `longconn run` (see `CONTRACT.md`).
pub mod exit {
    /// Every spec matches its snapshot.
    pub const OK: u8 = 0;
    /// A transcript differs, a step or an expectation failed, or a snapshot is new.
    pub const FAILED: u8 = 1;
    /// A spec could not be read.
    pub const UNREADABLE: u8 = 2;
    /// The target could not be reached.
    pub const UNREACHABLE: u8 = 3;
}

/// Runs `longconn run`; returns the exit code.
pub async fn run(args: RunArgs) -> u8 {
    let started = Instant::now();
    let palette = args.color.palette();
    let mut vars = Vec::new();
    for pair in &args.vars {
        match pair.split_once('=') {
            Some((name, value))
                if !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
            {
                vars.push((name.to_string(), value.to_string()))
            }
            _ => {
                eprintln!("longconn run: --var {pair}: expected NAME=VALUE (NAME: letters, digits, _ and -)");
                return exit::UNREADABLE;
            }
        }
    }
    let target_given = (!args.target.is_empty()).then_some(&args.target);
    let target = match (target_given, &args.hub) {
        (None, None) => Target::Embedded,
        (None, Some(url)) if url.starts_with("redis://") => Target::EmbeddedOnRedis(url.clone()),
        (None, Some(url)) => {
            eprintln!("longconn run: --hub {url}: expected redis://HOST:PORT[/DB]");
            return exit::UNREADABLE;
        }
        (Some(_), Some(_)) => {
            eprintln!("longconn run: --hub places the embedded servers on Redis; it cannot go with --target");
            return exit::UNREADABLE;
        }
        (Some(urls), None) => match Target::parse_all(urls) {
            Ok(target) => target,
            Err(error) => {
                eprintln!("longconn run: {error}");
                return exit::UNREADABLE;
            }
        },
    };
    // TLS settings are made once for the run, and only when a target needs them or they are
    // asked for.
    let wants_tls = match &target {
        Target::Remote(remote) => remote.urls().any(|url| url.tls),
        _ => false,
    };
    let tls = match Tls::when_needed(wants_tls, args.cacert.as_deref(), args.insecure) {
        Ok(tls) => tls,
        Err(error) => {
            eprintln!("longconn run: {error}");
            return exit::UNREADABLE;
        }
    };
    let options = Options {
        vars,
        tls,
        ..Options::default()
    };
    let reports: Result<Vec<Report>, String> =
        args.report.iter().map(|r| parse_report(r)).collect();
    let reports = match reports {
        Ok(reports) => reports,
        Err(message) => {
            eprintln!("longconn run: {message}");
            return exit::UNREADABLE;
        }
    };
    // Snapshots are found from the project root (the nearest folder with `specs/`), whatever
    // folder the command runs in: paths are made relative to that root and the run moves there.
    let cwd = std::env::current_dir().unwrap_or_default();
    let root = project_root(&cwd);
    // Report paths stay relative to the folder the command ran in.
    let reports: Vec<Report> = reports.into_iter().map(|r| r.below(&cwd)).collect();
    let roots = match (&root, args.paths.is_empty()) {
        (None, true) => {
            eprintln!(
                "longconn run: no specs/ folder in {} or any folder above it: write a spec in \
                 specs/NAME.yaml (its schema: `longconn schema`), or give a spec file or folder",
                cwd.display()
            );
            return exit::UNREADABLE;
        }
        (Some(_), true) => vec![PathBuf::from("specs")],
        (root, false) => args
            .paths
            .iter()
            .map(|path| from_root(root.as_deref(), &cwd.join(path)))
            .collect(),
    };
    if let Some(root) = &root {
        if let Err(error) = std::env::set_current_dir(root) {
            eprintln!("longconn run: cannot enter {}: {error}", root.display());
            return exit::UNREADABLE;
        }
    }
    let mut files = Vec::new();
    for root in &roots {
        if let Err(error) = collect(root, &mut files) {
            eprintln!("{}: {error}", root.display());
            return exit::UNREADABLE;
        }
    }
    files.sort();
    files.dedup();
    if files.is_empty() {
        eprintln!("longconn run: no specs (*.yaml) found");
        return exit::UNREADABLE;
    }

    // Load every spec first: an unreadable spec is reported before anything runs.
    let everything = args.paths.is_empty();
    let mut slots: Vec<Slot> = files
        .iter()
        .map(|path| load_slot(path, &target, everything))
        .collect();

    if let Target::EmbeddedOnRedis(url) = &target {
        if let Err(error) = redis_reachable(url).await {
            eprintln!("longconn run: --hub {url} could not be reached: {error}");
            return exit::UNREACHABLE;
        }
    }
    if let Target::Remote(remote) = &target {
        let wants_target = slots.iter().any(|slot| matches!(slot, Slot::Ready(_)));
        if wants_target {
            for url in remote.urls() {
                let authority = url.authority();
                if let Err(error) = reachable(&authority).await {
                    eprintln!("longconn run: target {authority} could not be reached: {error}");
                    return exit::UNREACHABLE;
                }
            }
        }
    }

    let jobs = match (args.jobs, target.is_embedded()) {
        (Some(jobs), _) => jobs.max(1),
        (None, true) => PARALLEL,
        (None, false) => 1,
    };
    let recordings = replay_all(&mut slots, &target, &options, jobs).await;

    let mut cases = Vec::new();
    let mut unreachable = false;
    let mut counts = Counts::default();
    let mut transcripts = HashMap::new();
    for (slot, recording) in slots.iter().zip(recordings) {
        let case = match (slot, recording) {
            (Slot::Skipped { path, reason }, _) => {
                println!(
                    "{} {} ({reason})",
                    palette.paint(Paint::Note, "skipped"),
                    path.display()
                );
                counts.skipped += 1;
                Case {
                    name: path.display().to_string(),
                    time: Duration::ZERO,
                    verdict: Verdict::Skipped {
                        reason: reason.clone(),
                    },
                }
            }
            (Slot::Unreadable { path, message }, _) => {
                println!(
                    "{}   {}",
                    palette.paint(Paint::Bad, "error"),
                    path.display()
                );
                eprintln!("{message}");
                counts.unreadable += 1;
                Case {
                    name: path.display().to_string(),
                    time: Duration::ZERO,
                    verdict: Verdict::Unreadable {
                        message: message.clone(),
                    },
                }
            }
            (Slot::Ready(spec), Some((recording, time))) => {
                unreachable |= matches!(&recording.result, Err(error) if error.is_unreachable());
                transcripts.insert(spec.path.clone(), recording.transcript.to_string());
                // A spec the embedded server also replays keeps its pending snapshot for the
                // embedded run: a live server's transcript goes beside it, never over it.
                let live = !target.is_embedded() && !needs_target(Path::new(&spec.path));
                let verdict = judge(spec, recording, args.accept, live, palette, &mut counts);
                Case {
                    name: spec.path.clone(),
                    time,
                    verdict,
                }
            }
            (Slot::Ready(spec), None) => {
                counts.failed += 1;
                println!(
                    "{}  {}: the replay did not finish",
                    palette.paint(Paint::Bad, "FAILED"),
                    spec.path
                );
                Case {
                    name: spec.path.clone(),
                    time: Duration::ZERO,
                    verdict: Verdict::Failed {
                        message: "the replay did not finish".into(),
                        detail: String::new(),
                    },
                }
            }
        };
        cases.push(case);
    }

    write_reports(&reports, &cases, &transcripts);
    println!(
        "{} ({:.2}s)",
        counts.summary(),
        started.elapsed().as_secs_f64()
    );
    if unreachable {
        exit::UNREACHABLE
    } else if counts.unreadable > 0 {
        exit::UNREADABLE
    } else if counts.failed > 0 || counts.new > 0 {
        exit::FAILED
    } else {
        exit::OK
    }
}

/// A spec as found: ready to run, unreadable, or skipped.
enum Slot {
    Ready(Arc<Spec>),
    Unreadable { path: PathBuf, message: String },
    Skipped { path: PathBuf, reason: String },
}

/// `everything`: no PATH was given, so specs for other servers (`specs/thirdparty/`) are listed,
/// not replayed against this target.
fn load_slot(path: &Path, target: &Target, everything: bool) -> Slot {
    if everything && !target.is_embedded() && in_folder(path, THIRD_PARTY_FOLDER) {
        return Slot::Skipped {
            path: path.to_path_buf(),
            reason: format!(
                "written for a third-party server: give specs/{THIRD_PARTY_FOLDER}/SERVER as PATH"
            ),
        };
    }
    if everything && !target.is_embedded() && in_folder(path, NEEDS_TARGET_FOLDER) {
        return Slot::Skipped {
            path: path.to_path_buf(),
            reason: format!(
                "written for the seed's Node servers: give specs/{NEEDS_TARGET_FOLDER} as PATH"
            ),
        };
    }
    if target.is_embedded() && needs_target(path) {
        let reason = if in_folder(path, THIRD_PARTY_FOLDER) {
            format!("needs --target: specs/{THIRD_PARTY_FOLDER}/ replays against third-party servers (tests/thirdparty.rs)")
        } else {
            format!("needs --target: specs/{NEEDS_TARGET_FOLDER}/ replays against the seed's Node servers")
        };
        return Slot::Skipped {
            path: path.to_path_buf(),
            reason,
        };
    }
    let spec = match spec::load(path) {
        Ok(spec) => spec,
        Err(error) => {
            return Slot::Unreadable {
                path: path.to_path_buf(),
                message: error.to_string(),
            }
        }
    };
    if !target.is_embedded() {
        // A running server has its own clock and options: a spec that needs either is listed
        // with the reason, never replayed to a certain failure.
        if let Some(reason) = &spec.embedded_only {
            return Slot::Skipped {
                path: path.to_path_buf(),
                reason: format!("embedded only: {reason}"),
            };
        }
        if let Some(step) = spec.first_tick() {
            return Slot::Skipped {
                path: path.to_path_buf(),
                reason: format!(
                    "needs the embedded server's manual clock: tick at line {}",
                    step.line
                ),
            };
        }
        let options = server_options(&spec.server);
        if !options.is_empty() {
            return Slot::Skipped {
                path: path.to_path_buf(),
                reason: format!("needs server options: {}", options.join(", ")),
            };
        }
    }
    Slot::Ready(Arc::new(spec))
}

/// The `server:` options a spec sets, as `name=value` (a key as `name` only: its value is a
/// secret). The destructuring names every field, so a new option cannot be forgotten here.
fn server_options(options: &spec::ServerOptions) -> Vec<String> {
    let spec::ServerOptions {
        interval,
        max_message_bytes,
        allow_origin,
        heartbeat,
        send_timeout,
        log_capacity,
        subscriber_queue,
        max_connections,
        publisher_jwt_key,
        subscriber_jwt_key,
        private,
        host,
        jsonp,
    } = options;
    let duration = |d: &Option<Duration>| d.map(crate::runner::transcript::format_duration);
    let list = |l: &Vec<String>| (!l.is_empty()).then(|| l.join(" "));
    let secret = |k: &Option<String>| k.as_ref().map(|_| String::new());
    let number = |n: &Option<usize>| n.map(|n| n.to_string());
    let set = [
        ("interval", duration(interval)),
        ("max_message_bytes", number(max_message_bytes)),
        ("allow_origin", list(allow_origin)),
        ("heartbeat", duration(heartbeat)),
        ("send_timeout", duration(send_timeout)),
        ("log_capacity", number(log_capacity)),
        ("subscriber_queue", number(subscriber_queue)),
        ("max_connections", number(max_connections)),
        ("publisher_jwt_key", secret(publisher_jwt_key)),
        ("subscriber_jwt_key", secret(subscriber_jwt_key)),
        ("private", list(private)),
        ("host", list(host)),
        ("jsonp", jsonp.map(|on| on.to_string())),
    ];
    set.into_iter()
        .filter_map(|(name, value)| match value? {
            value if value.is_empty() => Some(name.to_string()),
            value => Some(format!("{name}={value}")),
        })
        .collect()
}

/// Whether `path` sits in `specs/seed/` (specs for the seed's servers, run with `--target`).
pub fn needs_target(path: &Path) -> bool {
    in_folder(path, NEEDS_TARGET_FOLDER) || in_folder(path, THIRD_PARTY_FOLDER)
}

fn in_folder(path: &Path, folder: &str) -> bool {
    let components: Vec<_> = path.components().map(|c| c.as_os_str()).collect();
    components
        .windows(2)
        .any(|pair| pair[0] == "specs" && pair[1] == folder)
}

/// Replays every ready spec, `jobs` at a time; results in the order of `slots`.
async fn replay_all(
    slots: &mut [Slot],
    target: &Target,
    options: &Options,
    jobs: usize,
) -> Vec<Option<(Recording, Duration)>> {
    type Results = Arc<Mutex<Vec<Option<(Recording, Duration)>>>>;
    let queue: Vec<(usize, Arc<Spec>)> = slots
        .iter()
        .enumerate()
        .filter_map(|(index, slot)| match slot {
            Slot::Ready(spec) => Some((index, spec.clone())),
            _ => None,
        })
        .collect();
    let queue = Arc::new(Mutex::new(queue.into_iter()));
    let results: Results = Arc::new(Mutex::new((0..slots.len()).map(|_| None).collect()));
    let mut workers = Vec::new();
    for _ in 0..jobs {
        let queue = queue.clone();
        let results = results.clone();
        let target = target.clone();
        let options = options.clone();
        workers.push(async_std::task::spawn(async move {
            loop {
                let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
                let Some((index, spec)) = next else { break };
                let started = Instant::now();
                let recording = record_with(&spec, &target, &options).await;
                let mut results = results.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(slot) = results.get_mut(index) {
                    *slot = Some((recording, started.elapsed()));
                }
            }
        }));
    }
    for worker in workers {
        worker.await;
    }
    let mut results = results.lock().unwrap_or_else(|e| e.into_inner());
    std::mem::take(&mut *results)
}

#[derive(Default)]
struct Counts {
    passed: usize,
    failed: usize,
    new: usize,
    accepted: usize,
    skipped: usize,
    unreadable: usize,
}

impl Counts {
    fn summary(&self) -> String {
        let mut parts = vec![
            format!("{} passed", self.passed),
            format!("{} failed", self.failed),
        ];
        for (count, label) in [
            (self.new, "new"),
            (self.accepted, "accepted"),
            (self.skipped, "skipped"),
            (self.unreadable, "unreadable"),
        ] {
            if count > 0 {
                parts.push(format!("{count} {label}"));
            }
        }
        parts.join(", ")
    }
}

/// Compares a replay with its snapshot, prints the verdict, writes `.snap`/`.snap.new` files.
fn judge(
    spec: &Spec,
    recording: Recording,
    accept: bool,
    live: bool,
    palette: Palette,
    counts: &mut Counts,
) -> Verdict {
    let failed = palette.paint(Paint::Bad, "FAILED");
    let location = snapshot::locate(Path::new(&spec.path));
    let transcript = recording.transcript.to_string();
    if let Err(error) = recording.result {
        counts.failed += 1;
        let message = error.to_string();
        println!("{failed}  {}", spec.path);
        println!("  {message}");
        let tail: Vec<String> = recording
            .transcript
            .lines()
            .iter()
            .rev()
            .take(8)
            .map(ToString::to_string)
            .collect();
        if !tail.is_empty() {
            println!("  transcript up to the failure (last lines):");
            for line in tail.iter().rev() {
                println!("    {line}");
            }
        }
        return Verdict::Failed {
            message,
            detail: transcript,
        };
    }
    let old = match snapshot::read(&location.path) {
        Ok(old) => old,
        Err(error) => {
            counts.failed += 1;
            let message = format!("cannot read {}: {error}", location.path.display());
            println!("{failed}  {}: {message}", spec.path);
            return Verdict::Failed {
                message,
                detail: String::new(),
            };
        }
    };
    let pending = if live {
        // Not `.snap.new`: `cargo insta review` must not offer a live server's values as the
        // embedded run's snapshot.
        location.path.with_extension("snap.target")
    } else {
        location.pending()
    };
    // Against a running server, what only it varies (`redact:` with `target: true`) is compared
    // redacted on both sides; the snapshot keeps the embedded server's values.
    let compared = |text: &str| {
        if live {
            super::transcript::redact_text(text, &spec.target_redact)
        } else {
            text.to_string()
        }
    };
    let same = |old: &str| snapshot::matches(&compared(old), &compared(&transcript));
    match old {
        Some(old) if same(&old) => {
            // As insta does for a passing assertion: a stale pending file goes.
            let _ = std::fs::remove_file(&pending);
            counts.passed += 1;
            println!("{}      {}", palette.paint(Paint::Good, "ok"), spec.path);
            Verdict::Passed
        }
        old => {
            let is_new = old.is_none();
            let diff = snapshot::diff(
                &compared(old.as_deref().unwrap_or("")),
                &compared(&transcript),
            );
            let written = if accept {
                snapshot::write(&location.path, &location, &transcript).map(|()| {
                    let _ = std::fs::remove_file(location.pending());
                    let _ = std::fs::remove_file(location.path.with_extension("snap.target"));
                    location.path.clone()
                })
            } else {
                snapshot::write(&pending, &location, &transcript).map(|()| pending.clone())
            };
            let written = match written {
                Ok(path) => path,
                Err(error) => {
                    counts.failed += 1;
                    let message = format!("cannot write a snapshot: {error}");
                    println!("{failed}  {}: {message}", spec.path);
                    return Verdict::Failed {
                        message,
                        detail: String::new(),
                    };
                }
            };
            if accept {
                counts.accepted += 1;
                let what = if is_new { "new" } else { "changed" };
                println!(
                    "{}  {} ({what}: wrote {})",
                    palette.paint(Paint::Good, "accept"),
                    spec.path,
                    written.display()
                );
                return Verdict::Passed;
            }
            if is_new {
                counts.new += 1;
                println!(
                    "{}     {}: no snapshot yet; wrote {} (review with `cargo insta review` or rerun with --accept)",
                    palette.paint(Paint::Note, "new"),
                    spec.path,
                    written.display()
                );
                return Verdict::Failed {
                    message: format!("no snapshot yet ({} written)", written.display()),
                    detail: transcript,
                };
            }
            counts.failed += 1;
            println!(
                "{failed}  {}: transcript differs from {} (new version in {})",
                spec.path,
                location.path.display(),
                written.display()
            );
            for line in diff.lines() {
                println!("  {}", palette.diff_line(line));
            }
            Verdict::Failed {
                message: format!("transcript differs from {}", location.path.display()),
                detail: diff,
            }
        }
    }
}

/// A `--report` to write.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Report {
    /// `junit=FILE`.
    Junit(PathBuf),
    /// `html=DIR`.
    Html(PathBuf),
}

impl Report {
    /// The same report with its path taken from `folder` when relative.
    fn below(self, folder: &Path) -> Report {
        match self {
            Report::Junit(path) => Report::Junit(folder.join(path)),
            Report::Html(dir) => Report::Html(folder.join(dir)),
        }
    }
}

/// `junit=FILE` or `html=DIR`.
fn parse_report(value: &str) -> Result<Report, String> {
    match value.split_once('=') {
        Some(("junit", path)) if !path.is_empty() => Ok(Report::Junit(PathBuf::from(path))),
        Some(("html", dir)) if !dir.is_empty() => Ok(Report::Html(PathBuf::from(dir))),
        _ => Err(format!("--report {value}: expected junit=FILE or html=DIR")),
    }
}

/// Writes every report; one that cannot be written is said on stderr and does not change the
/// exit code (the run itself is what the code reports).
fn write_reports(reports: &[Report], cases: &[Case], transcripts: &HashMap<String, String>) {
    for report in reports {
        let written = match report {
            Report::Junit(path) => std::fs::write(path, report::junit(cases))
                .map_err(|error| format!("cannot write {}: {error}", path.display())),
            Report::Html(dir) => html::write(dir, cases, transcripts).map_err(|e| e.to_string()),
        };
        if let Err(message) = written {
            eprintln!("longconn run: {message}");
        }
    }
}

/// The nearest of `folder` and its parents that holds a `specs/` folder.
pub fn project_root(folder: &Path) -> Option<PathBuf> {
    folder
        .ancestors()
        .find(|candidate| candidate.join("specs").is_dir())
        .map(Path::to_path_buf)
}

/// `path` relative to `root` when it lies below it (so that its snapshot is found under the
/// root's `snapshots/`); as given otherwise.
fn from_root(root: Option<&Path>, path: &Path) -> PathBuf {
    let absolute = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    match root.and_then(|root| root.canonicalize().ok()) {
        Some(root) => absolute
            .strip_prefix(&root)
            .map(Path::to_path_buf)
            .unwrap_or(absolute),
        None => absolute,
    }
}

/// Every `*.yaml`/`*.yml` under `path` but `*.draft.yaml` (or `path` itself when it is a file).
fn collect(path: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let metadata = std::fs::metadata(path)?;
    if metadata.is_file() {
        files.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .collect();
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            collect(&entry, files)?;
        } else if entry
            .extension()
            .is_some_and(|ext| ext == "yaml" || ext == "yml")
            // `longconn record` writes a spec that did not replay the same twice as a draft.
            && !entry.to_string_lossy().ends_with(".draft.yaml")
        {
            files.push(entry);
        }
    }
    Ok(())
}

/// Whether something listens at `authority`.
async fn reachable(authority: &str) -> std::io::Result<()> {
    let connect = async_std::net::TcpStream::connect(authority);
    match async_std::future::timeout(Duration::from_secs(5), connect).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) => Err(error),
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "no answer within 5s",
        )),
    }
}

/// Reaches the Redis of `--hub` once, as a node would, writing nothing (a prefix no replay uses).
async fn redis_reachable(url: &str) -> Result<(), crate::hub::RedisError> {
    let redis = RedisConfig {
        prefix: "longconn-run-probe".to_owned(),
        ..RedisConfig::new(url)
    };
    Hub::with_redis(HubConfig::default(), redis)
        .await?
        .shutdown();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_server_option_is_named_and_keys_are_not_shown() {
        let options = spec::ServerOptions {
            max_message_bytes: Some(16),
            publisher_jwt_key: Some("secret".into()),
            private: vec!["a.*".into()],
            jsonp: Some(false),
            heartbeat: Some(Duration::from_millis(250)),
            ..Default::default()
        };
        assert_eq!(
            server_options(&options),
            [
                "max_message_bytes=16",
                "heartbeat=250ms",
                "publisher_jwt_key",
                "private=a.*",
                "jsonp=false"
            ]
        );
    }

    #[test]
    fn seed_specs_need_a_target() {
        assert!(needs_target(Path::new("specs/seed/seed_ws_echo.yaml")));
        assert!(!needs_target(Path::new("specs/sse_first_bytes.yaml")));
        assert!(needs_target(Path::new("specs/thirdparty/nchan/x.yaml")));
    }

    #[test]
    fn the_project_root_is_found_from_any_folder_below_it() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        assert_eq!(
            project_root(&root.join("specs/hostile")).as_deref(),
            Some(root)
        );
        assert_eq!(
            from_root(
                Some(root),
                &root.join("specs/hostile/../sse_first_bytes.yaml")
            ),
            Path::new("specs/sse_first_bytes.yaml")
        );
        assert_eq!(project_root(Path::new("/")), None);
    }

    #[test]
    fn report_option_names_junit() {
        assert_eq!(
            parse_report("junit=out.xml"),
            Ok(Report::Junit(PathBuf::from("out.xml")))
        );
        assert_eq!(
            parse_report("html=out"),
            Ok(Report::Html(PathBuf::from("out")))
        );
        assert!(parse_report("html=").is_err());
        assert!(parse_report("pdf=out.pdf").is_err());
    }
}
