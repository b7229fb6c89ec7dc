//! Chrome trace-event JSON of a run (what `Harness::trace_to` writes).

use std::fmt::Write as _;

use green::hooks::TimelineEvent;

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o
}

fn us(ns: u64) -> String {
    format!("{}.{:03}", ns / 1000, ns % 1000)
}

/// The greenthread a fault line names (`by #3`), or 0.
fn gt_of(line: &str) -> u64 {
    line.rsplit(" by #").next().and_then(|t| t.split_whitespace().next()).and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// Builds the JSON: one track (tid) per greenthread, slices as complete events, timers, faults
/// and blocking reports as instant events. Times are microseconds since `origin` (hub ns).
pub(crate) fn chrome_json(
    timeline: &[TimelineEvent],
    faults: &[String],
    fault_times: &[u64],
    blocking: &[String],
    origin: u64,
) -> String {
    let mut ev: Vec<String> = Vec::new();
    let mut named = std::collections::BTreeMap::new();
    let mut end = 0;
    for e in timeline {
        match e {
            TimelineEvent::Slice { gt, name, start, end: stop, parked_in } => {
                named.entry(*gt).or_insert_with(|| name.clone());
                end = end.max(*stop);
                let what = parked_in.map_or("finished".to_string(), |p| format!("parked in {p}"));
                ev.push(format!(
                    r#"{{"name":"run","cat":"slice","ph":"X","pid":1,"tid":{gt},"ts":{},"dur":{},"args":{{"then":"{}"}}}}"#,
                    us(start.saturating_sub(origin)),
                    us(stop.saturating_sub(*start)),
                    esc(&what)
                ));
            }
            TimelineEvent::Timer { seq, at, what } => {
                end = end.max(*at);
                ev.push(format!(
                    r#"{{"name":"timer t{seq} ({})","cat":"timer","ph":"i","s":"g","pid":1,"tid":0,"ts":{}}}"#,
                    esc(what),
                    us(at.saturating_sub(origin))
                ));
            }
            _ => {}
        }
    }
    for (line, at) in faults.iter().zip(fault_times) {
        ev.push(format!(
            r#"{{"name":"{}","cat":"fault","ph":"i","s":"t","pid":1,"tid":{},"ts":{}}}"#,
            esc(line),
            gt_of(line),
            us(at.saturating_sub(origin))
        ));
    }
    for b in blocking {
        let gt = b
            .strip_prefix("BLOCKING greenthread=#")
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse::<u64>().ok());
        ev.push(format!(
            r#"{{"name":"{}","cat":"blocking","ph":"i","s":"t","pid":1,"tid":{},"ts":{}}}"#,
            esc(b.lines().next().unwrap_or("")),
            gt.unwrap_or(0),
            us(end.saturating_sub(origin))
        ));
    }
    named.entry(0).or_insert_with(|| "#0 root".to_string());
    for (gt, name) in named {
        ev.push(format!(r#"{{"name":"thread_name","ph":"M","pid":1,"tid":{gt},"args":{{"name":"{}"}}}}"#, esc(&name)));
    }
    format!("{{\"traceEvents\":[\n{}\n],\"displayTimeUnit\":\"ms\"}}\n", ev.join(",\n"))
}
